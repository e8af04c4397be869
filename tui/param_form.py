"""A form for a catalog query's declared parameters (its ``# param:`` header lines)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from kgfilters.queries.catalog import Param

__all__ = ["ParamForm", "placeholder"]

#: Textual input types that refuse characters a parameter type cannot hold.
INPUT_TYPES = {"integer": "integer", "double": "number"}


def placeholder(p: Param) -> str:
    """What an empty field means: the default, or that the parameter is required, then its doc."""
    head = f"default {p.default}" if p.default is not None else "required"
    return f"{head} · {p.doc}" if p.doc else head


class ParamForm(Vertical):
    """One labelled Input per parameter (named after it); values typed stay when the parameters
    are shown again. ``values()`` holds the non-empty fields, as strings for ``bind_params``."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.params: tuple[Param, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("no parameters", classes="param-none")

    async def show(self, params: tuple[Param, ...]) -> None:
        """Rebuild the form for ``params`` (nothing to do when they are the ones shown)."""
        if params == self.params:
            return
        typed = self.values()
        self.params = params
        await self.remove_children()
        if not params:
            await self.mount(Static("no parameters", classes="param-none"))
            return
        await self.mount_all([
            Horizontal(Label(f"{p.name} ({p.type})", classes="param-label"),
                       Input(typed.get(p.name, ""), placeholder=placeholder(p), name=p.name,
                             type=INPUT_TYPES.get(p.type, "text"), classes="param-input"),  # type: ignore[arg-type]
                       classes="param-row")
            for p in params])

    def values(self) -> dict[str, str]:
        return {i.name: i.value.strip() for i in self.query(Input) if i.name and i.value.strip()}
