"""FSAGN evaluation: equal-area baselines (known answers), the matched-area optimum, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.fsagn_eval import (
    METHODS,
    binarise,
    blob_masks,
    blob_scores,
    fsagn_evaluation,
    fsagn_evaluation_run,
    permuted_masks,
    rank_order,
    rearrange,
)
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fit import optimise_masks
from tests.fsagn.conftest import PATCH_SPEC, PatchNet


def _soft(n: int = 3, k: int = 2, side: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, k, side, side, generator=torch.Generator().manual_seed(seed))


def _connected(mask: torch.Tensor) -> bool:
    """Whether the ones of a binary (H, W) mask form one 4-connected region (flood fill)."""
    ones = {(int(i), int(j)) for i, j in mask.nonzero().tolist()}
    if not ones:
        return True
    todo, seen = [next(iter(ones))], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        i, j = p
        todo += [q for q in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)) if q in ones and q not in seen]
    return seen == ones


def test_rearrange_places_the_largest_values_on_the_best_pixels() -> None:
    masks = torch.tensor([[[[0.1, 0.9], [0.5, 0.3]]]])
    scores = torch.tensor([[[[4.0, 1.0], [2.0, 3.0]]]])  # pixel order 0, 3, 2, 1
    assert torch.equal(rearrange(masks, rank_order(scores)), torch.tensor([[[[0.9, 0.1], [0.3, 0.5]]]]))


def test_random_and_blob_masks_have_exactly_the_same_values_and_area() -> None:
    soft = _soft()
    for fn in (permuted_masks, blob_masks):
        out = fn(soft, seed=4)
        assert torch.equal(out.flatten(-2).sort(-1).values, soft.flatten(-2).sort(-1).values)
        assert not torch.equal(out, soft)
    hard = binarise(soft)
    for fn in (permuted_masks, blob_masks):
        out = fn(hard, seed=5)
        assert torch.equal(out.flatten(-2).sum(-1), hard.flatten(-2).sum(-1))  # equal area, exactly
    assert torch.equal(permuted_masks(soft, seed=1), permuted_masks(soft, seed=1))


def test_binarise_keeps_the_area_in_pixels() -> None:
    soft = _soft(side=10)
    hard = binarise(soft)
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(hard.flatten(-2).sum(-1), (soft.flatten(-2).mean(-1) * 100).round())


@pytest.mark.parametrize("area", [0.03, 0.2, 0.5])
def test_blob_is_one_contiguous_disc(area: float) -> None:
    soft = torch.full((4, 3, 16, 16), 0.0)
    soft.view(4, 3, -1)[..., : round(area * 256)] = 1.0  # binary masks of that area, in a line
    blobs = blob_masks(soft, seed=2)
    scores = blob_scores(soft.shape, seed=2)
    for n in range(4):
        for k in range(3):
            b = blobs[n, k]
            assert int(b.sum()) == round(area * 256)
            assert _connected(b)
            # a disc: every pixel inside is at least as near the centre as every pixel outside
            assert scores[n, k][b > 0].min() >= scores[n, k][b == 0].max()


def test_matched_area_optimum_has_the_requested_area() -> None:
    model, spec = PatchNet().eval(), PATCH_SPEC
    x = torch.zeros(2, 1, 28, 28)
    x[0, :, 4:12, 4:12] = 1.0
    x[1, :, 14:24, 10:20] = 1.0
    bb = Backbone.of(model, spec, "conv2", [0, 1])
    start = torch.full((2, 2, 28, 28), 0.2)
    target = torch.tensor([[0.1, 0.25], [0.15, 0.3]])
    raw = optimise_masks(bb, x, "reservation", steps=30, area=target, init=start)
    assert torch.allclose(raw.flatten(-2).mean(-1), target, atol=0.03)
    free = optimise_masks(bb, x, "reservation", steps=30, init=start)
    assert (free.flatten(-2).mean(-1) - target).abs().max() > 0.05  # without the penalty it drifts
    soft = _soft(2, 2, 28)
    matched = rearrange(soft, rank_order(raw))
    assert torch.equal(matched.flatten(-2).sort(-1).values, soft.flatten(-2).sort(-1).values)


def test_fsagn_evaluation_on_a_hand_built_network() -> None:
    model = PatchNet().eval()
    x = torch.zeros(6, 1, 28, 28)
    for i in range(6):
        x[i, :, 2 + 3 * i : 10 + 3 * i, 4:12] = 1.0
    bb = Backbone.of(model, PATCH_SPEC, "conv2", [0, 1])
    # a "generator" that knows the answer: the bright patch itself (plus a little)
    good = (x > 0).float().expand(-1, 2, -1, -1) * 0.9 + 0.05
    ev = fsagn_evaluation(bb, x, {"reservation": good}, optimise_steps=3, stride=4, boot_draws=100)
    d = ev.to_dict()
    res = d["reservation"]
    assert set(res) == {"soft", "hard"} and set(res["soft"]) == set(METHODS)
    for fam in ("soft", "hard"):
        areas = {m: v["area"] for m, v in res[fam].items()}
        assert max(areas.values()) - min(areas.values()) < 1e-9  # every baseline at FSAGN's area
        assert res[fam]["fsagn"]["pairs"] == 12
        assert res[fam]["fsagn"]["ci95"][0] <= res[fam]["fsagn"]["mean"] <= res[fam]["fsagn"]["ci95"][1]
    # keeping the patch keeps the map; a random placement of the same values does not
    assert res["hard"]["fsagn"]["mean"] > 0.99
    assert res["hard"]["random"]["mean"] < res["hard"]["fsagn"]["mean"] - 0.2
    assert d["filters"] == [0, 1] and d["images"] == 6 and d["measure"] == {"reservation": "correlation"}
    with pytest.raises(ConfigError, match="expected"):
        fsagn_evaluation(bb, x, {"reservation": good[:, :1]})
    with pytest.raises(ConfigError, match="strategy"):
        fsagn_evaluation(bb, x, {"deletion": good})


@pytest.mark.slow
def test_fsagn_evaluation_run_end_to_end(trained_run: Path) -> None:
    from kgfilters.fsagn.stage import SensitiveOptions, select_stage, sensitive_stage

    select_stage(trained_run, num_samples=64, k=2, device=torch.device("cpu"))
    opts = SensitiveOptions(num_images=4, train_images=64, steps=3, batch_size=8, optimise_steps=2,
                            figure_images=1, stride=4, baselines=("random",))
    sensitive_stage(trained_run, options=opts, device=torch.device("cpu"))
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    ev = fsagn_evaluation_run(trained_run, images=6, extra_filters=2, steps=3, optimise_steps=2,
                              boot_draws=100, progress=False)
    d = ev.to_dict()
    assert len(d["filters"]) == len(d["selected"]) + 2 and not set(d["selected"]) & set(d["extra"])
    assert d["images"] == 6
    for strategy in ("reservation", "occlusion"):
        for fam in ("soft", "hard"):
            assert set(d[strategy][fam]) == set(METHODS)
    assert {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()} == before  # writes nothing
