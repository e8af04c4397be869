"""The ? help: complete (every view, ctrl+q, Tab, the new keys) and never wrapped mid-entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text

from kgfilters.tui import KgfApp
from kgfilters.tui.app import VIEWS
from kgfilters.tui.dialogs import HELP_TEXT, HelpScreen


def test_help_names_every_view_and_key() -> None:
    plain = Text.from_markup(HELP_TEXT).plain
    for needle in ("ctrl+q", "Tab", "ctrl+p", "ctrl+e", "ctrl+r", "ctrl+n", "escape", "h      hide or show generic",
                   "f  the concept's filters", "act", "votes", "5 summary"):
        assert needle in plain, needle
    for _vid, (title, key) in VIEWS.items():
        assert f"{key} " in plain and title.lower()[:5] in plain.lower()


@pytest.mark.parametrize("size", [(80, 40), (140, 48)])
async def test_help_lines_are_not_wrapped(tagged_run: Path, size: tuple[int, int]) -> None:
    lines = Text.from_markup(HELP_TEXT).plain.split("\n")  # the closing newline shows as a blank line
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help-text")
        assert text.size.width >= max(len(line) for line in lines)  # one screen line per help line
        assert text.size.height == len(lines)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
