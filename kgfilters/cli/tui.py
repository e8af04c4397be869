"""``kgfilters tui``: open a run in the terminal UI."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgfilters.cli.common import DEFAULT_RUN

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tui",
        help="browse a run's filters, tags, masks and graph in the terminal",
        description="Open a run directory in the terminal UI: model browser (layers, filters, tags), "
        "filter view (tags, concepts, FSAGN masks, responses), explanations of held-out images, "
        "the concept hierarchy and SPARQL queries over the run's graph. Press ? inside for keys.",
        epilog="example: kgfilters tui runs/fashion-mnist",
    )
    p.add_argument("run_dir", nargs="?", type=Path, default=None, metavar="RUN",
                   help=f"run directory (default: {DEFAULT_RUN})")
    p.add_argument("--run", "--run-dir", dest="run", type=Path, default=None, metavar="DIR",
                   help="run directory (same as the positional RUN)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.errors import ConfigError
    from kgfilters.tui import KgfApp

    if args.run_dir is not None and args.run is not None and args.run_dir != args.run:
        raise ConfigError(f"RUN {args.run_dir} and --run {args.run}: give the run directory once")
    root = args.run_dir or args.run or Path(DEFAULT_RUN)
    app = KgfApp(root)
    app.run()
    if app.return_code is not None:  # the app ran and was quit
        _exit_now(app.return_code)
    return 0


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, which takes over a second on a busy
    machine once torch is loaded, and would wait for reading threads. Safe here: the graph store is
    open read-only, the TUI writes nothing but CSV exports, and quitting waits for those."""
    import logging
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
