"""Model browser: a tree of layers and their filters, a search box and a sort order.

Built to stay quick on VGG-sized models (4,224 filters): a layer with more shown filters than
``EXPAND_UP_TO`` starts collapsed and gets its filter nodes only when expanded; the tree is not
re-created when a key leaves the shown filters unchanged; the graph's concept search runs
``CONCEPT_DELAY_S`` after the last key, and not at all when a shorter search already matched no
concept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from kgfilters.errors import KgfError
from kgfilters.stages import STAGES
from kgfilters.tui.concept_tree import load_forest
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.messages import FilterChosen
from kgfilters.tui.runview import SORTS, FilterRow, RunView

__all__ = ["BROWSER_HEADER", "CONCEPT_DELAY_S", "EXPAND_UP_TO", "BrowserPane", "filter_label", "layer_label"]

log = logging.getLogger(__name__)

#: Layers showing more filters than this start collapsed (their filter nodes are added on expand).
EXPAND_UP_TO = 128
#: Seconds after the last key in the search box before the graph is asked for concept names.
CONCEPT_DELAY_S = 0.2

#: The header over the tree: what each column of a filter row is.
BROWSER_HEADER = ("[b]layer / #filter[/b]  [b]act[/b] = mean response over classes (mean z_c, FILTAG 2.1)  "
                  "[b]tags[/b], best first")

#: What the tree shows: per layer, its name, the shown filter indices in order ("all by SORT" for a
#: collapsed layer whose rows are not computed yet) and whether it is open.
Shown = tuple[tuple[str, tuple[int, ...] | str, bool], ...]


def layer_label(name: str, filters: int, share: float, shown: int) -> str:
    """``conv2  64 filters · 78% tagged`` (with the match count while searching)."""
    extra = f" · {shown} shown" if shown != filters else ""
    return f"[b]{name}[/b]  {filters} filters · {share:.0%} tagged{extra}"


def filter_label(r: FilterRow, *, tags: int = 3) -> str:
    """``#13  act 0.412  Trouser, Bag`` (activity as stored, 3 decimals)."""
    act = "act   -  " if r.activity is None else f"act {r.activity:.3f}"
    names = ", ".join(r.top_tags[:tags]) + (f" +{len(r.top_tags) - tags}" if len(r.top_tags) > tags else "")
    return f"#{r.index:<4d} {act}  {names or '[dim]untagged[/dim]'}"


class BrowserPane(Vertical):
    """Layers (filter count, share tagged) and filters (index, top tags, mean activity)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        Binding("s", "cycle_sort", "Sort"),
    ]

    sort: reactive[str] = reactive("index")
    query: reactive[str] = reactive("")

    @dataclass
    class ConceptHits(Message):
        query: str
        hits: dict[tuple[str, int], tuple[str, ...]]

    def __init__(self, view: RunView, graph: GraphView | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.view = view
        self.graph = graph
        self.concepts: dict[tuple[str, int], tuple[str, ...]] = {}
        self._rows: dict[str, tuple[FilterRow, ...]] = {}  # shown filters per layer
        self._layer_nodes: dict[str, TreeNode[tuple[object, ...]]] = {}  # the tree's layer nodes
        self._shown: Shown | None = None  # what the tree shows; None: re-create it
        self._open: dict[str, bool] = {}  # layers the user expanded / collapsed (this search)
        self._no_concepts: set[str] = set()  # searches (lower case) that matched no concept

    def compose(self) -> ComposeResult:
        with Horizontal(id="browser-bar"):
            yield Input(placeholder="search: class, tag, concept label or notation, or a filter index",
                        id="browser-search")
            yield Static("", id="browser-sort")
        yield Static(BROWSER_HEADER, id="browser-header")
        yield Tree("layers", id="browser-tree")
        yield Static("", id="browser-empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False
        self.rebuild()

    def watch_sort(self) -> None:
        if self.is_mounted:
            self.rebuild()

    def watch_query(self, query: str) -> None:
        if not self.is_mounted:
            return
        self.concepts = {}
        self._open.clear()
        self.rebuild()
        if self.graph is not None and query.strip():
            self.search_concepts(query.strip())

    @work(exclusive=True, group="concept-search")
    async def search_concepts(self, query: str) -> None:
        """Ask the graph which filters have a concept matching ``query``, ``CONCEPT_DELAY_S`` after
        the last key (a newer key cancels this worker while it waits). Matching is substring
        containment, so when a substring of ``query`` matched nothing, neither does ``query``."""
        graph, q = self.graph, query.lower()
        if graph is None or q.isdigit() or any(e in q for e in self._no_concepts):
            return
        await asyncio.sleep(CONCEPT_DELAY_S)
        try:
            hits = await asyncio.to_thread(self.concept_hits, graph, query)
        except KgfError as exc:
            log.warning("concept search %r failed: %s", query, exc)
            return
        if not hits:
            self._no_concepts.add(q)
        self.post_message(self.ConceptHits(query, hits))

    def concept_hits(self, graph: GraphView, query: str) -> dict[tuple[str, int], tuple[str, ...]]:
        """Filters under the concepts whose label or notation contains ``query``, each with those
        concepts' labels: filters whose coarse concept lies under one, and filters tagged with a
        class that denotes a concept under one (worker thread)."""
        filters, classes = load_forest(graph).search(query)
        hits = {k: list(v) for k, v in filters.items()}
        for t in self.view.tags.tags if self.view.tags is not None and classes else ():
            for label in classes.get(t.label, ()):
                if label not in hits.setdefault((t.layer, t.filter), []):
                    hits[(t.layer, t.filter)].append(label)
        return {k: tuple(v) for k, v in hits.items()}

    def on_browser_pane_concept_hits(self, msg: ConceptHits) -> None:
        if msg.query == self.query.strip() and msg.hits:
            self.concepts = msg.hits
            self.rebuild()

    def rebuild(self) -> None:
        """Show the layers and the filters matching the search, in the sort order; the tree is
        re-created only when what it shows changes."""
        tree = self.query_one(Tree)
        self.query_one("#browser-sort", Static).update(f"sort: [b]{self.sort}[/b] (s)")
        layers = self.view.layers()
        self._notes(bool(layers))
        searching = bool(self.query.strip())
        # a layer that starts collapsed without a search gets its rows when opened (VGG16: 3,840
        # of 4,224 filters are in such layers); it stands in ``shown`` for all filters in the sort order
        self._rows = {layer.name: self.view.filters(layer.name, query=self.query, sort=self.sort,
                                                    concepts=self.concepts)
                      for layer in layers if searching or self._open.get(layer.name, layer.filters <= EXPAND_UP_TO)}
        shown: Shown = tuple(
            (layer.name, tuple(r.index for r in self._rows[layer.name]) if layer.name in self._rows
             else f"all by {self.sort}",
             self._open.get(layer.name, (len(self._rows[layer.name]) if searching else layer.filters) <= EXPAND_UP_TO))
            for layer in layers)
        if shown == self._shown:
            return
        self._shown = shown
        tree.clear()
        self._layer_nodes = {}
        for layer, (_, _, expand) in zip(layers, shown, strict=True):
            count = len(self._rows[layer.name]) if layer.name in self._rows else layer.filters
            node = tree.root.add(layer_label(layer.name, layer.filters, layer.share_tagged, count),
                                 data=("layer", layer.name), expand=expand)
            self._layer_nodes[layer.name] = node
            if expand:
                self._fill(node)

    def _layer_rows(self, layer: str) -> tuple[FilterRow, ...]:
        """The shown filters of ``layer`` (computed on first need)."""
        if layer not in self._rows:
            self._rows[layer] = self.view.filters(layer, query=self.query, sort=self.sort, concepts=self.concepts)
        return self._rows[layer]

    def _notes(self, has_layers: bool) -> None:
        """What the run lacks, above the tree (nothing when it has everything)."""
        notes = []
        if not self.view.tags_ready:  # the app reads them in a worker after its first screen
            notes.append("Reading the run's tags…")
        else:
            if not has_layers:
                notes.append("This run has no layers to show: " + self.view.missing.get("model", "no model"))
            if self.view.tags is None:
                notes.append(f"No tags yet: run `{STAGES['tag'].command()}` (filters show untagged).")
        if self.view.stats_ready and self.view.stats is None:
            notes.append("No statistics yet: activity is unknown.")
        empty = self.query_one("#browser-empty", Static)
        empty.update("\n".join(notes))
        empty.display = bool(notes)

    def tags_loaded(self) -> None:
        """The tags arrived (after the first screen): show the layers and filters, and search
        again for what was typed meanwhile (concept hits include tagged classes)."""
        self._shown = None
        self.rebuild()
        tree = self.query_one(Tree)
        if tree.cursor_line < 0 and tree.last_line >= 0:  # the cursor of a tree that was empty
            tree.cursor_line = 0
        if self.graph is not None and self.query.strip():
            self._no_concepts.clear()
            self.search_concepts(self.query.strip())

    def refresh_activity(self) -> None:
        """The statistics arrived (after the first screen): put each shown filter's activity in
        its label, keeping the tree, its cursor and what is open (re-created when sorted by it)."""
        if self.sort == "activity":
            self._shown = None
            self.rebuild()
            return
        self._notes(bool(self.view.layer_sizes))
        self._rows = {name: self.view.filters(name, query=self.query, sort=self.sort, concepts=self.concepts)
                      for name in self._rows}
        for name, node in self._layer_nodes.items():
            rows = {r.index: r for r in self._rows.get(name, ())}
            for child in node.children:
                if child.data and (r := rows.get(int(child.data[2]))) is not None:  # type: ignore[call-overload]
                    child.set_label(filter_label(r))

    def _fill(self, node: TreeNode[tuple[object, ...]]) -> None:
        """Add a layer node's filter nodes (once)."""
        if node.children or not node.data:
            return
        for r in self._layer_rows(str(node.data[1])):
            node.add_leaf(filter_label(r), data=("filter", r.layer, r.index))

    def _layer_of(self, node: TreeNode[tuple[object, ...]]) -> str | None:
        """The layer of a layer node the tree shows now (None for filters and stale nodes)."""
        data = node.data
        if not data or data[0] != "layer" or self._layer_nodes.get(str(data[1])) is not node:
            return None
        return str(data[1])

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[tuple[object, ...]]) -> None:
        layer = self._layer_of(event.node)
        if layer is not None:
            self._open[layer] = True
            self._shown = None  # the tree now differs from the default; re-create it next time
            self._fill(event.node)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[tuple[object, ...]]) -> None:
        layer = self._layer_of(event.node)
        if layer is not None:
            self._open[layer] = False
            self._shown = None

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "browser-search":
            self.query = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "browser-search":
            self.query_one(Tree).focus()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        if data and data[0] == "filter":
            event.stop()
            self.post_message(FilterChosen(data[1], data[2]))

    def search_for(self, text: str) -> None:
        """Search for ``text`` (e.g. a concept's label) and put the cursor in the tree."""
        self.query_one("#browser-search", Input).value = text
        self.query_one(Tree).focus()

    def action_focus_search(self) -> None:
        self.query_one("#browser-search", Input).focus()

    def action_cycle_sort(self) -> None:
        keys = list(SORTS)
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
