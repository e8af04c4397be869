"""Pilot tests of the model browser's behaviour on big layers: lazy filter nodes, a tree kept when
a key changes nothing, and the debounced concept search (counted graph queries, no wall clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Tree

from kgfilters.run import load_run
from kgfilters.tui import KgfApp
from kgfilters.tui.browser import BrowserPane
from tests.tui.conftest import loaded

SIZE = (140, 48)


async def settle(app: KgfApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()


def shown(tree: Tree) -> list[tuple[object, ...]]:
    return [n.data for layer in tree.root.children for n in layer.children]


async def test_a_big_layer_gets_its_filters_when_expanded_and_stays_open(
        tagged_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kgfilters.tui.browser.EXPAND_UP_TO", 40)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one("#browser-tree", Tree)
        conv1, conv2 = tree.root.children
        assert len(conv1.children) == 32 and not conv2.is_expanded and not conv2.children
        assert conv2.allow_expand  # shown as expandable although its nodes are not built yet
        tree.focus()
        tree.move_cursor(conv2)
        await pilot.press("space")
        await pilot.pause()
        assert [n.data for n in conv2.children] == [("filter", "conv2", i) for i in range(64)]
        await pilot.press("s")  # re-sorting keeps the layer the user opened open, in the new order
        await pilot.pause()
        conv2 = tree.root.children[1]
        want = [r.index for r in app.view.filters("conv2", sort="activity")]
        assert conv2.is_expanded and [n.data[2] for n in conv2.children] == want


async def test_search_matching_more_than_a_screen_keeps_the_layer_collapsed(
        tagged_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kgfilters.tui.browser.EXPAND_UP_TO", 2)
    run = load_run(tagged_run)
    label = run.class_names[2]
    matches = sorted(t.filter for t in run.tags.of_class(2) if t.layer == "conv2")
    assert len(matches) > 2
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *label.lower(), "enter")
        await pilot.pause()
        tree = app.query_one("#browser-tree", Tree)
        conv2 = tree.root.children[1]
        assert f"{len(matches)} shown" in str(conv2.label)
        assert not conv2.is_expanded and not conv2.children
        tree.move_cursor(conv2)
        await pilot.press("space")
        await pilot.pause()
        assert [n.data for n in conv2.children] == [("filter", "conv2", i) for i in matches]


async def test_a_key_that_changes_no_match_keeps_the_tree(tagged_run: Path) -> None:
    label = load_run(tagged_run).class_names[2]
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *label.lower())
        await pilot.pause()
        tree = app.query_one("#browser-tree", Tree)
        before = [*tree.root.children, *(n for layer in tree.root.children for n in layer.children)]
        await pilot.press("space")  # the search strips blanks: the same filters match
        await pilot.pause()
        after = [*tree.root.children, *(n for layer in tree.root.children for n in layer.children)]
        assert len(after) == len(before) and all(a is b for a, b in zip(after, before, strict=True))
        await pilot.press(*["backspace"] * (len(label) + 1))  # no search: every filter, a new tree
        await pilot.pause()
        assert tree.root.children[0] is not before[0]
        assert len(shown(tree)) == 32 + 64


async def test_concept_search_waits_for_the_last_key_and_skips_known_misses(
        full_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kgfilters.tui.browser.CONCEPT_DELAY_S", 1.0)
    app = KgfApp(full_run, catalog=())
    assert app.graph is not None
    asked: list[str] = []
    real = BrowserPane.concept_hits

    def spy(self: BrowserPane, graph: object, text: str) -> dict[tuple[str, int], tuple[str, ...]]:
        asked.append(text)
        return real(self, graph, text)  # type: ignore[arg-type]

    monkeypatch.setattr(BrowserPane, "concept_hits", spy)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one("#browser-tree", Tree)
        await pilot.press("slash", *"garmentx")
        await settle(app, pilot)
        assert asked == ["garmentx"]  # one graph query for the whole word, none per key
        assert shown(tree) == []
        await pilot.press("y")  # "garmentxy" contains "garmentx", which matched no concept
        await settle(app, pilot)
        assert asked == ["garmentx"] and shown(tree) == []
        await pilot.press("backspace", "backspace")
        await settle(app, pilot)
        assert asked == ["garmentx", "garment"]
        assert shown(tree) == [("filter", "conv2", 0), ("filter", "conv2", 1)]
