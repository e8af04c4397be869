"""Explain view: one held-out image (or a file) with its prediction, activated filters and tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from kgfilters.errors import KgfError
from kgfilters.stages import STAGES
from kgfilters.tui.dialogs import PathPrompt
from kgfilters.tui.evaluation import baseline_line
from kgfilters.tui.halfblock import half_blocks
from kgfilters.tui.messages import FilterChosen
from kgfilters.tui.runview import RunView

if TYPE_CHECKING:  # the explain modules import torch: they are imported when an image is explained,
    # so that the app's first screen does not wait for torch
    from kgfilters.explain import Explanation
    from kgfilters.explain_masks import ImageMasks

__all__ = ["FILTER_COLUMNS", "VOTE_COLUMNS", "ExplainPane", "filter_rows", "summary_text", "vote_rows"]


def summary_text(e: Explanation, class_names: tuple[str, ...]) -> str:
    """The explanation in words (``explanation_sentences``), then the facts they rest on:
    confidence, verdict and Hits@n, as Rich markup."""
    from kgfilters.explain_text import explanation_sentences

    what = f"held-out image {e.index}" if e.path is None else e.path
    lines = [f"[b]{escape(what)}[/b]", *(escape(s) for s in explanation_sentences(e, class_names)), ""]
    facts = f"predicted [b]{escape(class_names[e.predicted])}[/b]  confidence {e.confidence:.2%}"
    if e.true_class is not None:
        verdict = "[green]correct[/green]" if e.correct else "[red]MISCLASSIFIED[/red]"
        facts += f"  true class [b]{escape(class_names[e.true_class])}[/b]  {verdict}"
    lines.append(facts)
    hp = " ".join(f"@{n} {'yes' if h else 'no'}" for n, h in e.hits_predicted.items())
    lines += ["Hits@n (the class among the n best voted):", f"  predicted {hp}"]
    if e.hits_true is not None:
        ht = " ".join(f"@{n} {'yes' if h else 'no'}" for n, h in e.hits_true.items())
        lines.append(f"  true      {ht}")
    return "\n".join(lines)


#: Separating filters whose sensitive areas the view shows (key a), and their width in cells.
AREAS_SHOWN = 3
AREA_WIDTH = 14


def torch_tensor(img: np.ndarray):  # type: ignore[no-untyped-def]
    """A (C, H, W) array as a torch tensor (torch is imported once the model runs anyway)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))


def _resize(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A mask at the model's input size brought to an opened file's size (bilinear)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(mask)[None, None]
    return F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


#: Column headers of the vote table: what each number is (FILTAG 2.2).
VOTE_COLUMNS = ("rank", "class", "votes = active filters tagged", "tie-break: summed activation", "model p")
#: Column headers of the filter table.
FILTER_COLUMNS = ("layer", "filter", "activation ā", "separates", "tags")


def vote_rows(e: Explanation, class_names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The tag ranking as table rows: rank, class (marked predicted / true), votes, summed
    activation (which orders classes with equal votes) and the model's probability."""
    from kgfilters.explain_text import percent

    rows = []
    for r, v in enumerate(e.ranking, 1):
        marks = [m for m, c in (("predicted", e.predicted), ("true", e.true_class)) if c == v.class_index]
        name = class_names[v.class_index] + (f" ({', '.join(marks)})" if marks else "")
        rows.append((str(r), name, str(v.count), f"{v.activation:.4f}", percent(e.probabilities[v.class_index])))
    return rows


def filter_rows(e: Explanation, class_names: tuple[str, ...], *, hide_generic: bool = False
                ) -> list[tuple[str, ...]]:
    """The active filters as table rows, most active first per layer: ``separates`` names the
    class a filter carries without the other (``contrast``), or ``generic``; generic filters are
    left out when ``hide_generic``."""
    from kgfilters.explain_text import contrast

    c = contrast(e)
    sep = {(f.layer, f.filter): class_names[k] for f, k in c.separating}
    generic = {(f.layer, f.filter) for f in c.generic}
    rows = []
    for f in e.top_filters:
        key = (f.layer, f.filter)
        if hide_generic and key in generic:
            continue
        note = "generic" if key in generic else sep.get(key, "")
        rows.append((f.layer, str(f.filter), f"{f.activation:.4f}", note,
                     ", ".join(class_names[t] for t in f.tags) or "-"))
    return rows


class ExplainPane(Vertical):
    """Pick an image; the model runs in a worker and the result fills the view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "step(1)", "Next image"),
        Binding("p", "step(-1)", "Prev image"),
        Binding("m", "next_wrong", "Next misclassified"),
        Binding("g", "goto", "Go to index"),
        Binding("o", "open_file", "Open file"),
        Binding("h", "toggle_generic", "Hide generic"),
        Binding("a", "toggle_areas", "Areas"),
    ]

    @dataclass
    class Explained(Message):
        explanation: Explanation
        image: np.ndarray
        areas: ImageMasks | None = None

    @dataclass
    class Failed(Message):
        text: str

    def __init__(self, view: RunView, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.view = view
        self.index = 0
        self.explanation: Explanation | None = None
        self.started = False
        self.hide_generic = False
        self.show_areas = False
        self.shown_areas: ImageMasks | None = None
        #: An explanation asked for before the tags were read: (index, path), started when they are.
        self.pending: tuple[int | None, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="explain-status")
        with Horizontal(id="explain-top"):
            yield Static("", id="explain-image")
            yield Static("", id="explain-summary")
        yield Horizontal(id="explain-areas")
        yield Static("", id="explain-baseline")
        yield DataTable(id="explain-votes", cursor_type="none", zebra_stripes=True)
        yield DataTable(id="explain-filters", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#explain-votes", DataTable).add_columns(*VOTE_COLUMNS)
        self.query_one("#explain-filters", DataTable).add_columns(*FILTER_COLUMNS)
        self.query_one("#explain-baseline", Static).update(baseline_line(self.view.root))
        self.tags_loaded()

    def tags_loaded(self) -> None:
        """Say what the view can do now that the tags are read (or that they are being read), and
        start an explanation asked for meanwhile."""
        if not self.view.tags_ready:
            self.status("reading the run's tags…")
        elif self.view.tags is None:
            self.status(f"No tags yet: explanations need `{STAGES['tag'].command()}` first.")
        elif self.pending is not None:
            index, path = self.pending
            self.pending = None
            self.start(index=index, path=path)
        elif not self.started:
            self.status("press n / p to step, m for the next misclassified, g to go to an index, o for a file")

    def status(self, text: str | Text) -> None:
        self.query_one("#explain-status", Static).update(text)

    def start(self, *, index: int | None = None, path: str | None = None) -> None:
        """Explain held-out image ``index`` or the image file ``path`` (in a worker; once the tags
        are read when they are not yet)."""
        if not self.view.tags_ready:
            self.pending = (index, path)
            self.status(f"reading the run's tags… then explaining {path or f'held-out image {index}'}")
            return
        if self.view.tags is None:
            self.status(f"[red]No tags yet: explanations need `{STAGES['tag'].command()}` first.[/red]")
            return
        self.started = True
        self.status(f"explaining {path or f'held-out image {index}'}…")
        self.explain(index, path)

    def areas(self, e: Explanation, img: np.ndarray) -> ImageMasks | None:
        """The sensitive areas of the explanation's separating filters in this image (worker
        thread; the model lock held), or None while areas are off."""
        if not self.show_areas:
            return None
        from kgfilters.explain_masks import masks_for_image
        from kgfilters.explain_text import contrast

        wanted = [(f.layer, f.filter) for f, _ in contrast(e).separating]
        with self.view.model_lock:
            return masks_for_image(self.view.run, torch_tensor(img), wanted)

    @work(thread=True, exclusive=True, group="explain")
    def explain(self, index: int | None, path: str | None) -> None:
        from kgfilters.explain import explain_image

        try:
            with self.view.model_lock:
                e = explain_image(self.view.run, index=index, image=path)
            if path is None:
                img, _ = self.view.heldout_image(index or 0)
            else:
                from kgfilters.explain import load_image

                img = load_image(path, channels=self.view.run.spec.in_channels, size=None)[0].numpy()
            areas = self.areas(e, img)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Explained(e, img, areas))

    @work(thread=True, exclusive=True, group="explain")
    def find_wrong(self, start: int) -> None:
        from kgfilters.explain import explain_image

        try:
            i = self.view.next_misclassified(start)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if i is None:
            self.post_message(self.Failed(f"no misclassified held-out image after {start}"))
            return
        try:
            with self.view.model_lock:
                e = explain_image(self.view.run, index=i)
            img, _ = self.view.heldout_image(i)
            areas = self.areas(e, img)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Explained(e, img, areas))

    def on_explain_pane_failed(self, msg: Failed) -> None:
        self.status(Text(msg.text, style="red"))

    def on_explain_pane_explained(self, msg: Explained) -> None:
        e = self.explanation = msg.explanation
        if e.index is not None:
            self.index = e.index
        names = self.view.class_names
        self.query_one("#explain-image", Static).update(half_blocks(msg.image, width=28))
        self.query_one("#explain-summary", Static).update(summary_text(e, names))
        votes = self.query_one("#explain-votes", DataTable)
        votes.clear()
        votes.add_rows(vote_rows(e, names))
        self.fill_filters()
        self.shown_areas = msg.areas
        self.show_area_panels(msg.image, msg.areas)
        self.status("enter on a filter opens its filter view · h hides or shows generic filters · "
                    "a shows where the separating filters look")

    def show_area_panels(self, image: np.ndarray, areas: ImageMasks | None) -> None:
        """The masked image per separating filter (at most ``AREAS_SHOWN``), or why there is none."""
        box = self.query_one("#explain-areas", Horizontal)
        box.remove_children()
        box.display = areas is not None
        if areas is None or self.explanation is None:
            return
        from kgfilters.explain_text import contrast

        sep = {(f.layer, f.filter): k for f, k in contrast(self.explanation).separating}
        names = self.view.class_names
        panels = []
        for m in areas.masks[:AREAS_SHOWN]:
            size = image.shape[-1]
            mask = m.mask if m.mask.shape[-1] == size else _resize(m.mask, image.shape[-2:])
            cls = names[sep[(m.layer, m.filter)]] if (m.layer, m.filter) in sep else ""
            caption = f"{m.layer}:{m.filter} ({cls})\n{m.strategy}, area {m.area:.0%}"
            panels.append(Static(half_blocks(image * mask, width=AREA_WIDTH), classes="area-panel"))
            panels.append(Static(caption, classes="area-caption"))
        if not areas.masks:
            missing = ", ".join(f"{lay}:{f}" for lay, f in areas.missing[:AREAS_SHOWN]) or "none"
            panels.append(Static(f"No trained generator covers the separating filters ({missing}): "
                                 "`kgfilters sensitive` trains generators for chosen filters.", classes="area-caption"))
        box.mount_all(panels)

    def action_toggle_areas(self) -> None:
        self.show_areas = not self.show_areas
        if self.explanation is not None:
            self.start(index=self.explanation.index, path=self.explanation.path)

    def fill_filters(self) -> None:
        """(Re)fill the filter table from the explanation, generic filters hidden or not."""
        table = self.query_one("#explain-filters", DataTable)
        table.clear()
        if self.explanation is None:
            return
        for row in filter_rows(self.explanation, self.view.class_names, hide_generic=self.hide_generic):
            table.add_row(*row, key=f"{row[0]}:{row[1]}")

    def action_toggle_generic(self) -> None:
        self.hide_generic = not self.hide_generic
        self.fill_filters()
        self.status("generic filters hidden (h shows them)" if self.hide_generic else "generic filters shown")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.explanation is None or event.data_table.id != "explain-filters":
            return
        event.stop()
        layer, _, index = str(event.row_key.value).rpartition(":")
        self.post_message(FilterChosen(layer, int(index)))

    def action_step(self, delta: int) -> None:
        n = self.view.heldout_count()
        self.start(index=(self.index + delta) % n if self.explanation else 0)

    def action_next_wrong(self) -> None:
        self.status("looking for the next misclassified image…")
        self.find_wrong(self.index)

    def action_goto(self) -> None:
        def done(value: str | None) -> None:
            if value is None:
                return
            last = self.view.heldout_count() - 1
            if not value.isdigit() or int(value) > last:
                self.status(Text(f"image {value}: this run's held-out images are numbered 0 to {last}", style="red"))
                return
            self.start(index=int(value))

        self.app.push_screen(PathPrompt("Held-out image index", value=str(self.index)), done)

    def action_open_file(self) -> None:
        def done(value: str | None) -> None:
            if value is not None:
                self.start(path=value)

        self.app.push_screen(PathPrompt("Image file to explain", placeholder="path/to/image.png"), done)
