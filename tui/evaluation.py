"""The run's ``evaluation.json`` (``kgfilters evaluate``) as the TUI shows it: each headline figure
beside its chance baseline, its 95% interval and its p-value.

The reader is defensive: a section or key the file lacks is simply not shown, and a value of the
wrong type counts as missing. No Textual here, so tests compare the rows with the file directly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from kgfilters.errors import RunError

__all__ = ["EVALUATION_FILE", "Headline", "baseline_line", "headlines", "read_evaluation"]

#: Where ``kgfilters evaluate`` writes its figures, relative to the run directory.
EVALUATION_FILE = "evaluation.json"


@dataclass(frozen=True)
class Headline:
    """One figure: ``value`` with its ``ci95`` (None: not given), the ``baseline`` it must beat (as
    text, with its name), its ``p_value`` against that baseline and a ``note`` (e.g. the tie rule)."""

    section: str
    name: str
    value: float
    ci95: tuple[float, float] | None
    baseline: str
    p_value: float | None
    note: str = ""


def read_evaluation(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``evaluation.json`` of the run at ``root``; None when there is none, RunError when it is
    not a JSON object."""
    path = Path(root) / EVALUATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _get(d: Any, path: str) -> Any:
    for k in path.split("."):
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def _num(d: Any, path: str) -> float | None:
    v = _get(d, path)
    if isinstance(v, Mapping):  # a summary {mean: ...} or {value: ...} where a number was expected
        v = v.get("mean", v.get("value"))
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _ci(d: Any, path: str) -> tuple[float, float] | None:
    v = _get(d, path)
    if (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        return float(v[0]), float(v[1])
    return None


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _join(parts: list[tuple[str, float | None]]) -> str:
    return "; ".join(f"{name} {_f(v)}" for name, v in parts if v is not None)


def headlines(data: Mapping[str, Any]) -> tuple[Headline, ...]:
    """The headline figures of an evaluation (issue 10's keys), each with what it is compared to;
    a figure whose value is missing is left out."""
    out: list[Headline] = []

    def add(section: str, name: str, path: str, baseline: str, p: str | None, note: str = "",
            ci: str | None = None) -> None:
        value = _num(data, path)
        if value is not None:
            ci_path = ci if ci is not None else path.rsplit(".", 1)[0] + ".ci95"
            out.append(Headline(section, name, value, _ci(data, ci_path), baseline,
                                None if p is None else _num(data, p), note))

    n, layer = _num(data, "hits.n"), _get(data, "hits.layer")
    hits_name = f"Hits@{int(n)}" if n is not None else "Hits@n"
    tie = _get(data, "hits.tie_rule")
    ties = _join([("random tie-break", _num(data, "hits.tie_policies.random")),
                  ("pessimistic", _num(data, "hits.tie_policies.pessimistic"))])
    add("hits", hits_name + (f" ({layer})" if isinstance(layer, str) else ""), "hits.observed",
        _join([("random tags", _num(data, "hits.random_tags.mean")),
               ("95th", _num(data, "hits.random_tags.p95")),
               ("constant top-n", _num(data, "hits.constant_top_n"))]),
        "hits.random_tags.p_value",
        "; ".join(x for x in (f"tie rule: {tie}" if isinstance(tie, str) else "", ties) if x),
        ci="hits.ci95")
    add("hits vs accuracy", "hit goes with a correct prediction (per image)", "hits_vs_accuracy.per_image.effect",
        "no association 0.000", "hits_vs_accuracy.per_image.p_value")
    add("hits vs accuracy", "Pearson r over classes", "hits_vs_accuracy.per_class.r",
        "no association 0.000", "hits_vs_accuracy.per_class.p_value")
    perms = _num(data, "conformance.enrichment.permutations")
    add("conformance", "enrichment (multi-tag filters)", "conformance.enrichment.observed",
        _join([("class shuffle", _num(data, "conformance.enrichment.baseline_mean"))]),
        "conformance.enrichment.p_value", "" if perms is None else f"{int(perms)} permutations")
    add("conformance", "coverage (old rule)", "conformance.coverage.observed",
        _join([("class shuffle", _num(data, "conformance.coverage.baseline_mean"))]), None)
    a_layer = _get(data, "ablation.layer")
    where = f" ({a_layer})" if isinstance(a_layer, str) else ""
    draws = _num(data, "ablation.random.draws")
    add("ablation", f"own-class drop, tagged filters zeroed{where}", "ablation.tagged.own_drop",
        _join([("random filters", _num(data, "ablation.random.own_drop"))]), "ablation.p_value",
        "" if draws is None else f"{int(draws)} random draws", ci="ablation.tagged.own_drop_ci95")
    add("ablation", f"other-class drop, tagged filters zeroed{where}", "ablation.tagged.other_drop",
        _join([("random filters", _num(data, "ablation.random.other_drop"))]), None,
        ci="ablation.tagged.other_drop_ci95")
    for strategy in ("reservation", "occlusion"):
        for kind in ("soft", "hard"):
            base = f"fsagn.{strategy}.{kind}"
            add("fsagn", f"{strategy} fidelity, {kind} masks", f"{base}.fsagn",
                _join([("random", _num(data, f"{base}.random")), ("Zeiler", _num(data, f"{base}.zeiler")),
                       ("optimised", _num(data, f"{base}.optimised"))]), None, ci=f"{base}.fsagn.ci95")
    return tuple(out)


def baseline_line(root: str | os.PathLike[str]) -> str:
    """One line of Rich markup for the explain view: the run's Hits@n beside its baselines, or how
    to get it."""
    try:
        data = read_evaluation(root)
    except RunError as exc:
        return f"[red]{escape(str(exc))}[/red]"
    if data is None:
        return (f"[dim]No evaluation yet: run `kgfilters evaluate --run {escape(Path(root).name)}` for Hits@n "
                "beside its baselines.[/dim]")
    hits = [h for h in headlines(data) if h.section == "hits"]
    if not hits:
        return ""
    h = hits[0]
    ci = "" if h.ci95 is None else f" [{h.ci95[0]:.3f}, {h.ci95[1]:.3f}]"
    extra = "; ".join(x for x in (h.baseline, h.note) if x)
    return escape(f"Over all held-out images: {h.name} {h.value:.3f}{ci}" + (f" ({extra})" if extra else ""))
