"""Messages the TUI's widgets and workers post: small dataclasses, handled by the app or a pane."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

__all__ = ["FilterChosen", "StatsLoaded", "TagsLoaded", "WorkFailed"]


@dataclass
class FilterChosen(Message):
    """The user picked a filter (browser, explanation, concept tree, palette)."""

    layer: str
    index: int


@dataclass
class WorkFailed(Message):
    """A worker failed with a user-facing one-line message."""

    where: str
    text: str
    detail: Any = None


@dataclass
class StatsLoaded(Message):
    """The run's statistics were read (``RunView.load_stats``, in a worker after the first screen)."""

    view: Any


@dataclass
class TagsLoaded(Message):
    """The run's tags were read (``RunView.load_tags``, in a worker after the first screen)."""

    view: Any
