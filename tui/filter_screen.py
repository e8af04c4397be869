"""Filter view: a filter's tags, concepts, FSAGN masks and response distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from kgfilters.errors import KgfError
from kgfilters.stages import STAGES
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.halfblock import bar, half_blocks, sparkline
from kgfilters.tui.runview import MaskArea, RunView

if TYPE_CHECKING:  # torch: imported when the panels are computed, not before the first screen
    from kgfilters.fsagn.panels import MaskPanels

__all__ = ["FilterScreen", "mask_caption", "panel_texts", "tags_table"]

#: Columns of each mask panel (two image rows per text row).
PANEL_WIDTH = 28


def tags_table(view: RunView, layer: str, index: int) -> Table | Text:
    """The filter's tags: class, score z_c(m, i) as a bar (full = the filter's best score) and a
    number, rank, method."""
    row = view.filter_row(layer, index)
    if view.tags is None:
        return Text(f"No tags yet: run `{STAGES['tag'].command()}` to tag this run's filters.", style="dim")
    if not row.tags:
        return Text(f"Untagged: no class ranks this filter in its {view.tags.method} "
                    f"(param {view.tags.param:g}) selection.", style="dim")
    t = Table(box=None, pad_edge=False)
    for col in ("class", "score", "", "rank", "method"):
        t.add_column(col)
    top = max(t.score for t in row.tags) or 1.0
    for tag in row.tags:
        t.add_row(tag.label, bar(tag.score / top, width=20), f"{tag.score:.4f}", str(tag.rank),
                  f"{tag.method} {tag.param:g}")
    return t


def response_text(view: RunView, layer: str, index: int) -> Text:
    """z_c(m, i) over classes: a sparkline and one bar per class (full = the largest z)."""
    z = view.response(layer, index)
    if z is None:
        return Text(f"No statistics for this layer yet: run `{STAGES['stats'].command()}`.", style="dim")
    out = Text(sparkline(z) + "  (z over classes, " + ", ".join(str(i) for i in range(len(z))) + ")\n")
    width = max(len(c) for c in view.class_names)
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    top = top if top > 0 else 1.0
    for name, v in zip(view.class_names, z, strict=True):
        out.append(f"{name:>{width}} {bar(v / top, width=30)} {v:.4f}\n")
    return out


def _fit(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) resized to ``shape`` by nearest neighbour, so feature maps line up with the image."""
    h, w = a.shape
    rows = np.arange(shape[0]) * h // shape[0]
    cols = np.arange(shape[1]) * w // shape[1]
    return a[rows][:, cols]


def panel_texts(p: MaskPanels, *, width: int = PANEL_WIDTH) -> list[tuple[str, Text]]:
    """The five panels of the first image of ``p`` as (title, half-block text), in the paper's
    order. Images and masks are drawn as they are ([0, 1]); both feature maps share the original
    map's scale, so what a mask removes shows as darkness in the new map."""
    size = p.image.shape[-2:]
    vmax = float(p.feature_map[0].max()) or 1.0
    arrays = {
        "image": p.image[0],
        "feature map": _fit(p.feature_map[0], size) / vmax,
        "mask": p.mask[0],
        "masked image": p.masked_image[0],
        "new feature map": _fit(p.new_feature_map[0], size) / vmax,
    }
    return [(k, half_blocks(v, width=width)) for k, v in arrays.items()]


def mask_caption(a: MaskArea, n: int, total: int) -> str:
    figures = "  ".join(f"{k} {v:.4f}" for k, v in sorted(a.metrics.items()))
    return (f"mask {n + 1}/{total}: {a.method} {a.strategy}, {a.split} image {a.image}, "
            f"area {a.area_fraction:.1%}\n{figures or 'no fidelity figures'}")


class FilterScreen(Screen[None]):
    """One filter in detail; ``[``/``]`` step through its layer, ``m``/``M`` through its masks,
    ``c`` to the same image's mask by the next method (FSAGN, Zeiler, optimised, random)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "step(-1)", "Prev filter"),
        Binding("right_square_bracket", "step(1)", "Next filter"),
        Binding("m", "step_mask(1)", "Next mask"),
        Binding("M", "step_mask(-1)", "Prev mask"),
        Binding("c", "next_method", "Other method"),
        Binding("t", "concept_tree", "Concept tree"),
    ]

    mask_index: reactive[int] = reactive(0)

    @dataclass
    class ConceptsLoaded(Message):
        layer: str
        index: int
        text: str

    @dataclass
    class PanelsReady(Message):
        area: MaskArea
        panels: MaskPanels | None
        error: str = ""

    def __init__(self, view: RunView, graph: GraphView | None, layer: str, index: int) -> None:
        super().__init__()
        self.view = view
        self.graph = graph
        self.filter_layer = layer
        self.filter_index = index
        self.shown_area: MaskArea | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="filter-title")
        with VerticalScroll(id="filter-body"):
            yield Static("[b]Tags[/b]", classes="section")
            yield Static("", id="filter-tags")
            yield Static("[b]Concepts[/b]", classes="section")
            yield Static("", id="filter-concepts")
            yield Static("[b]Response[/b]", classes="section")
            yield Static("", id="filter-response")
            yield Static("[b]Sensitive areas (FSAGN)[/b]", classes="section")
            yield Static("", id="filter-mask-caption")
            yield Horizontal(id="filter-panels")
        yield Footer()

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        layer, index = self.filter_layer, self.filter_index
        self.view.load_stats()  # this view shows activity and responses: read them now if not yet
        row = self.view.filter_row(layer, index)
        act = "-" if row.activity is None else f"{row.activity:.4f}"
        self.query_one("#filter-title", Static).update(
            f"[b]{layer}:{index}[/b]   mean activity {act}   tags {len(row.tags)}   ({self.view.root.name})")
        self.query_one("#filter-tags", Static).update(tags_table(self.view, layer, index))
        self.query_one("#filter-response", Static).update(response_text(self.view, layer, index))
        if self.graph is None:
            self.query_one("#filter-concepts", Static).update(
                Text("No knowledge graph in this run yet (graph/): run the graph stage to see concepts.",
                     style="dim"))
        else:
            self.query_one("#filter-concepts", Static).update(Text("loading concepts…", style="dim"))
            self.load_concepts(self.filter_layer, self.filter_index)
        self.mask_index = 0
        self.show_mask()

    @work(thread=True, exclusive=True, group="concepts")
    def load_concepts(self, layer: str, index: int) -> None:
        graph = self.graph
        if graph is None:
            return
        try:
            coarse = graph.coarse_concepts(layer, index)
            linked = graph.linked_concepts(layer, index)
        except KgfError as exc:
            text = f"[red]{exc}[/red]"
        else:
            lines = [
                f"coarse: {r['label']}" + (f" (covers {r['support']} tags)" if r.get("support") else "")
                + f"   {r['chain']}" for r in coarse
            ] or ["[dim]no coarse concept[/dim]"]
            lines += [f"linked: {r['class'] or '?'} -> {graph.label(r['concept'])}" for r in linked] or \
                ["[dim]no linked concept[/dim]"]
            text = "\n".join(lines)
        self.post_message(self.ConceptsLoaded(layer, index, text))

    def on_filter_screen_concepts_loaded(self, msg: ConceptsLoaded) -> None:
        if (msg.layer, msg.index) == (self.filter_layer, self.filter_index):
            self.query_one("#filter-concepts", Static).update(msg.text)

    def show_mask(self) -> None:
        areas = self.view.masks_of(self.filter_layer, self.filter_index)
        self.query_one("#filter-panels", Horizontal).remove_children()
        caption = self.query_one("#filter-mask-caption", Static)
        if not areas:
            why = self.view.missing.get("masks") if not self.view.masks else "none for this filter"
            caption.update(Text(f"No sensitive areas: {why}.", style="dim"))
            return
        self.shown_area = areas[self.mask_index % len(areas)]
        caption.update(mask_caption(self.shown_area, self.mask_index % len(areas), len(areas)))
        self.load_panels(self.shown_area)

    @work(thread=True, exclusive=True, group="mask-panels")
    def load_panels(self, area: MaskArea) -> None:
        """Compute the five panels off the UI thread (two forward passes of the model)."""
        try:
            self.post_message(self.PanelsReady(area, self.view.mask_panels(area)))
        except KgfError as exc:
            self.post_message(self.PanelsReady(area, None, str(exc)))

    def on_filter_screen_panels_ready(self, msg: PanelsReady) -> None:
        if msg.area != self.shown_area:
            return
        if msg.panels is None:
            self.query_one("#filter-mask-caption", Static).update(Text(msg.error, style="red"))
            return
        box = self.query_one("#filter-panels", Horizontal)
        box.remove_children()
        # five panels side by side, each as wide as the screen allows (2 columns of margin each)
        width = max(8, min(PANEL_WIDTH, (box.size.width or self.size.width) // 5 - 2))
        box.mount_all([Static(Text(title + "\n") + text, classes="panel")
                       for title, text in panel_texts(msg.panels, width=width)])

    def action_concept_tree(self) -> None:
        """Back to the concept tree, at this filter's most specific coarse concept."""
        self.app.show_concept_of(self.filter_layer, self.filter_index)  # type: ignore[attr-defined]

    def action_step(self, delta: int) -> None:
        n = self.view.layer_sizes[self.filter_layer]
        self.filter_index = (self.filter_index + delta) % n
        self.show()

    def action_step_mask(self, delta: int) -> None:
        self.mask_index += delta
        self.show_mask()

    def action_next_method(self) -> None:
        """The mask of the same image and strategy made by the next method, if there is one."""
        areas = self.view.masks_of(self.filter_layer, self.filter_index)
        if not areas:
            return
        i = self.mask_index % len(areas)
        a = areas[i]
        for k in range(1, len(areas)):
            b = areas[(i + k) % len(areas)]
            if (b.image, b.strategy, b.split) == (a.image, a.strategy, a.split) and b.method != a.method:
                self.mask_index = (i + k) % len(areas)
                self.show_mask()
                return
