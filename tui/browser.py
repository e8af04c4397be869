"""Model browser: a tree of layers and their filters, a search box and a sort order."""

from __future__ import annotations

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

from kgfilters.errors import KgfError
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.messages import FilterChosen
from kgfilters.tui.runview import SORTS, FilterRow, RunView

__all__ = ["BrowserPane", "filter_label", "layer_label"]

log = logging.getLogger(__name__)

#: Layers with more filters than this start collapsed (unless a search is active).
EXPAND_UP_TO = 128


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

    def compose(self) -> ComposeResult:
        with Horizontal(id="browser-bar"):
            yield Input(placeholder="search: class, tag, concept or filter index", id="browser-search")
            yield Static("", id="browser-sort")
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
        self.rebuild()
        if self.graph is not None and query.strip():
            self.search_concepts(query.strip())

    @work(thread=True, exclusive=True, group="concept-search")
    def search_concepts(self, query: str) -> None:
        graph = self.graph
        if graph is None:
            return
        try:
            hits = graph.concepts_matching(query)
        except KgfError as exc:
            log.warning("concept search %r failed: %s", query, exc)
            return
        self.post_message(self.ConceptHits(query, hits))

    def on_browser_pane_concept_hits(self, msg: ConceptHits) -> None:
        if msg.query == self.query.strip() and msg.hits:
            self.concepts = msg.hits
            self.rebuild()

    def rebuild(self) -> None:
        tree = self.query_one(Tree)
        self.query_one("#browser-sort", Static).update(f"sort: [b]{self.sort}[/b] (s)")
        tree.clear()
        layers = self.view.layers()
        empty = self.query_one("#browser-empty", Static)
        notes = []
        if not layers:
            notes.append("This run has no layers to show: " + self.view.missing.get("model", "no model"))
        if self.view.tags is None:
            notes.append("No tags yet: run `kgfilters filtag` (filters show untagged).")
        if self.view.stats is None:
            notes.append("No statistics yet: activity is unknown.")
        empty.update("\n".join(notes))
        empty.display = bool(notes)
        for layer in layers:
            rows = self.view.filters(layer.name, query=self.query, sort=self.sort, concepts=self.concepts)
            node = tree.root.add(layer_label(layer.name, layer.filters, layer.share_tagged, len(rows)),
                                 data=("layer", layer.name),
                                 expand=layer.filters <= EXPAND_UP_TO or bool(self.query.strip()))
            for r in rows:
                node.add_leaf(filter_label(r), data=("filter", r.layer, r.index))

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

    def action_focus_search(self) -> None:
        self.query_one("#browser-search", Input).focus()

    def action_cycle_sort(self) -> None:
        keys = list(SORTS)
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
