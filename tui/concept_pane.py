"""Concept view: the ``skos:broader`` hierarchy as a tree of labels, with notations and the counts
of classes and filters under each concept; enter on a filter opens it, f lists a concept's filters
in the model browser, escape from the filter view comes back to the same node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from kgfilters.errors import KgfError
from kgfilters.tui.concept_tree import ConceptForest, concept_label, load_forest
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.messages import FilterChosen

__all__ = ["ConceptPane", "SearchConcept"]

Data = tuple[object, ...]


@dataclass
class SearchConcept(Message):
    """Show the filters under a concept in the model browser (a search for its label)."""

    label: str


class ConceptPane(Vertical):
    """The forest of ``load_forest``: single-child chains from the roots open by themselves;
    a concept's children, classes and filters are added when it is first expanded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "show_filters", "Filters in browser"),
    ]

    @dataclass
    class Loaded(Message):
        forest: ConceptForest | None
        error: str | None = None

    def __init__(self, graph: GraphView | None, *, autoload: bool = True, **kw: object) -> None:
        """``autoload``: read the concept tree (in a worker) after this view's first refresh;
        without it, when ``start_loading`` is called (the app: once the run's tags are read)."""
        super().__init__(**kw)  # type: ignore[arg-type]
        self.graph = graph
        self.autoload = autoload
        self.forest: ConceptForest | None = None
        self.loading_started = False

    def compose(self) -> ComposeResult:
        yield Static("", id="concept-status", classes="empty")
        yield Tree("concepts", id="concept-tree")

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        tree.show_root = False
        if self.graph is None:
            self.set_status("No knowledge graph in this run yet (graph/): build it to browse concepts.")
            tree.display = False
            return
        self.set_status("loading concepts…")
        if self.autoload:
            self.call_after_refresh(self.start_loading)

    def start_loading(self) -> None:
        """Start loading the concept tree (once)."""
        if self.graph is not None and self.forest is None and not self.loading_started:
            self.loading_started = True
            self.load()

    def set_status(self, text: str) -> None:
        s = self.query_one("#concept-status", Static)
        s.update(text)
        s.display = bool(text)

    @work(thread=True, exclusive=True, group="concepts")
    def load(self) -> None:
        graph = self.graph
        if graph is None:
            return
        try:
            self.post_message(self.Loaded(load_forest(graph)))
        except KgfError as exc:
            self.post_message(self.Loaded(None, str(exc)))

    def on_concept_pane_loaded(self, msg: Loaded) -> None:
        if msg.error or msg.forest is None:
            self.set_status(f"[red]{escape(msg.error or 'no concepts')}[/red]")
            return
        self.forest = msg.forest
        if not msg.forest.roots:
            self.set_status("The graph has no concepts yet: run `kgfilters concepts` and `kgfilters coarsen`.")
            return
        self.set_status("[dim]enter opens a filter · f lists a concept's filters in the browser · "
                        "counts include every concept below[/dim]")
        tree = self.query_one(Tree)
        tree.clear()
        for iri in msg.forest.roots:
            self._add_concept(tree.root, iri, open_chain=True)

    def _add_concept(self, parent: TreeNode[Data], iri: str, *, open_chain: bool = False) -> TreeNode[Data]:
        assert self.forest is not None
        info = self.forest.concepts[iri]
        node = parent.add(concept_label(info), data=("concept", iri),
                          allow_expand=bool(info.children or info.classes or info.filters))
        if open_chain:  # open roots, and chains of one child down to the first branching
            self._fill(node)
            node.expand()
            self._open_chain(node)
        return node

    def _open_chain(self, node: TreeNode[Data]) -> None:
        assert self.forest is not None
        info = self.forest.concepts[str(node.data[1])]  # type: ignore[index]
        while len(info.children) == 1 and not info.filters:
            node = node.children[0]
            self._fill(node)
            node.expand()
            info = self.forest.concepts[str(node.data[1])]  # type: ignore[index]

    def _fill(self, node: TreeNode[Data]) -> None:
        """Add a concept node's children, classes and filters (once)."""
        if node.children or not node.data or node.data[0] != "concept" or self.forest is None:
            return
        info = self.forest.concepts[str(node.data[1])]
        for c in info.children:
            self._add_concept(node, c)
        if info.classes:
            node.add_leaf(f"[i]classes[/i]: {escape(', '.join(info.classes))}", data=("classes",))
        for layer, index in info.filters:
            node.add_leaf(f"filter [b]{escape(layer)}:{index}[/b]", data=("filter", layer, index))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Data]) -> None:
        self._fill(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Data]) -> None:
        data = event.node.data
        if data and data[0] == "filter":
            event.stop()
            self.post_message(FilterChosen(str(data[1]), int(data[2])))  # type: ignore[call-overload]

    def node_concept(self) -> str | None:
        """The concept at the tree's cursor (a filter or class row: its concept)."""
        node = self.query_one(Tree).cursor_node
        while node is not None and not (node.data and node.data[0] == "concept"):
            node = node.parent
        return None if node is None or node.data is None else str(node.data[1])

    def action_show_filters(self) -> None:
        iri = self.node_concept()
        if iri is not None and self.forest is not None:
            self.post_message(SearchConcept(self.forest.concepts[iri].label))

    def select_concept(self, iri: str) -> bool:
        """Open the tree down to the first node of ``iri`` and put the cursor on it."""
        if self.forest is None or iri not in self.forest.concepts:
            return False
        path = [iri]
        while self.forest.concepts[path[-1]].parents:
            path.append(self.forest.concepts[path[-1]].parents[0])
        node: TreeNode[Data] = self.query_one(Tree).root
        for c in reversed(path):
            self._fill(node)
            nxt = next((n for n in node.children if n.data == ("concept", c)), None)
            if nxt is None:
                return False
            node = nxt
            node.expand()
        tree = self.query_one(Tree)
        tree.move_cursor(node)
        tree.focus()
        return True
