"""RunView: every figure the TUI shows equals what load_run() gives; missing parts read as empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters.errors import KgfError, RunError
from kgfilters.fsagn.masks_io import load_masks, mask_key, save_npz
from kgfilters.hooks import capture
from kgfilters.run import load_run
from kgfilters.tui.runview import RunView
from tests.tui.conftest import MASK_IMAGE, write_masks


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


def _conv2_map(run, x: torch.Tensor, index: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """conv2's ReLU'd map of channel ``index`` for one image (1, C, H, W), through the hooks."""
    with capture(run.model, ["conv2"], lambda t: t.clamp_min(0)) as store, torch.no_grad():
        run.model(run.spec.prepare(x))
    return store["conv2"][0, index].numpy()


def test_mask_panels_are_the_papers_five(tagged_run: Path) -> None:
    write_masks(tagged_run)
    run, view = load_run(tagged_run), RunView.open(tagged_run)
    areas = view.masks_of("conv2", 0)
    assert [a.strategy for a in areas] == ["reservation", "occlusion"] and view.masks_of("conv2", 1) == ()
    x = run.splits.heldout[MASK_IMAGE][0][None]
    mask = np.load(tagged_run / areas[0].mask_file)[mask_key("fsagn", MASK_IMAGE)]
    for area, kept in zip(areas, (mask, 1 - mask), strict=True):
        p = view.mask_panels(area)
        assert np.array_equal(p.image[0], x[0].numpy()) and np.array_equal(p.mask[0], mask)
        assert np.allclose(p.masked_image[0], x[0].numpy() * kept)
        assert np.allclose(p.feature_map[0], _conv2_map(run, x, 0), atol=1e-6)
        assert np.allclose(p.new_feature_map[0], _conv2_map(run, torch.from_numpy(p.masked_image), 0), atol=1e-6)
        assert p.feature_map.shape == (1, 14, 14) and float(p.feature_map.max()) > 0


def test_mask_stacks_and_bad_masks(tagged_run: Path) -> None:
    write_masks(tagged_run)
    view = RunView.open(tagged_run)
    area = view.masks_of("conv2", 0)[0]
    rng = np.random.default_rng(0)
    stack = rng.random((5, 28, 28), dtype=np.float32)  # several images under one key: row `image` is this one
    save_npz(tagged_run / area.mask_file, {area.mask_key: stack})
    assert np.array_equal(view.mask_panels(area).mask[0], stack[MASK_IMAGE])
    save_npz(tagged_run / area.mask_file, {area.mask_key: stack[:2]})
    with pytest.raises(KgfError, match=r"has shape \(2, 28, 28\); expected \(H, W\), or \(N, H, W\) with image 3 < N"):
        view.mask_panels(area)
    save_npz(tagged_run / area.mask_file, {area.mask_key: stack[0, :14, :14]})
    with pytest.raises(KgfError, match=r"is \(14, 14\); the image is \(28, 28\)"):
        view.mask_panels(area)
    save_npz(tagged_run / area.mask_file, {"other": stack[0]})
    with pytest.raises(KgfError, match="cannot read mask 'fsagn_000003'"):
        view.mask_panels(area)
    bad = tagged_run / "masks/metrics.json"
    bad.write_text('{"areas": [{"layer": "conv2"}]}')
    with pytest.raises(RunError, match=r"metrics\.json: not a valid metrics file \(KeyError: 'filter'\)"):
        load_masks(tagged_run)
    bad.write_text("{nope")
    assert "metrics.json: not valid JSON (line 1" in RunView.open(tagged_run).missing["masks"]


def test_bars_are_relative_to_the_filters_best(tagged_run: Path) -> None:
    from kgfilters.tui.filter_screen import response_text, tags_table

    view = RunView.open(tagged_run)
    layer, index = next((r.layer, r.index) for r in view.filters("conv2") if len(r.tags) >= 2)
    z = view.response(layer, index)
    lines = response_text(view, layer, index).plain.splitlines()[1:]
    best = lines[int(np.argmax(z))]
    assert "\u2588" * 30 in best and f"{max(z):.4f}" in best
    table = tags_table(view, layer, index)
    bars = [str(c) for c in table.columns[1].cells]
    assert bars[0] == "\u2588" * 20 and bars[-1].count("\u2588") < 20  # best tag full, the rest shorter


def test_lazy_tags_read_once_on_any_thread_and_equal_the_eager_view(tagged_run: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    import kgfilters.filtag as filtag

    eager = RunView.open(tagged_run)
    reads: list[str] = []
    real = filtag.load_tags
    monkeypatch.setattr(filtag, "load_tags", lambda p: (reads.append(threading.current_thread().name), real(p))[1])
    view = RunView.open(tagged_run, lazy_stats=True, lazy_tags=True)
    assert not view.tags_ready and view.tags is None and reads == []
    assert view.layer_sizes == {} and view.layers() == () and view.filters("conv2") == ()
    with pytest.raises(RunError, match="filter conv2:0: not in this run"):
        view.filter_row("conv2", 0)
    threads = [threading.Thread(target=view.load_tags, name=f"reader-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reads) == 1 and reads[0].startswith("reader-") and view.tags_ready  # read once, off the caller
    assert view.tags == eager.tags and view.layer_sizes == eager.layer_sizes and view.layers() == eager.layers()
    assert [r.tags for r in view.filters("conv2")] == [r.tags for r in eager.filters("conv2")]
