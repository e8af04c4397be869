"""Start-up and quitting: the first screen waits for no torch (the statistics follow in a worker and
then fill in the browser's activity figures, the tree and its cursor kept), and quitting waits for
no worker thread still reading."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import Tree

from kgfilters.tui import KgfApp
from kgfilters.tui.browser import filter_label
from kgfilters.tui.runview import RunView

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
        original()
    app.after_first_screen = hook
    async with app.run_test(size=(120, 40)):
        while "modules" not in seen:
            await asyncio.sleep(0.01)
        await app.workers.wait_for_complete()
        seen["after"] = "torch" in sys.modules and app.view.stats_ready
asyncio.run(main())
print(json.dumps(seen))
"""


def test_the_first_screen_imports_no_torch(tagged_run: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tagged_run)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["modules"] == [] and seen["layers"] == 2  # conv1 and conv2 shown, torch not loaded
    assert seen["after"] is True  # the worker then read the statistics (with torch)


async def test_activity_fills_in_after_the_first_screen_keeping_the_cursor(tagged_run: Path) -> None:
    eager = RunView.open(tagged_run)
    app = KgfApp(tagged_run, catalog=())
    loaded = threading.Event()
    original = app.view.load_stats
    app.view.load_stats = lambda: (loaded.wait(30), original())[1]  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
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
