"""Query view: the SPARQL catalog, a free editor and paged results, run in a cancellable worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, ListItem, ListView, Static, TextArea
from textual.worker import Worker, get_current_worker

from kgfilters.errors import KgfError
from kgfilters.queries.catalog import CatalogQuery, bind_params, parse_query_file, with_values
from kgfilters.tui.dialogs import PathPrompt
from kgfilters.tui.graphview import GraphView, ResultPage
from kgfilters.tui.param_form import ParamForm

__all__ = ["PAGE", "QueryPane"]

PAGE = 200
STARTER = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 100\n"


class QueryPane(Vertical):
    """Pick a catalog query or write one; ctrl+r runs it, escape cancels, ctrl+n pages on.

    The parameter form follows the ``# param:`` header of the query in the editor, so an edited or
    hand-written query gets its form too; values are bound as RDF terms by the catalog's
    ``bind_params`` / ``with_values``, never pasted into the text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run_query", "Run", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+n", "more", "More rows"),
        Binding("ctrl+e", "export", "Export CSV"),
    ]

    @dataclass
    class PageReady(Message):
        text: str
        page: ResultPage

    @dataclass
    class Failed(Message):
        text: str

    @dataclass
    class Exported(Message):
        path: Path
        rows: int

    def __init__(self, graph: GraphView | None, catalog: tuple[CatalogQuery, ...], *, exports: Path,
                 **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.graph = graph
        self.catalog = catalog
        self.exports = exports
        self.selected: str | None = None
        self.current: str | None = None
        self.loaded = 0
        self.cursor: int | None = None
        self.worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-top"):
            with Vertical(id="query-catalog-box"):
                yield Static("[b]catalog[/b]", id="query-catalog-title")
                yield ListView(*[ListItem(Static(q.name), name=q.name) for q in self.catalog],
                               id="query-catalog")
            with Vertical(id="query-edit-box"):
                yield TextArea(STARTER, id="query-editor")
                yield ParamForm(id="query-form")
        yield Static("", id="query-status")
        yield DataTable(id="query-results", zebra_stripes=True)

    def on_mount(self) -> None:
        if self.graph is None:
            self.set_status("No knowledge graph in this run yet (graph/): build it to run queries.")
        elif not self.catalog:
            self.set_status("No catalog queries installed (queries/*.rq); write one and press ctrl+r.")
        else:
            self.set_status("pick a catalog query or edit, then ctrl+r")

    def set_status(self, text: str | Text) -> None:
        self.query_one("#query-status", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.has_class("param-input"):
            event.stop()
            self.action_run_query()

    async def on_list_view_selected(self, event: ListView.Selected) -> None:
        q = next((q for q in self.catalog if q.name == event.item.name), None)
        if q is not None:
            self.selected = q.name
            self.query_one(TextArea).text = q.text
            await self.query_one(ParamForm).show(q.params)
            self.set_status(f"{q.question or q.name}  (fill the parameters, then ctrl+r)")

    async def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        try:
            params = self.editor_query().params
        except KgfError:
            return  # a header line half typed; running the query names the error
        await self.query_one(ParamForm).show(params)

    def editor_query(self) -> CatalogQuery:
        """The editor's text as a catalog query (its header declares the parameters)."""
        text = self.query_one(TextArea).text
        picked = next((q for q in self.catalog if q.name == self.selected), None)
        name = picked.name if picked is not None and picked.text == text else "edited query"
        return parse_query_file(f"{name}.rq", text)

    def bound_text(self) -> str:
        """The editor's query with the form's values bound; KgfError for a bad or missing value."""
        q = self.editor_query()
        declared = {p.name for p in q.params}
        values = {k: v for k, v in self.query_one(ParamForm).values().items() if k in declared}
        return with_values(q.text, bind_params(q, values))

    def action_run_query(self) -> None:
        if self.graph is None:
            self.set_status(Text("No knowledge graph in this run yet (graph/).", style="red"))
            return
        try:
            self.current = self.bound_text()
        except KgfError as exc:
            self.set_status(Text(str(exc), style="bold red"))
            return
        self.loaded = 0
        self.close_result()
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self.set_status("running… (escape cancels)")
        self.worker = self.fetch(self.current, None)

    @property
    def more(self) -> bool:
        """Rows follow the ones shown: the result is still open."""
        return self.cursor is not None

    def action_more(self) -> None:
        if self.worker is not None and self.worker.is_running:
            return  # the page being read decides whether there is a next one
        if self.current is not None and self.cursor is not None:
            self.set_status(f"fetching rows from {self.loaded}…")
            self.worker = self.fetch(self.current, self.cursor)

    def action_cancel(self) -> None:
        if self.worker is not None and self.worker.is_running:
            self.worker.cancel()
            self.close_result()
            self.set_status("cancelled")

    def close_result(self) -> None:
        """Let go of the open result (its rows are not read any further)."""
        if self.graph is not None:
            self.graph.close(self.cursor)
        self.cursor = None

    def on_unmount(self) -> None:
        if self.graph is not None:
            self.graph.shutdown()

    @work(thread=True, exclusive=True, group="query")
    def fetch(self, text: str, cursor: int | None) -> None:
        """The first page of ``text`` (cursor None) or the next page of its open result."""
        worker = get_current_worker()
        graph = self.graph
        if graph is None:
            return
        try:
            cancelled = lambda: worker.is_cancelled  # noqa: E731
            page = (graph.open_page(text, size=PAGE, cancelled=cancelled) if cursor is None
                    else graph.next_page(cursor, size=PAGE, cancelled=cancelled))
        except KgfError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if worker.is_cancelled:
            graph.close(page.cursor)
        else:
            self.post_message(self.PageReady(text, page))

    def on_query_pane_page_ready(self, msg: PageReady) -> None:
        if msg.text != self.current:
            if self.graph is not None:
                self.graph.close(msg.page.cursor)
            return
        table = self.query_one(DataTable)
        if msg.page.offset == 0:
            table.clear(columns=True)
            table.add_columns(*msg.page.columns)
        table.add_rows(msg.page.rows)
        self.loaded = msg.page.offset + len(msg.page.rows)
        self.cursor = msg.page.cursor
        tail = " (ctrl+n for more)" if self.more else ""
        self.set_status(f"{self.loaded} rows{tail}")

    def on_query_pane_failed(self, msg: Failed) -> None:
        self.set_status(Text(msg.text, style="bold red"))

    def action_export(self) -> None:
        if self.graph is None or self.current is None:
            self.set_status(Text("run a query first (ctrl+r), then export it", style="red"))
            return
        text = self.current

        def done(value: str | None) -> None:
            if value is not None:
                self.set_status(f"exporting to {value}…")
                self.export(text, Path(value))

        self.app.push_screen(PathPrompt("Export results to CSV file", value=str(self.exports / "query.csv")), done)

    @work(thread=True, exclusive=True, group="export")
    def export(self, text: str, path: Path) -> None:
        worker = get_current_worker()
        graph = self.graph
        if graph is None:
            return
        try:
            n = graph.export_csv(text, path, cancelled=lambda: worker.is_cancelled)
        except (KgfError, OSError) as exc:
            self.post_message(self.Failed(f"{path}: export failed ({exc})"))
            return
        self.post_message(self.Exported(path, n))

    def on_query_pane_exported(self, msg: Exported) -> None:
        self.set_status(f"wrote {msg.rows} rows to {msg.path}")
