"""One reported figure beside its chance baseline, interval and p-value: the unit every section
gives to ``evaluation.md``, the ``evaluation`` named graph and the demo's headline lines."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Figure", "figures_from_dict", "fmt", "fmt_p"]


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for people: ``n/a`` for None or NaN, else ``digits`` decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A p-value for people: 3 decimals down to 0.001, else two significant digits (5.0e-04)."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


@dataclass(frozen=True)
class Figure:
    """A figure: its value and, where it has them, the 95% interval, the chance baselines it is
    compared to (name -> value), its p-value against ``null_model`` and the seed that makes the
    resampling reproducible. ``evaluates`` names what it is about (``layer:conv2``, ``tags``)."""

    name: str
    value: float | None
    ci95: tuple[float, float] | None = None
    baselines: Mapping[str, float | None] = field(default_factory=dict)
    p_value: float | None = None
    null_model: str | None = None
    seed: int | None = None
    evaluates: str | None = None
    section: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "section": self.section, "value": self.value,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "baselines": dict(self.baselines), "p_value": self.p_value,
            "null_model": self.null_model, "seed": self.seed, "evaluates": self.evaluates,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Figure:
        ci = d.get("ci95")
        return cls(str(d["name"]), d.get("value"), None if ci is None else (float(ci[0]), float(ci[1])),
                   dict(d.get("baselines") or {}), d.get("p_value"), d.get("null_model"), d.get("seed"),
                   d.get("evaluates"), str(d.get("section", "")))

    def line(self) -> str:
        """``name 0.747 [0.728, 0.766] (random tags 0.290; p 0.005)``: the headline form."""
        text = f"{self.name} {fmt(self.value)}"
        if self.ci95 is not None:
            text += f" [{fmt(self.ci95[0])}, {fmt(self.ci95[1])}]"
        extra = [f"{k} {fmt(v)}" for k, v in self.baselines.items()]
        if self.p_value is not None:
            extra.append(f"p {fmt_p(self.p_value)}")
        return text + (f" ({'; '.join(extra)})" if extra else "")


def _leaves(obj: Any, prefix: str) -> Iterator[tuple[str, float]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, float(obj)


def figures_from_dict(section: str, tree: Mapping[str, Any]) -> tuple[Figure, ...]:
    """Figures of a section that gives no ``figures`` list of its own (e.g. one merged from
    another module): every numeric leaf of ``tree`` as a bare figure named by its key path; a
    sibling ``ci95`` pair and ``p_value`` are attached to the leaf ``value``/``observed`` beside them."""
    if isinstance(tree.get("figures"), list):
        return tuple(Figure.from_dict({**f, "section": section}) for f in tree["figures"])
    out: list[Figure] = []

    def walk(node: Mapping[str, Any], path: str) -> None:
        ci = node.get("ci95")
        p = node.get("p_value")
        lone_p = not any(k in node for k in ("value", "observed", "effect", "r"))  # a p-value of its own
        for k, v in node.items():
            name = f"{path}.{k}" if path else k
            if isinstance(v, Mapping):
                walk(v, name)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and (k != "p_value" or lone_p):
                attach = k in ("value", "observed", "effect", "r")
                ok_ci = attach and isinstance(ci, list) and len(ci) == 2
                out.append(Figure(name, float(v), (float(ci[0]), float(ci[1])) if ok_ci else None,
                                  {}, float(p) if attach and isinstance(p, (int, float)) else None,
                                  section=section))

    walk(tree, "")
    return tuple(out)
