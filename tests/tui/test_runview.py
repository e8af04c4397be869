"""RunView: every figure the TUI shows equals what load_run() gives; missing parts read as empty."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters.errors import RunError
from kgfilters.run import load_run
from kgfilters.tui.runview import RunView, load_masks
from tests.tui.conftest import write_masks


def test_layers_filters_and_responses_equal_load_run(tagged_run: Path) -> None:
    run, view = load_run(tagged_run), RunView.open(tagged_run)
    assert [r.name for r in view.layers()] == list(run.tags.layer_sizes)
    for layer in view.layers():
        mat = run.tags.matrix(layer.name)
        assert layer.filters == run.tags.layer_sizes[layer.name] == mat.shape[1]
        assert layer.tagged == int(mat.any(0).sum())
        z = run.stats.z(layer.name)
        for i in range(layer.filters):
            row = view.filter_row(layer.name, i)
            assert row.activity == pytest.approx(float(torch.nanmean(z[:, i])), rel=1e-12)
            assert set(row.tags) == set(run.tags.of_filter(layer.name, i))
            assert view.response(layer.name, i) == tuple(float(v) for v in z[:, i])
            scores = [t.score for t in row.tags]
            assert scores == sorted(scores, reverse=True)


def test_search_and_sort(tagged_run: Path) -> None:
    view = RunView.open(tagged_run)
    rows = view.filters("conv2", sort="activity")
    acts = [r.activity for r in rows]
    assert acts == sorted(acts, reverse=True) and len(rows) == 64
    by_tags = view.filters("conv2", sort="tags")
    assert [len(r.tags) for r in by_tags] == sorted((len(r.tags) for r in by_tags), reverse=True)
    label = view.class_names[4]
    hits = view.filters("conv2", query=label.upper())
    assert hits and all(label in r.top_tags for r in hits)
    assert len(hits) == len(load_run(tagged_run).tags.of_class(4)) - sum(
        1 for t in load_run(tagged_run).tags.of_class(4) if t.layer != "conv2")
    assert [r.index for r in view.filters("conv2", query="7")] == [7]
    assert view.filters("conv2", query="garment", concepts={("conv2", 5): ("http://x/garment",)})[0].index == 5
    with pytest.raises(RunError, match="sort 'size': expected one of index, activity, tags"):
        view.filters("conv2", sort="size")
    with pytest.raises(RunError, match="filter conv2:64: not in this run"):
        view.filter_row("conv2", 64)


def test_missing_parts_are_recorded_not_raised(trained_run: Path) -> None:
    view = RunView.open(trained_run)
    assert view.tags is None and view.stats is None and view.masks == ()
    assert {"tags", "stats", "masks"} <= set(view.missing)
    assert view.layer_sizes == {"conv1": 32, "conv2": 64}  # from the model itself
    assert view.filter_row("conv1", 0).activity is None and view.response("conv1", 0) is None


def test_no_run_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no run here yet"):
        RunView.open(tmp_path)


def test_masks_round_trip_and_panels(tmp_path: Path) -> None:
    path = write_masks(tmp_path)
    areas = load_masks(path)
    assert [a.strategy for a in areas] == ["reservation", "occlusion"]
    assert areas[0].metrics == {"fidelity": 0.875, "iou": 0.25}
    doc = json.loads(path.read_text())
    assert areas[0].area_fraction == doc["areas"][0]["area_fraction"]


def test_mask_panels_and_bad_masks(tagged_run: Path) -> None:
    write_masks(tagged_run)
    view = RunView.open(tagged_run)
    areas = view.masks_of("conv2", 0)
    assert len(areas) == 2 and view.masks_of("conv2", 1) == ()
    panels = view.mask_panels(areas[0])
    assert next(iter(panels)) == "mask" and set(panels) == {"mask", "image", "feature_map", "masked_image",
                                                         "new_feature_map"}
    npz = np.load(tagged_run / "masks/conv2-0.npz")
    assert np.array_equal(panels["masked_image"], npz["masked_image"])
    bad = tagged_run / "masks/metrics.json"
    bad.write_text('{"areas": [{"layer": "conv2"}]}')
    with pytest.raises(RunError, match=r"metrics\.json: not a valid metrics file \(KeyError: 'filter'\)"):
        load_masks(bad)
    bad.write_text("{nope")
    assert "masks" in RunView.open(tagged_run).missing
    with pytest.raises(RunError, match="not a valid metrics file \\(JSONDecodeError"):
        load_masks(bad)
