"""Modal questions and the help screen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

__all__ = ["HELP_TEXT", "HelpScreen", "PathPrompt"]

HELP_TEXT = """\
[b]kgfilters tui[/b]: browse a run's filters, tags, masks and graph.

[b]Views[/b]   1 model browser   2 explain   3 concepts   4 query   ctrl+p command palette
[b]Browser[/b] / search (class, tag, concept or index)   s sort (index, activity, tags)   enter open filter
          space expand or collapse a layer (big layers start collapsed; their filters load on expand)
[b]Filter[/b]  [ / ] previous / next filter   m / M next / previous mask   c same image, other method
          escape back
[b]Explain[/b] n / p next / previous image   m next misclassified   g go to index   o open image file
          enter on a filter row opens its filter view
[b]Query[/b]   ctrl+r run   escape cancel   ctrl+n more rows   ctrl+e export CSV
          a field per declared parameter (# param: lines); enter in a field runs the query
[b]Anywhere[/b] ? this help   r reload the run (after a stage changed it)   q quit
"""


class HelpScreen(ModalScreen[None]):
    """Key bindings and views, closed with escape or ?."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


class PathPrompt(ModalScreen[str | None]):
    """Ask for a path (or any one-line value); dismisses with the text, or None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.question, id="prompt-question")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
