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
[b]kgfilters tui[/b]: browse a run's filters, tags, masks, concepts and graph.

[b]Anywhere[/b]
  1 model browser · 2 explain · 3 concepts · 4 query · 5 summary (evaluation figures)
  Tab / shift+Tab   move between the parts of a view
  ctrl+p            command palette: every action, and any filter by name
  ?  this help      q  quit      ctrl+q  quit from anywhere, the query editor included
  r  reload the run after a stage changed it (the views say when)
[b]Model browser[/b]
  /      search a class, tag, concept label or notation; a number finds that filter index
  s      sort by index, activity or tag count
  space  open or close a layer (big layers start closed)      enter  open a filter
  act    a filter's mean response over the classes (mean z_c, FILTAG 2.1)
[b]Filter view[/b]
  [ / ]  previous / next filter        m / M  next / previous sensitive area
  c      the same image's mask by the next method             escape  back
  t      the filter's most specific coarse concept in the concept tree
[b]Explain[/b]
  n / p  next / previous image    m  next misclassified    g  go to an index
  o      open an image file (any size: resized as the model's preparation does)
  h      hide or show generic filters (tagged by at least 80% of the classes)
  a      where the separating filters look (FSAGN masks by the run's trained generators)
  enter  open the filter under the cursor
  votes  active filters tagged with the class; a tie goes to the higher summed activation
[b]Concepts[/b]
  enter  open a filter (escape comes back)   f  the concept's filters in the browser
[b]Query[/b]
  ctrl+r run    ctrl+n more rows    ctrl+e export CSV    (also from the editor)
  ctrl+up / ctrl+down   earlier / later query run in this session
  escape        cancel a running query; in the editor: leave it (to the results)
  enter         on a result cell: show its full value and copy it
  In the editor every key types, q and digits too: escape first to use the view keys.
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
