"""Query view: the SPARQL catalog, a free editor and paged results, run in a cancellable worker."""

from __future__ import annotations

from dataclasses import dataclass, replace
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

from kgfilters.errors import ConfigError, KgfError
from kgfilters.queries.catalog import CatalogQuery, bind_params, parse_query_file, with_values
from kgfilters.tui.cells import cell_prefixes, short_cell
from kgfilters.tui.dialogs import PathPrompt
from kgfilters.tui.graphview import GraphView, ResultPage
from kgfilters.tui.param_form import ParamForm

__all__ = ["PAGE", "QueryPane", "catalog_entry", "run_base"]

PAGE = 200
STARTER = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 100\n"


def catalog_entry(q: CatalogQuery) -> str:
    """A catalog list entry: the query's name, then its question (Rich markup)."""
    from rich.markup import escape

    return f"[b]{escape(q.name)}[/b]" + (f"\n[dim]{escape(q.question)}[/dim]" if q.question else "")


def run_base(graph: GraphView, root: Path | None) -> str | None:
    """The run's base IRI (for ``run:`` in cells): read off a layer node of the graph (its IRI is
    ``<base>layer/<name>``, ``ontology/iris.py``), else the run's configured base, else None."""
    try:
        rows = graph.select("SELECT ?l WHERE { ?l kgf:layerName ?n } LIMIT 1", limit=1)
    except KgfError:
        rows = []
    if rows and "layer/" in rows[0]["l"]:
        return rows[0]["l"][: rows[0]["l"].rfind("layer/")]
    if root is None:
        return None
    from kgfilters.ontology.iris import Iris

    try:
        return Iris.for_run(root).base
    except (KgfError, OSError):
        return None


class QueryPane(Vertical):
    """Pick a catalog query or write one; ctrl+r runs it, escape cancels (and leaves the editor),
    ctrl+n pages on, ctrl+e exports; ctrl+r and ctrl+e work from the editor too.

    In the editor every printable key types (``q``, ``1``-``4``, ``?`` included): the app's letter
    and digit shortcuts are not taken from it, so a query is never cut short by a quit. Result
    cells show prefixed IRIs and rounded numbers; enter on a cell shows (and copies) its full value.

    The parameter form follows the ``# param:`` header of the query in the editor, so an edited or
    hand-written query gets its form too; values are bound as RDF terms by the catalog's
    ``bind_params`` / ``with_values``, never pasted into the text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run_query", "Run", priority=True),
        Binding("escape", "escape", "Cancel / leave editor"),
        Binding("ctrl+n", "more", "More rows", priority=True),
        Binding("ctrl+e", "export", "Export CSV", priority=True),
        Binding("ctrl+up", "history(-1)", "Earlier query", priority=True),
        Binding("ctrl+down", "history(1)", "Later query", priority=True),
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
                 run_root: Path | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.graph = graph
        self.catalog = catalog
        self.exports = exports
        self.run_root = run_root
        self.prefixes: dict[str, str] | None = None  # for cells; the run's base is read in a worker
        self.full: list[tuple[str, ...]] = []  # the shown rows, full values
        self.history: list[str] = []  # editor texts run in this session, oldest first
        self.history_at: int | None = None  # the history entry in the editor (None: not browsing)
        self.selected: str | None = None
        self.current: str | None = None
        self.loaded = 0
        self.cursor: int | None = None
        self.worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="query-top"):
            with Vertical(id="query-catalog-box"):
                yield ListView(*[ListItem(Static(catalog_entry(q)), name=q.name) for q in self.catalog],
                               id="query-catalog")
            with Vertical(id="query-edit-box"):
                yield TextArea(STARTER, id="query-editor")
                yield ParamForm(id="query-form")
        yield Static("", id="query-status")
        yield DataTable(id="query-results", zebra_stripes=True, cursor_type="cell")

    def on_mount(self) -> None:
        self.query_one("#query-catalog-box").border_title = "catalog · enter picks"
        self.query_one(TextArea).border_title = "SPARQL · keys type here · escape leaves · ctrl+r runs"
        self.query_one(DataTable).border_title = "results · enter shows a cell's full value"
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
            self.clear_results()
            self.selected = q.name
            self.query_one(TextArea).text = q.text
            await self.query_one(ParamForm).show(q.params)
            fill = "fill the parameters, then ctrl+r" if q.params else "ctrl+r runs it"
            self.set_status(f"{q.question or q.name}  ({fill})")

    def clear_results(self) -> None:
        """Forget the shown result: a running query is cancelled, its rows go."""
        if self.worker is not None and self.worker.is_running:
            self.worker.cancel()
        self.close_result()
        self.current = None
        self.loaded = 0
        self.full = []
        self.query_one(DataTable).clear(columns=True)

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
        """The editor's query with the form's values bound; KgfError for a bad or missing value,
        worded for the form (the field, the value, what it must be)."""
        q = self.editor_query()
        declared = {p.name for p in q.params}
        values = {k: v for k, v in self.query_one(ParamForm).values().items() if k in declared}
        for p in q.params:
            if p.name not in values and p.default is None:
                raise ConfigError(f"field {p.name} is empty: this query needs a value of type {p.type}"
                                  + (f" ({p.doc})" if p.doc else ""))
            if p.name in values:
                try:
                    bind_params(replace(q, params=(p,)), {p.name: values[p.name]})
                except KgfError:
                    raise ConfigError(f"field {p.name}: {values[p.name]!r} is not a value of type {p.type}"
                                      + (f" ({p.doc})" if p.doc else "")) from None
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
        text = self.current
        edited = self.query_one(TextArea).text
        if not self.history or self.history[-1] != edited:
            self.history.append(edited)
        self.history_at = None
        self.clear_results()
        self.current = text
        self.set_status("running… (escape cancels)")
        self.worker = self.fetch(self.current, None)

    def action_history(self, step: int) -> None:
        """Put the previous (-1) or next (+1) query run in this session into the editor."""
        if not self.history:
            self.set_status("no query run yet in this session (ctrl+r runs the editor's query)")
            return
        at = len(self.history) if self.history_at is None else self.history_at
        at = min(max(at + step, 0), len(self.history) - 1)
        self.history_at = at
        self.query_one(TextArea).text = self.history[at]
        self.set_status(f"query {at + 1} of {len(self.history)} run in this session (ctrl+up / ctrl+down)")

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

    def action_escape(self) -> None:
        """Cancel a running query; from the editor, also move to the results (or the catalog)."""
        self.action_cancel()
        if self.app.focused is self.query_one(TextArea):
            table = self.query_one(DataTable)
            (table if table.row_count else self.query_one("#query-catalog", ListView)).focus()

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
        if self.prefixes is None:
            self.prefixes = cell_prefixes(run_base(graph, self.run_root))
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
            self.full = []
            table.add_columns(*msg.page.columns)
        prefixes = self.prefixes or cell_prefixes(None)
        self.full.extend(msg.page.rows)
        table.add_rows([tuple(short_cell(v, prefixes) for v in r) for r in msg.page.rows])
        self.loaded = msg.page.offset + len(msg.page.rows)
        self.cursor = msg.page.cursor
        tail = " (ctrl+n for more)" if self.more else ""
        self.set_status(f"{self.loaded} rows{tail}")

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        if event.data_table.id != "query-results":
            return
        event.stop()
        row, col = event.coordinate.row, event.coordinate.column
        if row < len(self.full) and col < len(self.full[row]):
            value = self.full[row][col]
            self.app.copy_to_clipboard(value)
            self.set_status(Text.assemble(("full value (copied): ", "dim"), value))

    def on_query_pane_failed(self, msg: Failed) -> None:
        self.set_status(Text(msg.text, style="bold red"))

    def action_export(self) -> None:
        if self.graph is None or self.current is None:
            self.set_status(Text("nothing to export yet: run a query first (ctrl+r), then ctrl+e", style="red"))
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
