"""The query view behaves like the tools people know: visible focus, escape leaves the editor,
ctrl+e exports from anywhere in the view, letters type into the editor without firing app keys,
the catalog shows each question, a new query clears old results, cells are short with the full
value on enter."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, ListView, TextArea

from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.queries.catalog import catalog
from kgfilters.tui import KgfApp
from kgfilters.tui.cells import cell_prefixes, short_cell
from kgfilters.tui.dialogs import PathPrompt
from kgfilters.tui.query_pane import QueryPane, catalog_entry, run_base
from tests.tui.conftest import BASE
from tests.tui.test_app_pilot import SIZE, plain, settle, text_of

CONCEPTS = (f"PREFIX kgf: <{KGF_IRI}>\n"
            "SELECT ?f ?concept WHERE { ?f kgf:coarseConcept ?concept } ORDER BY ?f")


@pytest.mark.parametrize(("text", "short"), [
    ("0.03603153205825947", "0.03603"), ("123456.789", "123457"), ("3.14159", "3.142"), ("1.5", "1.5"),
    ("42", "42"), ("1234567", "1234567"), ("0.00001234567", "1.235e-05"), ("-2.718281828", "-2.718"),
    (f"{KGF_IRI}taggedWith", "kgf:taggedWith"),
    ("http://wordnet-rdf.princeton.edu/wn30/03419014-n", "wn:03419014-n"),
    (f"{BASE}layer/conv2/filter/0", "run:layer/conv2/filter/0"),
    (KGF_IRI, KGF_IRI),  # the namespace alone stays
    ("Shirt", "Shirt"), ("v1.2.3", "v1.2.3"),
])
def test_short_cell(text: str, short: str) -> None:
    assert short_cell(text, cell_prefixes(BASE)) == short


def test_run_prefix_is_the_longest_namespace() -> None:
    # the run's base lies under w3id.org/kgfilters/ like kgf: does not; the longer namespace wins
    p = cell_prefixes("https://w3id.org/kgfilters/run/fm/")
    assert short_cell("https://w3id.org/kgfilters/run/fm/class/3", p) == "run:class/3"


async def test_editor_keys_escape_export_and_quit_keys(full_run: Path, catalog_dir: Path) -> None:
    app = KgfApp(full_run, catalog=tuple(catalog(catalog_dir).values()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        editor = app.query_one(TextArea)
        assert app.focused is editor
        focused_border = editor.styles.border_top
        assert run_base(app.graph, full_run) == BASE
        editor.text = CONCEPTS
        editor.move_cursor(editor.document.end)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        table = app.query_one("#query-results", DataTable)
        assert table.row_count == 2
        # typed keys go into the editor: q, the view digits and ? do not quit, switch or open help
        await pilot.press("space", "q", "2", "question_mark")
        await pilot.pause()
        assert app.is_running and app.focused is editor
        assert editor.text == CONCEPTS + " q2?"
        assert app.query_one("#views").active == "query"
        # ctrl+e exports with the editor focused (not the editor's end-of-line)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("escape")
        await pilot.pause()
        # escape leaves the editor (to the results), where app keys work again
        assert app.focused is editor
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is table
        assert editor.styles.border_top != focused_border  # focus is visible: the border changes
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("enter")
        await settle(app, pilot)
        out = full_run / "exports" / "query.csv"
        assert out.read_text(encoding="utf-8").splitlines()[0] == "f,concept"
        assert "wrote 2 rows" in text_of(app, "#query-status")
        await pilot.press("3")
        assert app.query_one("#views").active == "concepts"


async def test_catalog_questions_fresh_results_and_cells(full_run: Path, catalog_dir: Path) -> None:
    queries = tuple(catalog(catalog_dir).values())
    app = KgfApp(full_run, catalog=queries)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.query_one(QueryPane)
        items = list(app.query_one("#query-catalog", ListView).children)
        for item, q in zip(items, queries, strict=True):
            assert plain(catalog_entry(q)) == f"{q.name}\n{q.question}"
            assert q.question in plain(item.query_one("Static").content)
        app.query_one("#query-catalog").focus()
        await pilot.press("enter")  # filters-by-concept: no parameters
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        table = app.query_one("#query-results", DataTable)
        assert [table.get_row_at(i) for i in range(2)] == [
            ["run:layer/conv2/filter/0", "cn:garment"], ["run:layer/conv2/filter/1", "cn:garment"]]
        assert pane.full[1] == (f"{BASE}layer/conv2/filter/1", "http://conceptnet.io/c/en/garment")
        table.focus()
        table.move_cursor(row=1, column=0)
        await pilot.press("enter")
        await pilot.pause()
        assert text_of(app, "#query-status") == f"full value (copied): {BASE}layer/conv2/filter/1"
        assert app.clipboard == f"{BASE}layer/conv2/filter/1"
        # picking another catalog query clears the old results
        app.query_one("#query-catalog").focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert table.row_count == 0 and len(table.columns) == 0 and pane.current is None and pane.full == []
        assert queries[1].question in text_of(app, "#query-status")


async def test_query_history(full_run: Path) -> None:
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.query_one(QueryPane)
        editor = app.query_one(TextArea)
        first, second = "SELECT ?s WHERE { ?s a ?t } LIMIT 3", CONCEPTS
        for text in (first, second, second):
            editor.text = text
            await pilot.press("ctrl+r")
            await settle(app, pilot)
        assert pane.history == [first, second]  # the same query twice in a row is kept once
        editor.text = "SELECT"
        await pilot.press("ctrl+up")
        assert editor.text == second
        await pilot.press("ctrl+up", "ctrl+up")  # stops at the oldest
        assert editor.text == first and "query 1 of 2" in text_of(app, "#query-status")
        await pilot.press("ctrl+down")
        assert editor.text == second
