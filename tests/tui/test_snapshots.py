"""SVG snapshots of the main views (pytest-textual-snapshot); update with --snapshot-update."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from kgfilters.queries.catalog import catalog
from kgfilters.tui import KgfApp
from tests.tui.conftest import loaded

SIZE = (120, 40)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_browser(snap_compare, tagged_run: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(KgfApp(tagged_run, catalog=()), terminal_size=SIZE, run_before=loaded)


def test_browser_search_sorted(snap_compare, tagged_run: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(KgfApp(tagged_run, catalog=()), terminal_size=SIZE, run_before=loaded,
                        press=["slash", *"coat", "enter", "s"])


def test_filter_view_with_masks_and_concepts(snap_compare, full_run: Path) -> None:  # type: ignore[no-untyped-def]
    async def open_filter(pilot: Pilot) -> None:
        await loaded(pilot)
        pilot.app.open_filter("conv2", 0)  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(KgfApp(full_run, catalog=()), terminal_size=(120, 80), run_before=open_filter)


def test_explain_view(snap_compare, tagged_run: Path) -> None:  # type: ignore[no-untyped-def]
    async def explain(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)

    assert snap_compare(KgfApp(tagged_run, catalog=()), terminal_size=SIZE, run_before=explain)


def test_concept_tree(snap_compare, full_run: Path) -> None:  # type: ignore[no-untyped-def]
    async def concepts(pilot: Pilot) -> None:
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(KgfApp(full_run, catalog=()), terminal_size=SIZE, run_before=concepts)


def test_explain_view_generic_hidden(snap_compare, tagged_run: Path) -> None:  # type: ignore[no-untyped-def]
    async def explain(pilot: Pilot) -> None:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("h")
        await pilot.pause()

    assert snap_compare(KgfApp(tagged_run, catalog=()), terminal_size=(80, 40), run_before=explain)


def test_query_view_results(snap_compare, full_run: Path, catalog_dir: Path) -> None:  # type: ignore[no-untyped-def]
    async def query(pilot: Pilot) -> None:
        await pilot.press("4")
        pilot.app.query_one("#query-catalog").focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        field = pilot.app.query_one("#query-form Input", Input)
        field.value = "http://conceptnet.io/c/en/garment"
        field.focus()
        await pilot.press("enter")
        await settle(pilot)

    app = KgfApp(full_run, catalog=tuple(catalog(catalog_dir).values()))
    assert snap_compare(app, terminal_size=SIZE, run_before=query)


def test_empty_states(snap_compare, trained_run: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(KgfApp(trained_run, catalog=()), terminal_size=SIZE, run_before=loaded)
