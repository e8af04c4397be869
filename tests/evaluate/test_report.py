"""Sections from other modules: merged when installed, left out when not, rendered generically."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from kgfilters.errors import ConfigError
from kgfilters.evaluate.figure import Figure, figures_from_dict
from kgfilters.evaluate.report import render_markdown
from kgfilters.evaluate.run import _external, headline_lines, parse_methods

ABLATION = {"layer": "conv2", "tagged": {"own_drop": 0.21, "other_drop": 0.01},
            "random": {"own_drop": 0.03, "other_drop": 0.02, "draws": 20}, "p_value": 0.004}


@dataclass(frozen=True)
class _Result:
    def to_dict(self) -> dict:  # type: ignore[type-arg]
        return ABLATION


def test_external_section_merged_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def ablation_run(root: Path, *, seed: int = 0) -> _Result:  # takes only some of the offered options
        seen.update(root=root, seed=seed)
        return _Result()

    mod = types.ModuleType("kgfilters.evaluate.ablation")
    mod.ablation_run = ablation_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kgfilters.evaluate.ablation", mod)
    got = _external("ablation", "kgfilters.evaluate.ablation", "ablation_run", Path("r"),
                    {"seed": 7, "device": "cpu", "layer": "conv2"})
    assert got == ABLATION and seen == {"root": Path("r"), "seed": 7}


def test_external_section_left_out_when_missing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    assert _external("fsagn", "kgfilters.evaluate.no_such_module", "f", Path("r"), {}) is None
    assert "left out" in caplog.text


def test_unknown_sections_render_generically() -> None:
    figs = figures_from_dict("ablation", ABLATION)
    names = {f.name: f for f in figs}
    assert names["tagged.own_drop"].value == 0.21 and names["p_value"].value == 0.004
    data = {"run": "runs/fm", "figures": [Figure("Hits@3", 0.75, (0.7, 0.8), {"random tags": 0.3}, 0.005,
                                                  "random tags", 0, "layer:conv2", "hits").to_dict()],
            "ablation": ABLATION}
    md = render_markdown(data)
    assert "## ablation" in md and "| tagged.own_drop | 0.210 |" in md and "| Hits@3 | 0.750 | [0.700, 0.800] |" in md
    assert any(line.startswith("ablation: ") for line in headline_lines(data))


def test_parse_methods() -> None:
    specs = parse_methods("contrastive:3, q-quantile, k-best:10")
    assert [(s.method, s.param) for s in specs] == [("contrastive", 3.0), ("q-quantile", 0.1), ("k-best", 10.0)]
    assert specs[0].label == "contrastive k=3" and parse_methods(None) == ()
    with pytest.raises(ConfigError, match="'best'"):
        parse_methods("best:3")
    with pytest.raises(ConfigError, match="must be a number"):
        parse_methods("contrastive:x")
