"""Every figure the toolkit reports, beside its chance baseline and its uncertainty.

``evaluate_run(root, ...) -> Evaluation`` runs every section on a run directory (see
``kgfilters.evaluate.run``); the sections are pure tensor functions in ``tags``, ``hits``,
``correlation`` and ``conformance``, with resampling helpers in ``resampling``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Evaluation", "Figure", "MethodSpec", "evaluate_run", "parse_methods"]


def __getattr__(name: str) -> Any:  # re-exports resolved on first use: no torch import for a submodule
    if name in ("Evaluation", "MethodSpec", "evaluate_run", "parse_methods"):
        from kgfilters.evaluate import run

        return getattr(run, name)
    if name == "Figure":
        from kgfilters.evaluate.figure import Figure

        return Figure
    raise AttributeError(f"module 'kgfilters.evaluate' has no attribute {name!r}")
