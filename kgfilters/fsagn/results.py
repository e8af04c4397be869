"""Typed results of the ``sensitive`` stage: frozen dataclasses instead of five-level dicts.

``masks/metrics.json`` keeps its JSON ``summary`` exactly as before
(``filters[layer][strategy][filter]["methods"][method][figure]``, ``timing``, ``options``);
``SensitiveSummary.from_json`` reads it and ``to_json`` writes it back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kgfilters.errors import ConfigError

__all__ = ["FilterResult", "MethodResult", "SensitiveSummary"]


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class MethodResult:
    """One mask source's figures for one filter: means over the images where the filter responds
    (``area_fraction``, ``correlation``, ``rel_frobenius_error``, ``response_ratio``, and for occlusion
    ``true_prob_drop``, ``correct_before``, ``correct_after``; see ``fsagn.fidelity``)."""

    method: str
    figures: Mapping[str, float] = field(hash=False)

    def __getitem__(self, figure: str) -> float:
        return self.figures[figure]


@dataclass(frozen=True)
class FilterResult:
    """The sensitive-area figures of one filter under one strategy, per method."""

    layer: str
    strategy: str
    filter: int
    images: int
    train_final_loss: float | None
    methods: tuple[MethodResult, ...]

    def method(self, name: str) -> MethodResult:
        """The figures of method ``name``; ConfigError naming the methods computed."""
        for m in self.methods:
            if m.method == name:
                return m
        raise ConfigError(f"method {name!r} not computed for {self.layer}:{self.filter} {self.strategy}; "
                          f"computed: {', '.join(m.method for m in self.methods)}")


@dataclass(frozen=True)
class SensitiveSummary:
    """What ``sensitive_stage`` measured: one ``FilterResult`` per (layer, strategy, filter), the
    speeds per layer (``timing[layer][name]``, masks/s or seconds) and the options used."""

    filters: tuple[FilterResult, ...]
    timing: Mapping[str, Mapping[str, float]] = field(hash=False)
    options: Mapping[str, Any] = field(hash=False)

    def select(
        self, *, layer: str | None = None, strategy: str | None = None, filter: int | None = None
    ) -> tuple[FilterResult, ...]:
        """The results matching every given field, in stage order."""
        return tuple(
            r for r in self.filters
            if (layer is None or r.layer == layer) and (strategy is None or r.strategy == strategy)
            and (filter is None or r.filter == filter)
        )

    def result(self, layer: str, strategy: str, filter: int) -> FilterResult:
        """The one result of (layer, strategy, filter); ConfigError naming what exists."""
        got = self.select(layer=layer, strategy=strategy, filter=filter)
        if not got:
            have = ", ".join(f"{r.layer}:{r.filter} {r.strategy}" for r in self.filters) or "none"
            raise ConfigError(f"no sensitive-area result for {layer}:{filter} {strategy}; results: {have}")
        return got[0]

    @classmethod
    def from_json(cls, summary: Mapping[str, Any]) -> SensitiveSummary:
        """Read the ``summary`` object of ``masks/metrics.json``."""
        results = [
            FilterResult(
                layer, strategy, int(f), int(s["images"]),
                None if s.get("train_final_loss") is None else float(s["train_final_loss"]),
                tuple(MethodResult(m, _frozen({k: float(v) for k, v in figs.items()}))
                      for m, figs in s["methods"].items()),
            )
            for layer, per_strategy in summary.get("filters", {}).items()
            for strategy, per_filter in per_strategy.items()
            for f, s in per_filter.items()
        ]
        timing = {layer: _frozen({k: float(v) for k, v in t.items()}) for layer, t in summary.get("timing", {}).items()}
        return cls(tuple(results), _frozen(timing), _frozen(summary.get("options", {})))

    def to_json(self) -> dict[str, Any]:
        """The ``summary`` object of ``masks/metrics.json``, in its historical format."""
        filters: dict[str, Any] = {}
        for r in self.filters:
            filters.setdefault(r.layer, {}).setdefault(r.strategy, {})[str(r.filter)] = {
                "images": r.images,
                "train_final_loss": r.train_final_loss,
                "methods": {m.method: dict(m.figures) for m in r.methods},
            }
        return {"filters": filters, "timing": {k: dict(v) for k, v in self.timing.items()},
                "options": dict(self.options)}
