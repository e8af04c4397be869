"""Summary view: the run's evaluation figures (``kgfilters evaluate``), each beside its chance
baseline, its 95% interval and its p-value; re-read whenever the view is shown."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from kgfilters.errors import KgfError
from kgfilters.tui.evaluation import EVALUATION_FILE, Headline, headlines, read_evaluation

__all__ = ["SUMMARY_COLUMNS", "SummaryPane", "summary_rows"]

SUMMARY_COLUMNS = ("section", "figure", "value", "95% interval", "chance baseline", "p", "note")


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def summary_rows(figures: tuple[Headline, ...]) -> list[tuple[str, ...]]:
    """One table row per headline figure (numbers to 3 decimals)."""
    return [(h.section, h.name, f"{h.value:.3f}",
             "" if h.ci95 is None else f"[{h.ci95[0]:.3f}, {h.ci95[1]:.3f}]",
             h.baseline, _p(h.p_value), h.note) for h in figures]


class SummaryPane(Vertical):
    """A table of ``headlines(evaluation.json)``, or how to make the file when it is missing."""

    def __init__(self, root: Path, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.root = root
        self.figures: tuple[Headline, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("", id="summary-status")
        yield DataTable(id="summary-table", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*SUMMARY_COLUMNS)
        self.reload()

    def reload(self) -> None:
        """Read ``evaluation.json`` again and show its figures."""
        status, table = self.query_one("#summary-status", Static), self.query_one(DataTable)
        table.clear()
        self.figures = ()
        try:
            data = read_evaluation(self.root)
        except KgfError as exc:
            status.update(f"[red]{escape(str(exc))}[/red]")
            table.display = False
            return
        if data is None:
            status.update(f"No evaluation yet: run `kgfilters evaluate --run {escape(self.root.name)}` to see "
                          "each figure beside its chance baseline, interval and p-value.")
            table.display = False
            return
        self.figures = headlines(data)
        table.display = bool(self.figures)
        if not self.figures:
            status.update(f"{EVALUATION_FILE} holds none of the headline figures this view knows.")
            return
        status.update(f"[b]{EVALUATION_FILE}[/b]: each figure beside the chance baseline it must beat; "
                      "p against that baseline")
        table.add_rows(summary_rows(self.figures))
