"""Pilot tests walking every view of the app on tiny runs built from scratch."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.widgets import DataTable, Input, Static, TextArea, Tree

from kgfilters.explain import explain_image
from kgfilters.queries.catalog import catalog
from kgfilters.run import load_run
from kgfilters.tui import KgfApp
from kgfilters.tui.dialogs import HelpScreen, PathPrompt
from kgfilters.tui.explain_pane import ExplainPane, summary_text
from kgfilters.tui.filter_screen import FilterScreen
from kgfilters.tui.param_form import ParamForm
from kgfilters.tui.query_pane import QueryPane
from tests.tui.conftest import GRAPH_TRIPLES, loaded

SIZE = (140, 48)


def plain(content: object) -> str:
    """What a Static shows, as plain text (markup stripped, tables rendered)."""
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def text_of(app: KgfApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static).content)


async def settle(app: KgfApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()


async def panels(app: KgfApp, pilot, timeout: float = 20.0) -> int:  # type: ignore[no-untyped-def]
    """The number of mask panels shown, once the panel worker's result is mounted (its message
    and the mount may land after the worker ends, later on a busy machine)."""
    import time

    end = time.monotonic() + timeout
    while not (n := len(app.screen.query(".panel"))) and time.monotonic() < end:
        await settle(app, pilot)
    return n


async def test_browse_layer_and_filter_shows_its_tags(tagged_run: Path) -> None:
    run = load_run(tagged_run)
    tagged = next(t for t in run.tags.tags if t.layer == "conv2")
    app = KgfApp(tagged_run)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one("#browser-tree", Tree)
        layers = [n.data for n in tree.root.children]
        assert layers == [("layer", "conv1"), ("layer", "conv2")]
        conv2 = tree.root.children[1]
        assert "64 filters" in str(conv2.label)
        node = next(n for n in conv2.children if n.data == ("filter", "conv2", tagged.filter))
        tree.focus()
        tree.move_cursor(node)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        tags = text_of(app, "#filter-tags")
        for t in run.tags.of_filter("conv2", tagged.filter):
            assert t.label in tags and f"{t.score:.4f}" in tags
        z = run.stats.z("conv2")[:, tagged.filter]
        assert f"{float(z[0]):.4f}" in text_of(app, "#filter-response")
        assert "No knowledge graph" in text_of(app, "#filter-concepts")
        assert "No sensitive areas" in text_of(app, "#filter-mask-caption")
        await pilot.press("right_square_bracket")
        assert app.screen.filter_index == (tagged.filter + 1) % 64
        await pilot.press("escape")
        assert not isinstance(app.screen, FilterScreen)


async def test_search_and_sort_rebuild_the_tree(tagged_run: Path) -> None:
    app = KgfApp(tagged_run)
    label = load_run(tagged_run).class_names[2]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await pilot.press(*label.lower())
        await pilot.pause()
        tree = app.query_one("#browser-tree", Tree)
        shown = [n for layer in tree.root.children for n in layer.children]
        assert shown and all(label in app.view.filter_row(*n.data[1:]).top_tags for n in shown)
        assert len(shown) == len(load_run(tagged_run).tags.of_class(2))
        await pilot.press("enter", "s")
        await pilot.pause()
        assert "activity" in text_of(app, "#browser-sort")


async def test_explain_figures_equal_explain_image_and_jump_to_filter(tagged_run: Path) -> None:
    run = load_run(tagged_run)
    app = KgfApp(tagged_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        pane = app.query_one(ExplainPane)
        assert pane.explanation is not None and pane.explanation.index == 0
        await pilot.press("n")
        await settle(app, pilot)
        want = explain_image(run, index=1)
        assert pane.explanation == want
        assert text_of(app, "#explain-summary") == plain(summary_text(want, run.class_names))
        table = app.query_one("#explain-filters", DataTable)
        assert table.row_count == len(want.top_filters)
        first = want.top_filters[0]
        assert table.get_row_at(0)[:3] == [first.layer, str(first.filter), f"{first.activation:.4f}"]
        assert table.get_row_at(0)[4] == ", ".join(run.class_names[t] for t in first.tags) or "-"
        assert f"confidence {want.confidence:.2%}" in text_of(app, "#explain-summary")
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert (app.screen.filter_layer, app.screen.filter_index) == (want.top_filters[2].layer,
                                                                      want.top_filters[2].filter)


async def test_next_misclassified_and_bad_index(tagged_run: Path) -> None:
    run = load_run(tagged_run)
    app = KgfApp(tagged_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        pane = app.query_one(ExplainPane)
        e = pane.explanation
        assert e is not None
        if e.index != 0:  # a tiny model may get every image right: then the status says so
            assert e.correct is False
            assert all(explain_image(run, index=i).correct for i in range(1, e.index))
        else:
            assert "no misclassified" in text_of(app, "#explain-status")
        await pilot.press("g")
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = "99999"
        await pilot.press("enter")
        await settle(app, pilot)
        assert text_of(app, "#explain-status") == "image 99999: this run's held-out images are numbered 0 to 59"


async def test_missing_parts_open_with_empty_states(trained_run: Path) -> None:
    app = KgfApp(trained_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "No tags yet" in text_of(app, "#browser-empty")
        await pilot.press("2")
        await settle(app, pilot)
        assert "No tags yet" in text_of(app, "#explain-status")
        await pilot.press("3")
        assert "No knowledge graph" in text_of(app, "#concept-status")
        await pilot.press("4", "ctrl+r")
        assert "No knowledge graph" in text_of(app, "#query-status")
        await pilot.press("1")
        tree = app.query_one("#browser-tree", Tree)
        tree.focus()
        tree.move_cursor(tree.root.children[0].children[0])
        await pilot.press("enter")
        await pilot.pause()
        assert "No tags yet" in text_of(app, "#filter-tags")
        assert "No statistics" in text_of(app, "#filter-response")
        assert "no masks yet; run `kgfilters sensitive" in text_of(app, "#filter-mask-caption")


async def test_masks_and_concepts_in_the_filter_view(full_run: Path) -> None:
    app = KgfApp(full_run)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.open_filter("conv2", 0)
        await settle(app, pilot)
        assert "mask 1/2: fsagn reservation, heldout image 3" in text_of(app, "#filter-mask-caption")
        assert "correlation 0.8750  response_ratio 0.2500" in text_of(app, "#filter-mask-caption")
        assert await panels(app, pilot) == 5
        titles = [plain(w.content).splitlines()[0] for w in app.screen.query(".panel")]
        assert titles == ["image", "feature map", "mask", "masked image", "new feature map"]
        await pilot.press("m")
        await settle(app, pilot)
        assert "mask 2/2: fsagn occlusion" in text_of(app, "#filter-mask-caption")
        assert await panels(app, pilot) == 5
        concepts = text_of(app, "#filter-concepts")
        assert "coarse: garment (covers 2 tags)   garment > clothing" in concepts
        assert "linked: zero -> http://conceptnet.io/c/en/shirt" in concepts


async def test_catalog_query_rows_broken_query_error_and_export(full_run: Path, catalog_dir: Path) -> None:
    app = KgfApp(full_run, catalog=tuple(catalog(catalog_dir).values()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.query_one(QueryPane)
        app.query_one("#query-catalog").focus()
        await pilot.press("enter")
        assert "coarseConcept" in app.query_one(TextArea).text
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        table = pane.query_one(DataTable)
        assert table.row_count == 2 and [c.label.plain for c in table.columns.values()] == ["f", "concept"]
        assert "2 rows" in text_of(app, "#query-status")
        app.query_one(TextArea).text = "SELECT ?s WHERE { ?s ?p }"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert "SPARQL syntax error" in text_of(app, "#query-status")
        app.query_one(TextArea).text = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert table.row_count == len(GRAPH_TRIPLES)  # the app stayed alive and runs the next query
        await pilot.press("ctrl+e")
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("enter")
        await settle(app, pilot)
        rows = list(csv.reader((full_run / "exports/query.csv").open()))
        assert rows[0] == ["s", "p", "o"] and len(rows) == len(GRAPH_TRIPLES) + 1


async def test_paging_fetches_more_rows(full_run: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("kgfilters.tui.query_pane.PAGE", 5)
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        app.query_one(TextArea).text = "SELECT * WHERE { ?s ?p ?o }"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        table = app.query_one(QueryPane).query_one(DataTable)
        assert table.row_count == 5 and "ctrl+n for more" in text_of(app, "#query-status")
        for _ in range(-(-len(GRAPH_TRIPLES) // 5) - 1):
            await pilot.press("ctrl+n")
            await settle(app, pilot)
        assert table.row_count == len(GRAPH_TRIPLES) and "more" not in text_of(app, "#query-status")


async def test_help_and_palette(tagged_run: Path) -> None:
    app = KgfApp(tagged_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        names = [n for n, _, _ in app.palette_actions()]
        assert {"view: Model", "view: Explain", "view: Concepts", "view: Query", "help",
                "explain: next misclassified", "query: export CSV"} <= set(names)
        await pilot.press("ctrl+p")
        await pilot.press(*"open filter conv2:13")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen) and app.screen.filter_index == 13


async def test_search_by_concept_name_queries_the_graph(full_run: Path) -> None:
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"garment")
        await settle(app, pilot)
        tree = app.query_one("#browser-tree", Tree)
        shown = [n.data for layer in tree.root.children for n in layer.children]
        assert shown == [("filter", "conv2", 0), ("filter", "conv2", 1)]


async def test_explain_an_image_file_and_a_bad_one(tagged_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    run = load_run(tagged_run)
    img, _ = run.splits.heldout[5]
    png = tmp_path / "five.png"
    Image.fromarray((img[0].numpy() * 255).round().astype("uint8")).save(png)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("o")
        app.screen.query_one(Input).value = str(png)
        await pilot.press("enter")
        await settle(app, pilot)
        pane = app.query_one(ExplainPane)
        assert pane.explanation == explain_image(run, image=str(png))
        assert str(png) in text_of(app, "#explain-summary")
        await pilot.press("o")
        app.screen.query_one(Input).value = str(tmp_path / "missing.png")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "missing.png: not a readable image" in text_of(app, "#explain-status")


async def test_query_parameters_form(full_run: Path, catalog_dir: Path) -> None:
    app = KgfApp(full_run, catalog=tuple(catalog(catalog_dir).values()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.query_one(QueryPane)
        form, table = pane.query_one(ParamForm), pane.query_one(DataTable)
        assert [i.name for i in form.query(Input)] == []  # the starter query declares none
        pane.query_one("#query-catalog").focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        fields = {i.name: i for i in form.query(Input)}
        assert list(fields) == ["c", "layer"]
        assert fields["c"].placeholder.startswith("required · the broader concept")
        assert fields["layer"].placeholder.startswith("default conv2")
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert text_of(app, "#query-status") == ("field c is empty: this query needs a value of type iri (the "
                                                 "broader concept, e.g. http://conceptnet.io/c/en/garment)")
        fields["c"].value = "not an iri"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert text_of(app, "#query-status").startswith("field c: 'not an iri' is not a value of type iri")
        assert "--param" not in text_of(app, "#query-status")
        fields["c"].value = "http://conceptnet.io/c/en/garment"
        fields["c"].focus()
        await pilot.press("enter")  # enter in a field runs the query
        await settle(app, pilot)
        assert table.row_count == 4 and "4 rows" in text_of(app, "#query-status")
        fields["layer"].value = "conv1"  # no filter of conv1 carries garment: the OPTIONAL is empty
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert table.row_count == 2
        # the form follows the header of whatever is in the editor; typed values are kept by name
        app.query_one(TextArea).text = "# param: c iri  a concept\nSELECT ?x WHERE { ?x skos:broader ?c }"
        await pilot.pause()
        assert [(i.name, i.value) for i in form.query(Input)] == [("c", "http://conceptnet.io/c/en/garment")]
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert table.row_count == 2
        form.query_one(Input).value = ""
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert "field c is empty: this query needs a value of type iri (a concept)" in text_of(app, "#query-status")
        app.query_one(TextArea).text = "SELECT ?s WHERE { ?s ?p ?o }"
        await pilot.pause()
        assert list(form.query(Input)) == [] and "no parameters" in plain(form.query_one(Static).content)


async def test_large_layers_start_collapsed(tagged_run: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("kgfilters.tui.browser.EXPAND_UP_TO", 40)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one("#browser-tree", Tree)
        assert [n.is_expanded for n in tree.root.children] == [True, False]
        await pilot.press("slash", "1")
        await pilot.pause()
        assert all(n.is_expanded for n in tree.root.children)


async def test_mask_keys_step_back_and_compare_methods(full_run: Path) -> None:
    import json

    import numpy as np

    from kgfilters.fsagn.masks_io import mask_key, save_npz

    doc = json.loads((full_run / "masks/metrics.json").read_text())
    res = doc["areas"][0]
    npz = full_run / res["mask_file"]
    arrays = dict(np.load(npz))
    arrays[mask_key("zeiler", res["image"])] = 1 - arrays[res["mask_key"]]
    save_npz(npz, arrays)
    doc["areas"].append({**res, "method": "zeiler", "mask_key": mask_key("zeiler", res["image"])})
    (full_run / "masks/metrics.json").write_text(json.dumps(doc))
    app = KgfApp(full_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.open_filter("conv2", 0)
        await settle(app, pilot)
        assert "filter: other method" in [n for n, _, _ in app.palette_actions()]
        await pilot.press("c")  # same image and strategy, the next method
        await settle(app, pilot)
        assert "mask 3/3: zeiler reservation, heldout image 3" in text_of(app, "#filter-mask-caption")
        await pilot.press("c")
        assert "mask 1/3: fsagn reservation" in text_of(app, "#filter-mask-caption")
        await pilot.press("M")  # back from the first wraps to the last
        assert "mask 3/3: zeiler" in text_of(app, "#filter-mask-caption")
        await settle(app, pilot)
        assert len(app.screen.query(".panel")) == 5
