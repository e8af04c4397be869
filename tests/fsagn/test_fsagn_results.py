"""SensitiveSummary: the typed form of metrics.json's summary, round-tripped exactly."""

from __future__ import annotations

import json

import pytest

from kgfilters.errors import ConfigError
from kgfilters.fsagn.results import SensitiveSummary

SUMMARY = {
    "filters": {
        "conv2": {
            "reservation": {
                "25": {"images": 8, "train_final_loss": 0.25,
                       "methods": {"fsagn": {"area_fraction": 0.2, "correlation": 0.9},
                                   "random": {"area_fraction": 0.2, "correlation": 0.3}}},
                "27": {"images": 7, "train_final_loss": 0.3,
                       "methods": {"fsagn": {"area_fraction": 0.1, "correlation": 0.8}}},
            },
            "occlusion": {"25": {"images": 8, "train_final_loss": None,
                                 "methods": {"fsagn": {"area_fraction": 0.3, "response_ratio": 0.4}}}},
        }
    },
    "timing": {"conv2": {"zeiler_masks_per_s": 12.5}},
    "options": {"steps": 100, "strategies": ["reservation", "occlusion"]},
}


def test_round_trip_and_lookups() -> None:
    s = SensitiveSummary.from_json(SUMMARY)
    assert s.to_json() == SUMMARY
    assert json.loads(json.dumps(s.to_json())) == SUMMARY
    assert [(r.strategy, r.filter) for r in s.filters] == [("reservation", 25), ("reservation", 27), ("occlusion", 25)]
    r = s.result("conv2", "reservation", 25)
    assert r.images == 8 and r.method("random")["correlation"] == 0.3
    assert [r.filter for r in s.select(strategy="reservation")] == [25, 27]
    assert s.timing["conv2"]["zeiler_masks_per_s"] == 12.5
    with pytest.raises(ConfigError, match="computed: fsagn"):
        s.result("conv2", "reservation", 27).method("zeiler")
    with pytest.raises(ConfigError, match="no sensitive-area result for conv2:3 occlusion"):
        s.result("conv2", "occlusion", 3)
    with pytest.raises(TypeError):
        s.timing["conv2"]["x"] = 1.0  # type: ignore[index]
