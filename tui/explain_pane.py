"""Explain view: one held-out image (or a file) with its prediction, activated filters and tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from kgfilters.errors import KgfError
from kgfilters.explain import Explanation, explain_image
from kgfilters.stages import STAGES
from kgfilters.tui.dialogs import PathPrompt
from kgfilters.tui.halfblock import half_blocks
from kgfilters.tui.messages import FilterChosen
from kgfilters.tui.runview import RunView

__all__ = ["ExplainPane", "summary_text"]


def summary_text(e: Explanation, class_names: tuple[str, ...]) -> str:
    """Prediction, confidence, true class, tag ranking and Hits@n, as Rich markup."""
    what = f"held-out image {e.index}" if e.path is None else e.path
    lines = [f"[b]{what}[/b]",
             f"predicted [b]{class_names[e.predicted]}[/b]  confidence {e.confidence:.2%}"]
    if e.true_class is not None:
        verdict = "[green]correct[/green]" if e.correct else "[red]MISCLASSIFIED[/red]"
        lines.append(f"true class [b]{class_names[e.true_class]}[/b]  {verdict}")
    ranking = "  ".join(f"{i + 1}. {v.label} ({v.count})" for i, v in enumerate(e.ranking))
    lines.append(f"tag ranking: {ranking or '(no tagged filter active)'}")
    hp = " ".join(f"@{n} {'yes' if h else 'no'}" for n, h in e.hits_predicted.items())
    lines.append(f"Hits predicted: {hp}")
    if e.hits_true is not None:
        ht = " ".join(f"@{n} {'yes' if h else 'no'}" for n, h in e.hits_true.items())
        lines.append(f"Hits true:      {ht}")
    if e.comparison is not None:
        c = e.comparison
        lines.append(f"{class_names[c.true_class]} tags {c.true_count} activated filters (rank "
                     f"{c.true_rank or '-'}), {class_names[c.predicted]} {c.predicted_count} (rank "
                     f"{c.predicted_rank or '-'}); {len(c.shared_filters)} carry both")
    return "\n".join(lines)


class ExplainPane(Vertical):
    """Pick an image; the model runs in a worker and the result fills the view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "step(1)", "Next image"),
        Binding("p", "step(-1)", "Prev image"),
        Binding("m", "next_wrong", "Next misclassified"),
        Binding("g", "goto", "Go to index"),
        Binding("o", "open_file", "Open file"),
    ]

    @dataclass
    class Explained(Message):
        explanation: Explanation
        image: np.ndarray

    @dataclass
    class Failed(Message):
        text: str

    def __init__(self, view: RunView, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.view = view
        self.index = 0
        self.explanation: Explanation | None = None
        self.started = False

    def compose(self) -> ComposeResult:
        yield Static("", id="explain-status")
        with Horizontal(id="explain-top"):
            yield Static("", id="explain-image")
            yield Static("", id="explain-summary")
        yield DataTable(id="explain-filters", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("layer", "filter", "activation", "tags")
        if self.view.tags is None:
            self.status(f"No tags yet: explanations need `{STAGES['tag'].command()}` first.")
        else:
            self.status("press n / p to step, m for the next misclassified, g to go to an index, o for a file")

    def status(self, text: str | Text) -> None:
        self.query_one("#explain-status", Static).update(text)

    def start(self, *, index: int | None = None, path: str | None = None) -> None:
        """Explain held-out image ``index`` or the image file ``path`` (in a worker)."""
        if self.view.tags is None:
            self.status(f"[red]No tags yet: explanations need `{STAGES['tag'].command()}` first.[/red]")
            return
        self.started = True
        self.status(f"explaining {path or f'held-out image {index}'}…")
        self.explain(index, path)

    @work(thread=True, exclusive=True, group="explain")
    def explain(self, index: int | None, path: str | None) -> None:
        try:
            e = explain_image(self.view.run, index=index, image=path)
            if path is None:
                img, _ = self.view.heldout_image(index or 0)
            else:
                from kgfilters.explain import load_image

                img = load_image(path, channels=self.view.run.spec.in_channels, size=None)[0].numpy()
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Explained(e, img))

    @work(thread=True, exclusive=True, group="explain")
    def find_wrong(self, start: int) -> None:
        try:
            i = self.view.next_misclassified(start)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if i is None:
            self.post_message(self.Failed(f"no misclassified held-out image after {start}"))
            return
        try:
            e = explain_image(self.view.run, index=i)
            img, _ = self.view.heldout_image(i)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Explained(e, img))

    def on_explain_pane_failed(self, msg: Failed) -> None:
        self.status(Text(msg.text, style="red"))

    def on_explain_pane_explained(self, msg: Explained) -> None:
        e = self.explanation = msg.explanation
        if e.index is not None:
            self.index = e.index
        names = self.view.class_names
        self.query_one("#explain-image", Static).update(half_blocks(msg.image, width=28))
        self.query_one("#explain-summary", Static).update(summary_text(e, names))
        table = self.query_one(DataTable)
        table.clear()
        for f in e.top_filters:
            table.add_row(f.layer, str(f.filter), f"{f.activation:.4f}",
                          ", ".join(names[t] for t in f.tags) or "-", key=f"{f.layer}:{f.filter}")
        self.status("enter on a filter opens its filter view")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.explanation is None or event.data_table.id != "explain-filters":
            return
        event.stop()
        f = self.explanation.top_filters[event.cursor_row]
        self.post_message(FilterChosen(f.layer, f.filter))

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
            if not value.isdigit():
                self.status(f"[red]index {value!r}: expected a number 0..{self.view.heldout_count() - 1}[/red]")
                return
            self.start(index=int(value))

        self.app.push_screen(PathPrompt("Held-out image index", value=str(self.index)), done)

    def action_open_file(self) -> None:
        def done(value: str | None) -> None:
            if value is not None:
                self.start(path=value)

        self.app.push_screen(PathPrompt("Image file to explain", placeholder="path/to/image.png"), done)
