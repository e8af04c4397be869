"""Filter selection rule, fidelity figures, and the masks/metrics.json round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kgfilters.errors import ConfigError, RunError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fidelity import mask_fidelity, pearson
from kgfilters.fsagn.masks_io import load_masks, mask_key, save_npz, write_metrics
from kgfilters.fsagn.select import select_filters


def test_select_filters_picks_consistent_not_silent_or_occasional() -> None:
    n = 20
    resp = torch.zeros(n, 5)
    resp[:, 0] = 10.0  # always bright
    resp[::2, 1] = 50.0  # very bright on half the samples only
    resp[:, 3] = 4.0 + torch.arange(n) % 3  # always moderately on
    # filter 2 and 4 silent
    scores, targets = select_filters(resp, k=2, quantile=0.1)
    assert targets.tolist() == [0, 3]
    assert scores[2] == 0 and scores[4] == 0 and scores[1] == 0
    _, all_active = select_filters(resp, k=5)
    assert all_active.tolist() == [0, 3]  # silent/occasional filters never become targets
    with pytest.raises(ConfigError, match=r"--k 6: expected 1\.\.5"):
        select_filters(resp, k=6)
    with pytest.raises(ConfigError, match=r"--quantile 1\.5"):
        select_filters(resp, quantile=1.5)


def test_pearson_known_answers() -> None:
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert pearson(a, 2 * a + 1).item() == pytest.approx(1.0)
    assert pearson(a, -a).item() == pytest.approx(-1.0)
    assert pearson(a, torch.ones(2, 2)).item() == 0.0


def test_mask_fidelity_full_and_empty_masks(patchnet) -> None:  # type: ignore[no-untyped-def]
    model, spec = patchnet
    bb = Backbone.of(model, spec, "conv2", [0])
    img = torch.zeros(1, 1, 28, 28)
    img[0, 0, 5:8, 5:8] = 1.0
    img[0, 0, 20:24, 14:18] = 1.0
    ones, zeros = torch.ones(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    keep = mask_fidelity(bb, img, ones, "reservation")
    assert keep["rel_frobenius_error"].item() == pytest.approx(0.0)
    assert keep["correlation"].item() == pytest.approx(1.0)
    assert keep["area_fraction"].item() == 1.0
    cut = mask_fidelity(bb, img, ones, "occlusion")
    assert cut["response_ratio"].item() == 0.0
    assert mask_fidelity(bb, img, zeros, "occlusion")["response_ratio"].item() == pytest.approx(1.0)
    half = zeros.clone()
    half[..., 4:9, 4:9] = 1.0  # keep only the first patch: half of the response
    f = mask_fidelity(bb, img, half, "reservation")
    assert f["response_ratio"].item() == pytest.approx(
        (1 / 5) ** 0.5, rel=1e-4
    )  # 1 of the response's units kept, the 2x2 patch gives 4 more units of equal value


def test_metrics_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mask = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    save_npz(tmp_path / "masks" / "conv2_3_reservation.npz", {mask_key("fsagn", 7): mask})
    rec = {
        "layer": "conv2",
        "filter": 3,
        "strategy": "reservation",
        "method": "fsagn",
        "split": "heldout",
        "image": 7,
        "area_fraction": float(mask.mean()),
        "mask_file": "masks/conv2_3_reservation.npz",
        "mask_key": "fsagn_000007",
        "metrics": {"correlation": 0.9},
    }
    write_metrics(tmp_path, [rec], {"note": "x"})
    ms = load_masks(tmp_path)
    assert len(ms.areas) == 1 and ms.summary == {"note": "x"}
    a = ms.areas[0]
    assert (a.layer, a.filter, a.image, a.metrics["correlation"]) == ("conv2", 3, 7, 0.9)
    assert np.array_equal(ms.mask(a), mask)
    assert ms.select(strategy="occlusion") == () and ms.select(filter=3) == (a,)


def test_load_masks_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunError, match="no masks yet"):
        load_masks(tmp_path)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "metrics.json").write_text(json.dumps({"areas": [{"layer": "x"}]}))
    with pytest.raises(RunError, match="not a valid metrics file"):
        load_masks(tmp_path)
