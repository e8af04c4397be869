"""Result cells as people read them: IRIs under a known namespace as prefixed names (``kgf:``,
``wn:``, ``run:``), long decimals rounded; the full value stays available. No Textual here."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from kgfilters.tui.graphview import PREFIXES

__all__ = ["CELL_PREFIXES", "cell_prefixes", "short_cell"]

#: Namespaces shown as prefixes in result cells, besides the run's own base IRI (``run:``).
CELL_PREFIXES: dict[str, str] = {
    **PREFIXES,
    "wn": "http://wordnet-rdf.princeton.edu/wn30/",
    "cn": "http://conceptnet.io/c/en/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "owl": "http://www.w3.org/2002/07/owl#",
}

_DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?\d+[eE][+-]?\d+$")


def cell_prefixes(run_base: str | None) -> dict[str, str]:
    """``CELL_PREFIXES`` plus ``run:`` for the run's base IRI (when known)."""
    return {**CELL_PREFIXES, **({"run": run_base} if run_base else {})}


def short_cell(text: str, prefixes: Mapping[str, str], *, digits: int = 4) -> str:
    """``text`` as shown in a cell: an IRI under one of ``prefixes`` (the longest namespace wins)
    as ``prefix:local``; a decimal number with more than ``digits`` significant digits rounded
    to ``digits`` (``0.03603153205825947`` -> ``0.03603``); anything else unchanged. Integers are
    never rounded (they are indices and counts)."""
    best = ""
    for prefix, ns in prefixes.items():
        if text.startswith(ns) and len(ns) > len(prefixes.get(best, "")) and len(text) > len(ns):
            best = prefix
    if best:
        return f"{best}:{text[len(prefixes[best]):]}"
    if _DECIMAL.match(text):
        v = float(text)
        if math.isfinite(v) and len(text.lstrip("+-").replace(".", "").lstrip("0")) > digits:
            if abs(v) >= 1:  # keep the integer part whole: 123456.789 -> 123457, 3.14159 -> 3.142
                return f"{v:.{max(0, digits - 1 - int(math.log10(abs(v))))}f}"
            return f"{v:.{digits}g}"
    return text
