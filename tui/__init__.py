"""kgfilters terminal UI (Textual): ``KgfApp(run_dir).run()``, or ``kgfilters tui RUN``."""

from kgfilters.tui.app import KgfApp

__all__ = ["KgfApp"]
