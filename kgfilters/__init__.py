"""kgfilters: explain what each filter of a trained CNN has learnt, and keep it as a knowledge graph.

The Python API mirrors the CLI; start with ``kgfilters.load_run(path)``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from kgfilters.errors import KgfError

if TYPE_CHECKING:
    from kgfilters.run import Run, load_run

__all__ = ["KgfError", "Run", "__version__", "load_run"]


def __getattr__(name: str) -> Any:
    # ``kgfilters.load_run`` and ``kgfilters.Run`` import torch on first use (PEP 562), so the
    # graph and query commands start without it.
    if name in ("Run", "load_run"):
        from kgfilters import run

        return getattr(run, name)
    raise AttributeError(f"module 'kgfilters' has no attribute {name!r}")
