"""Start-up and quitting: the first screen waits for neither the tags nor torch (a worker reads the
tags, which fill in the browser, then the statistics, which fill in its activity figures, the tree
and its cursor kept); keys pressed before the data arrive are handled; quitting waits for no worker
thread still reading."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import Static, Tree

from kgfilters.tui import KgfApp
from kgfilters.tui.browser import BrowserPane, filter_label
from kgfilters.tui.explain_pane import ExplainPane
from kgfilters.tui.filter_screen import FilterScreen
from kgfilters.tui.runview import RunView
from tests.tui.conftest import loaded

SIZE = (120, 40)

#: A fresh interpreter: which heavy modules are loaded when the first frame is painted.
CHILD = """
import asyncio, json, sys
from kgfilters.tui import KgfApp
seen = {}
async def main():
    app = KgfApp(sys.argv[1])
    original = app.after_first_screen
    def hook():
        seen["modules"] = sorted(m for m in ("torch", "torchvision", "networkx") if m in sys.modules)
        seen["layers"] = len(app.query_one("#browser-tree").root.children)
        seen["tags_ready"] = app.view.tags_ready
        original()
    app.after_first_screen = hook
    async with app.run_test(size=(120, 40)):
        while "modules" not in seen:
            await asyncio.sleep(0.01)
        while not app.view.stats_ready:
            await asyncio.sleep(0.01)
        await app.workers.wait_for_complete()
        seen["after"] = "torch" in sys.modules and app.view.stats_ready
        seen["layers_after"] = len(app.query_one("#browser-tree").root.children)
asyncio.run(main())
print(json.dumps(seen))
"""


def test_the_first_screen_imports_no_torch(tagged_run: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tagged_run)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["modules"] == [] and seen["tags_ready"] is False  # neither torch nor the tags read
    assert seen["layers"] == 0 and seen["layers_after"] == 2  # conv1 and conv2 shown once they are
    assert seen["after"] is True  # the worker then read the statistics (with torch)


async def test_activity_fills_in_after_the_first_screen_keeping_the_cursor(tagged_run: Path) -> None:
    eager = RunView.open(tagged_run)
    app = KgfApp(tagged_run, catalog=())
    loaded = threading.Event()
    original = app.view.load_stats
    app.view.load_stats = lambda: (loaded.wait(30), original())[1]  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        while not app.view.tags_ready:  # read first, in the same worker
            await pilot.pause(0.01)
        await pilot.pause()
        tree = app.query_one("#browser-tree", Tree)
        conv2 = next(n for n in tree.root.children if n.data == ("layer", "conv2"))
        leaf = conv2.children[3]
        assert "act   -" in leaf.label.plain and not app.view.stats_ready  # first screen: no statistics yet
        tree.move_cursor(leaf)
        loaded.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.view.stats_ready and tree.cursor_node is leaf  # labels updated in place
        for node in conv2.children:
            want = filter_label(eager.filter_row("conv2", int(node.data[2])))
            assert node.label.plain == Text.from_markup(want).plain and "act   -" not in want


def slow_tags(app: KgfApp) -> threading.Event:
    """Make ``app`` read its tags only once the returned event is set (the real reading, later)."""
    release = threading.Event()
    original = app.view.load_tags
    app.view.load_tags = lambda: (release.wait(30), original())[1]  # type: ignore[method-assign]
    return release


async def test_the_first_screen_comes_before_the_tags_and_the_browser_fills_in_after(tagged_run: Path) -> None:
    eager = RunView.open(tagged_run)
    app = KgfApp(tagged_run, catalog=())
    release = slow_tags(app)
    first: list[tuple[bool, int, str]] = []
    original = app.after_first_screen

    def hook() -> None:
        first.append((app.view.tags_ready, len(app.query_one("#browser-tree", Tree).root.children),
                      str(app.query_one("#browser-empty", Static).content)))
        original()

    app.after_first_screen = hook  # type: ignore[method-assign]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.3)
            assert first == [(False, 0, "Reading the run's tags…")]  # painted without the tags
            assert not app.view.tags_ready and app.view.layer_sizes == {} and app.view.tags is None
            assert "reading the run's tags" in str(app.query_one("#explain-status", Static).content)
            release.set()
            await loaded(pilot)
            tree = app.query_one("#browser-tree", Tree)
            assert [n.data for n in tree.root.children] == [("layer", "conv1"), ("layer", "conv2")]
            conv2 = tree.root.children[1]
            assert len(conv2.children) == 64 and not app.query_one("#browser-empty", Static).display
            for node in conv2.children:
                want = filter_label(eager.filter_row("conv2", int(node.data[2])))
                assert node.label.plain == Text.from_markup(want).plain
            assert app.view.layer_sizes == eager.layer_sizes == {"conv1": 32, "conv2": 64}
    finally:
        release.set()


async def test_keys_pressed_before_the_tags_arrive(tagged_run: Path) -> None:
    """Every view, a search, a sort, a filter and an explanation asked for before the tags are read:
    nothing fails, and each takes effect once they are."""
    app = KgfApp(tagged_run, catalog=())
    release = slow_tags(app)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("enter", "space", "s", "slash", *"coat", "enter")  # browser: empty tree
            app.open_filter("conv2", 0)  # no layers yet: a notice, no filter view
            await pilot.press("3", "4", "5", "question_mark", "escape", "2", "n")
            await pilot.pause(0.2)
            assert not app.view.tags_ready and app.query_one(ExplainPane).explanation is None
            assert "then explaining held-out image 0" in str(app.query_one("#explain-status", Static).content)
            assert not isinstance(app.screen, FilterScreen)
            release.set()
            await loaded(pilot)
            pane = app.query_one(ExplainPane)
            assert pane.explanation is not None and pane.explanation.index == 0  # the one asked for
            await pilot.press("1")
            await pilot.pause()
            browser = app.query_one(BrowserPane)
            assert browser.query == "coat" and browser.sort == "activity"
            want = [r.index for r in app.view.filters("conv2", query="coat", sort="activity")]
            assert want and browser._rows["conv2"] and [r.index for r in browser._rows["conv2"]] == want
            app.open_filter("conv2", want[0])
            await pilot.pause()
            assert isinstance(app.screen, FilterScreen)
    finally:
        release.set()


def test_quitting_does_not_wait_for_a_reading_worker(tagged_run: Path) -> None:
    app = KgfApp(tagged_run, catalog=())
    release = threading.Event()
    quit_at: list[float] = []

    async def pilot(p) -> None:  # type: ignore[no-untyped-def]
        await p.pause()
        app.run_worker(lambda: release.wait(30), thread=True, group="slow-read")  # a slow query, say
        await p.pause(0.2)
        quit_at.append(time.perf_counter())
        await p.press("ctrl+q")

    try:
        app.run(headless=True, size=SIZE, auto_pilot=pilot)  # asyncio.run, as ``kgfilters tui`` runs it
        elapsed = time.perf_counter() - quit_at[0]
        assert app.return_code == 0
        assert elapsed < 10, f"quitting took {elapsed:.1f} s: it waited for the reading worker"
    finally:
        release.set()
