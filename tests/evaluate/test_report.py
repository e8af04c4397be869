"""Sections from other modules: merged when installed, left out when not, rendered generically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.figure import Figure, figures_from_dict
from kgfilters.evaluate.report import render_markdown
from kgfilters.evaluate.run import _causal_sections, headline_lines, parse_methods

ABLATION = {"layer": "conv2", "tagged": {"own_drop": 0.21, "own_drop_ci95": [0.15, 0.27], "other_drop": 0.01},
            "random": {"own_drop": 0.03, "own_drop_p95": 0.08, "other_drop": 0.02, "draws": 20}, "p_value": 0.004}


def test_fsagn_section_left_out_without_sensitive_areas(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    got = _causal_sections(tmp_path, layer="conv2", device=torch.device("cpu"), seed=0, progress=False,
                           ablation=False, fsagn=True)
    assert got == {} and "fsagn section left out" in caplog.text and "kgfilters sensitive" in caplog.text


def test_unknown_sections_render_generically() -> None:
    figs = figures_from_dict("ablation", ABLATION)
    names = {f.name: f for f in figs}
    assert names["tagged.own_drop"].value == 0.21 and names["p_value"].value == 0.004
    data = {"run": "runs/fm", "figures": [Figure("Hits@3", 0.75, (0.7, 0.8), {"random tags": 0.3}, 0.005,
                                                  "random tags", 0, "layer:conv2", "hits").to_dict()],
            "ablation": ABLATION}
    md = render_markdown(data)
    assert "## ablation" in md and "| tagged.own_drop | 0.210 |" in md and "| Hits@3 | 0.750 | [0.700, 0.800] |" in md
    line = next(x for x in headline_lines(data) if x.startswith("ablation (conv2): "))
    assert "drops its accuracy by 0.210 [0.150, 0.270]" in line and "random filters 0.030, 95th 0.080" in line
    assert "p 0.004" in line and "other classes 0.010 (random 0.020)" in line


def test_parse_methods() -> None:
    specs = parse_methods("contrastive:3, q-quantile, k-best:10")
    assert [(s.method, s.param) for s in specs] == [("contrastive", 3.0), ("q-quantile", 0.1), ("k-best", 10.0)]
    assert specs[0].label == "contrastive k=3" and parse_methods(None) == ()
    with pytest.raises(ConfigError, match="'best'"):
        parse_methods("best:3")
    with pytest.raises(ConfigError, match="must be a number"):
        parse_methods("contrastive:x")
