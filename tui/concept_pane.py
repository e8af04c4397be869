"""Concept view: the coarsening hierarchy from the graph, concept -> classes -> filters."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from kgfilters.errors import KgfError
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.messages import FilterChosen

__all__ = ["ConceptPane"]


class ConceptPane(Vertical):
    """Coarse concepts as roots; expanding one loads its classes and filters in a worker."""

    @dataclass
    class Loaded(Message):
        node_id: int | None
        rows: list[dict[str, str]]
        filters: list[dict[str, str]] = field(default_factory=list)
        error: str | None = None

    def __init__(self, graph: GraphView | None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.graph = graph

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
        self.load(None, None)

    def set_status(self, text: str) -> None:
        s = self.query_one("#concept-status", Static)
        s.update(text)
        s.display = bool(text)

    @work(thread=True, exclusive=False, group="concepts")
    def load(self, node_id: int | None, concept: str | None) -> None:
        graph = self.graph
        if graph is None:
            return
        try:
            if concept is None:
                self.post_message(self.Loaded(None, graph.coarse_roots()))
            else:
                classes, filters = graph.concept_members(concept)
                self.post_message(self.Loaded(node_id, classes, filters))
        except KgfError as exc:
            self.post_message(self.Loaded(node_id, [], error=str(exc)))

    def on_concept_pane_loaded(self, msg: Loaded) -> None:
        tree = self.query_one(Tree)
        if msg.error:
            self.set_status(f"[red]{msg.error}[/red]")
            return
        if msg.node_id is None:
            if not msg.rows:
                self.set_status("The graph has no coarse concepts yet (kgf:coarseConcept): run coarsening.")
                return
            self.set_status("")
            for r in msg.rows:
                tree.root.add(f"{r['concept']}  ({r['filters']} filters)", data=("concept", r["concept"]))
            return
        node: TreeNode = tree.get_node_by_id(msg.node_id)  # type: ignore[arg-type]
        node.remove_children()
        cls = node.add("classes", expand=True)
        for r in msg.rows:
            cls.add_leaf(r["label"])
        fil = node.add("filters", expand=True)
        for r in msg.filters:
            fil.add_leaf(f"{r['name']}:{r['i']}", data=("filter", r["name"], int(r["i"])))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        data = event.node.data
        if data and data[0] == "concept" and not event.node.children:
            self.load(event.node.id, data[1])

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        if data and data[0] == "filter":
            event.stop()
            self.post_message(FilterChosen(data[1], data[2]))
