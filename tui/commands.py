"""Command palette: every view and action, and every filter by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from kgfilters.tui.app import KgfApp

__all__ = ["KgfCommands"]


class KgfCommands(Provider):
    """Views and actions from ``KgfApp.palette_actions()``; filters as ``open filter conv2:13``."""

    def _entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: KgfApp = self.app  # type: ignore[assignment]
        entries = list(app.palette_actions())
        for layer, n in app.view.layer_sizes.items():
            for i in range(n):
                entries.append((f"open filter {layer}:{i}", "filter view", partial(app.open_filter, layer, i)))
        return entries

    async def discover(self) -> Hits:
        app: KgfApp = self.app  # type: ignore[assignment]
        for name, help_text, cb in app.palette_actions():
            yield DiscoveryHit(name, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, cb in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)
