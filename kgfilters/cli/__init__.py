"""The ``kgfilters`` command line: the one place that wires the four parts together.

Each module of this package that defines ``register(subparsers)`` contributes subcommands
(``ORDER`` sorts them in ``--help``); a subcommand's handler takes the parsed arguments and
returns the exit status. Errors of kgfilters (``KgfError``) print as one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["build_parser", "main"]

EPILOG = """examples:
  kgfilters demo                       train, tag, evaluate and explain on Fashion-MNIST
  kgfilters train --run runs/fm        train the small network, write runs/fm/model.safetensors
  kgfilters tag --run runs/fm --k 5    FILTAG k-best tags -> runs/fm/tags.json
  kgfilters explain --run runs/fm --index 7 --json
  kgfilters status --run runs/fm       each stage: done, stale or missing, and the command to run
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``kgfilters hits: error: argument --n: ...`` and a pointer to
    ``--help`` instead of the usage block (subcommand parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered by this package's modules."""
    parser = _Parser(
        prog="kgfilters",
        description="Explain what the filters of a trained CNN have learnt (FILTAG tags, FSAGN "
        "sensitive areas) and keep the explanations as a knowledge graph.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    from kgfilters import __version__

    parser.add_argument("--version", action="version", version=f"kgfilters {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            modules.append(mod)
    for mod in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from kgfilters.errors import KgfError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # an option argparse refused (one line, on stderr): its status
        if exc.code in (0, None):  # --help, --version
            raise
        return exc.code if isinstance(exc.code, int) else 2
    except BrokenPipeError:  # `kgfilters --help | head -1`
        return _broken_pipe()
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KgfError as exc:
        print(f"kgfilters {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kgfilters {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kgfilters validate RUN | head`: the reader left; say nothing
        return _broken_pipe()


def _broken_pipe() -> int:
    """Quiet exit after the reader of stdout went away: point stdout at /dev/null so that the
    interpreter's final flush does not raise again, and exit 141 (128 + SIGPIPE) as a shell
    command killed by SIGPIPE would. Commands write their files before printing, so nothing is
    left half-done."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
