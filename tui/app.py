"""The kgfilters terminal UI: model browser, explain, concept and query views over one run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePath
from typing import ClassVar, TypeVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.lazy import Lazy
from textual.widgets import Footer, Header, TabbedContent, TabPane

from kgfilters.errors import KgfError
from kgfilters.queries.catalog import CatalogQuery
from kgfilters.queries.catalog import catalog as shipped_catalog
from kgfilters.stages import changed_since, generation
from kgfilters.tui.browser import BrowserPane
from kgfilters.tui.commands import KgfCommands
from kgfilters.tui.concept_pane import ConceptPane, SearchConcept
from kgfilters.tui.dialogs import HelpScreen
from kgfilters.tui.explain_pane import ExplainPane
from kgfilters.tui.filter_screen import FilterScreen
from kgfilters.tui.graphview import GraphView
from kgfilters.tui.messages import FilterChosen, StatsLoaded, TagsLoaded
from kgfilters.tui.query_pane import QueryPane
from kgfilters.tui.runview import RunView
from kgfilters.tui.summary_pane import SummaryPane
from kgfilters.tui.threads import DaemonExecutor

__all__ = ["VIEWS", "KgfApp"]

PaneT = TypeVar("PaneT")

#: Tab id -> (title, key).
VIEWS = {"browser": ("Model", "1"), "explain": ("Explain", "2"), "concepts": ("Concepts", "3"),
         "query": ("Query", "4"), "summary": ("Summary", "5")}

#: Tab id -> the widget focused when the view opens.
FOCUS = {"browser": "Tree", "explain": "#explain-filters", "concepts": "Tree", "query": "TextArea",
         "summary": "DataTable"}


class KgfApp(App[None]):
    """Open with ``KgfApp(run_dir)``; ``kgfilters tui RUN`` does that from the shell."""

    TITLE = "kgfilters"
    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "browser.tcss", "filter_screen.tcss", "explain_pane.tcss",
                "concept_pane.tcss", "query_pane.tcss", "dialogs.tcss", "summary_pane.tcss"]
    COMMANDS = App.COMMANDS | {KgfCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"show_view('{vid}')", title) for vid, (title, key) in VIEWS.items()),
        Binding("question_mark", "help", "Help"),
        Binding("r", "reload", "Reload", show=False),
        Binding("q", "quit", "Quit"),
    ]

    #: Seconds between looks at run.json's generation counter (a newer graph is announced).
    WATCH_S = 2.0

    def __init__(self, run: str | os.PathLike[str], *, catalog: tuple[CatalogQuery, ...] | None = None) -> None:
        super().__init__()
        self.root = Path(run)
        self._told: str | None = None
        self._open(run)
        self.catalog = tuple(shipped_catalog().values()) if catalog is None else catalog
        self.sub_title = Path(run).name

    def _open(self, run: str | os.PathLike[str]) -> None:
        if getattr(self, "graph", None) is not None:
            self.graph.shutdown()
        self.seen_generation = generation(run)
        # tags, statistics and masks are read in a worker after the first screen (``load_run_data``)
        self.view = RunView.open(run, lazy_stats=True, lazy_tags=True)
        try:
            self.graph = GraphView.open(self.view.run.paths.graph)
        except KgfError as exc:
            self.view.missing["graph"] = str(exc)
            self.graph = None
        if self.graph is None and "graph" not in self.view.missing:
            self.view.missing["graph"] = "no knowledge graph yet (graph/)"

    def on_load(self) -> None:
        # thread workers on daemon threads: quitting waits for none of them (tui/threads.py)
        asyncio.get_running_loop().set_default_executor(DaemonExecutor())

    async def action_quit(self) -> None:
        """Quit at once, except while a CSV export is being written: that one finishes first."""
        exports = [w for w in self.workers if w.group == "export" and w.is_running]
        if exports:
            self.notify("finishing the CSV export before quitting…", timeout=10)
            await self.workers.wait_for_complete(exports)
        self.exit()

    def on_mount(self) -> None:
        self.set_interval(self.WATCH_S, self.check_run)
        self.call_after_refresh(self.after_first_screen)

    def after_first_screen(self) -> None:
        """What the first screen does not wait for: the tags, the statistics (torch) and the masks
        (and, once the tags are read, the concepts)."""
        self.load_run_data(self.view)

    @work(thread=True, exclusive=True, group="run-data")
    def load_run_data(self, view: RunView) -> None:
        """Read the tags (then the browser fills in), the statistics (then the activity figures)
        and the masks (the filter view shows them), one after the other in this worker."""
        view.load_tags()
        view.layer_sizes  # noqa: B018  # remembered here: without tags they come from the statistics
        self.post_message(TagsLoaded(view))
        view.load_stats()
        self.post_message(StatsLoaded(view))
        view.load_masks()

    def on_tags_loaded(self, msg: TagsLoaded) -> None:
        if msg.view is not self.view:  # a run replaced by a reload meanwhile
            return
        for browser in self._views(BrowserPane):
            browser.tags_loaded()
        for concepts in self._views(ConceptPane):
            concepts.start_loading()
        for pane in self._views(ExplainPane):
            pane.tags_loaded()
            if self.screen is self.screen_stack[0] and self.query_one(TabbedContent).active == "explain":
                self._explain_first(pane)

    def on_stats_loaded(self, msg: StatsLoaded) -> None:
        if msg.view is self.view:  # not a run replaced by a reload meanwhile
            for browser in self._views(BrowserPane):
                browser.refresh_activity()

    def _views(self, kind: type[PaneT]) -> list[PaneT]:
        """The mounted widgets of type ``kind`` on the main screen, whatever screen is on top
        (a help or filter screen); none while the app is closing."""
        return list(self.screen_stack[0].query(kind)) if self.screen_stack else []  # type: ignore[arg-type]

    def check_run(self) -> None:
        """Say once when a stage has changed the run (and its graph) since it was opened."""
        line = changed_since(self.root, self.seen_generation)
        if line is not None and line != self._told:
            self._told = line
            self.notify(f"{line}. Press r to reload.", title="newer run on disk", timeout=20)

    async def action_reload(self) -> None:
        """Re-open the run and its graph and rebuild the views (key r)."""
        while isinstance(self.screen, FilterScreen):
            self.pop_screen()
        self._open(self.root)
        self._told = None
        await self.recompose()
        self.after_first_screen()
        self.notify(f"reloaded {self.root} (generation {self.seen_generation})", timeout=4)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="views", initial="browser"):
            with TabPane(VIEWS["browser"][0], id="browser"):
                yield BrowserPane(self.view, self.graph, id="browser-pane")
            # the hidden views are mounted after the first screen (``Lazy``): their styles, layout and
            # files (catalog, evaluation.json) cost the first screen nothing
            with TabPane(VIEWS["explain"][0], id="explain"):
                yield Lazy(ExplainPane(self.view, id="explain-pane"))
            with TabPane(VIEWS["concepts"][0], id="concepts"):
                # its tree is read once the tags are (the browser first), or when the view opens
                yield Lazy(ConceptPane(self.graph, autoload=self.view.tags_ready, id="concept-pane"))
            with TabPane(VIEWS["query"][0], id="query"):
                yield Lazy(QueryPane(self.graph, self.catalog, exports=self.view.run.paths.exports,
                                     run_root=self.view.root, id="query-pane"))
            with TabPane(VIEWS["summary"][0], id="summary"):
                yield Lazy(SummaryPane(self.view.root, id="summary-pane"))
        yield Footer()

    def palette_actions(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(name, help, callback) of every view and action, for the command palette."""
        out: list[tuple[str, str, Callable[[], object]]] = [
            (f"view: {title}", f"switch to the {title.lower()} view (key {key})",
             lambda v=vid: self.action_show_view(v)) for vid, (title, key) in VIEWS.items()
        ]
        b = self.query_one(BrowserPane)
        actions: list[tuple[str, str, str, Callable[[], object]]] = [
            ("browser", "search", "focus the search box", b.action_focus_search),
            ("browser", "cycle sort", "index, activity, tag count", b.action_cycle_sort),
        ]
        if (e := self._pane(ExplainPane)) is not None:  # mounted (after the first screen)
            actions += [
                ("explain", "next image", "explain the next held-out image", partial(e.action_step, 1)),
                ("explain", "previous image", "explain the previous held-out image", partial(e.action_step, -1)),
                ("explain", "next misclassified", "jump to the next image the model gets wrong", e.action_next_wrong),
                ("explain", "go to index", "explain a held-out image by index", e.action_goto),
                ("explain", "open image file", "explain an image file", e.action_open_file),
                ("explain", "hide generic filters", "hide or show filters tagged by most classes (key h)",
                 e.action_toggle_generic),
                ("explain", "sensitive areas", "where the separating filters look (key a)", e.action_toggle_areas),
            ]
        if (q := self._pane(QueryPane)) is not None:
            actions += [
                ("query", "run", "run the query in the editor", q.action_run_query),
                ("query", "more rows", "fetch the next page of results", q.action_more),
                ("query", "cancel", "cancel the running query", q.action_cancel),
                ("query", "export CSV", "write all results to a CSV file", q.action_export),
                ("query", "earlier query", "the previous query run in this session (ctrl+up)",
                 partial(q.action_history, -1)),
            ]
        out += [(f"{v}: {name}", h, partial(self._in, v, cb)) for v, name, h, cb in actions]
        if isinstance(self.screen, FilterScreen):
            f = self.screen
            out += [
                ("filter: next filter", "the next filter of this layer (key ])", partial(f.action_step, 1)),
                ("filter: previous filter", "the previous filter of this layer (key [)", partial(f.action_step, -1)),
                ("filter: next mask", "the next sensitive area of this filter (key m)", partial(f.action_step_mask, 1)),
                ("filter: previous mask", "the previous sensitive area (key M)", partial(f.action_step_mask, -1)),
                ("filter: other method", "the same image's mask by the next method (key c)", f.action_next_method),
                ("filter: concept tree", "this filter's coarse concept in the concept tree (key t)",
                 f.action_concept_tree),
                ("filter: back", "close the filter view (key escape)", self.pop_screen),
            ]
        out.append(("reload", "re-open the run and its graph (key r)", self.action_reload))
        out.append(("help", "key bindings and views", self.action_help))
        return out

    def _pane(self, kind: type[PaneT]) -> PaneT | None:
        """The app's pane of type ``kind``; None while it is not mounted yet (``Lazy``)."""
        panes = self.query(kind)
        return panes.first() if panes else None

    def _in(self, view: str, action: Callable[[], object]) -> None:
        self.action_show_view(view)
        action()

    def action_show_view(self, view: str) -> None:
        if isinstance(self.screen, FilterScreen):
            self.pop_screen()
        self.query_one(TabbedContent).active = view
        self.focus_view(view)

    def focus_view(self, view: str, *, tries: int = 100) -> None:
        """Focus the main widget of a view, so its key bindings apply (a view shown before it is
        mounted, just after the first screen, is focused once it is: up to ``tries`` refreshes)."""
        widgets = self.query(f"#{view} {FOCUS[view]}")
        if not widgets:
            if tries > 0:
                self.call_after_refresh(partial(self.focus_view, view, tries=tries - 1))
            return
        if self.query_one(TabbedContent).active != view:  # another view was chosen meanwhile
            return
        widgets.first().focus()
        if view == "summary":
            self.query_one(SummaryPane).reload()
        if view == "concepts":
            self.query_one(ConceptPane).start_loading()
        if view == "explain":
            self._explain_first(self.query_one(ExplainPane))

    def _explain_first(self, pane: ExplainPane) -> None:
        """Explain held-out image 0 when the explain view opens with nothing shown yet."""
        if pane.explanation is None and self.view.tags is not None and not pane.started:
            pane.start(index=0)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id in FOCUS:
            self.focus_view(event.pane.id)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_filter(self, layer: str, index: int) -> None:
        """Show the filter view of ``layer:index`` (replacing an open one)."""
        if not self.view.tags_ready:  # no layers yet (they come with the tags)
            self.notify("Still reading the run's tags: try again in a moment.", severity="warning")
            return
        if isinstance(self.screen, FilterScreen):
            self.pop_screen()
        self.push_screen(FilterScreen(self.view, self.graph, layer, index))

    def on_filter_chosen(self, msg: FilterChosen) -> None:
        self.open_filter(msg.layer, msg.index)

    def show_concept_of(self, layer: str, index: int) -> None:
        """The concept view at the most specific coarse concept of ``layer:index``."""
        pane = self._pane(ConceptPane)
        forest = pane.forest if pane is not None else None
        if pane is None or forest is None:
            self.notify("The concepts are not loaded (no knowledge graph, or still loading).", severity="warning")
            return
        hits = [c for c in forest.concepts.values() if (layer, index) in c.filters]
        if not hits:
            self.notify(f"Filter {layer}:{index} has no coarse concept.", severity="warning")
            return
        best = min(hits, key=lambda c: (c.filters_under, c.label, c.iri))
        self.action_show_view("concepts")
        pane.select_concept(best.iri)

    def on_search_concept(self, msg: SearchConcept) -> None:
        """List a concept's filters in the model browser (a search for its label)."""
        self.action_show_view("browser")
        self.query_one(BrowserPane).search_for(msg.label)
