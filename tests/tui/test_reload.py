"""The app notices a run changed on disk (run.json's generation) and reloads it with r."""

from __future__ import annotations

from pathlib import Path

from kgfilters.run import record_stage
from kgfilters.tui import KgfApp


async def test_newer_run_is_announced_and_r_reloads(tagged_run: Path) -> None:
    app = KgfApp(tagged_run)
    app.WATCH_S = 3600.0  # the test calls check_run itself
    async with app.run_test(size=(120, 40)) as pilot:
        first = app.view
        app.check_run()
        await pilot.pause()
        assert not app._notifications  # nothing changed yet
        record_stage(tagged_run, "select", {"layer": "conv2", "targets": [3]})
        app.check_run()
        app.check_run()  # said once per change
        await pilot.pause()
        notes = list(app._notifications)
        assert len(notes) == 1 and "Press r to reload" in notes[0].message
        assert "`kgfilters select` finished" in notes[0].message
        seen = app.seen_generation
        await pilot.press("r")
        await pilot.pause()
        assert app.view is not first and app.seen_generation == seen + 1
        count = sum("Press r" in n.message for n in app._notifications)
        app.check_run()  # the reloaded generation is the one seen: nothing to announce
        await pilot.pause()
        assert sum("Press r" in n.message for n in app._notifications) == count
