"""FSAGN end to end on Fashion-MNIST with a quickly trained small network (session fixture)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters.cli import main
from kgfilters.errors import DataError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fit import (
    FitConfig,
    fit_generator,
    generate_masks,
    heldout_loss,
    new_generator,
)
from kgfilters.fsagn.generators import get_design
from kgfilters.fsagn.masks_io import load_masks
from kgfilters.fsagn.results import SensitiveSummary
from kgfilters.fsagn.stage import SensitiveOptions, load_generator, select_stage, sensitive_stage
from kgfilters.run import load_run

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")
OPTIONS = SensitiveOptions(
    num_images=12, train_images=1500, steps=100, batch_size=16, optimise_steps=30, figure_images=2
)


@pytest.fixture(scope="module")
def done(fm_run: Path) -> tuple[Path, object, dict]:
    sel = select_stage(fm_run, num_samples=300, k=2, device=CPU)
    summary = sensitive_stage(fm_run, options=OPTIONS, device=CPU)
    return fm_run, sel, summary


def test_selection_picks_active_filters_and_draws_the_diagram(done) -> None:  # type: ignore[no-untyped-def]
    root, sel, _ = done
    assert len(sel.targets) == 2 and sel.layer == "conv2"
    assert all(sel.active_fraction[f] > 0.9 for f in sel.targets)
    assert all(sel.scores[f] >= max(sel.scores) - 1e-12 or sel.scores[f] > 0 for f in sel.targets)
    assert (root / "figures" / "response_conv2.png").stat().st_size > 10_000
    stages = json.loads((root / "run.json").read_text())["stages"]
    assert stages["select"]["targets"] == list(sel.targets)
    assert stages["sensitive"]["records"] > 0


def test_fsagn_beats_random_masks_of_equal_area(done) -> None:  # type: ignore[no-untyped-def]
    _, sel, summary = done
    for f in sel.targets:
        res = summary.result("conv2", "reservation", f).method
        occ = summary.result("conv2", "occlusion", f).method
        # reservation keeps the filter's response better than random masks of equal area ...
        assert res("fsagn")["correlation"] > res("random")["correlation"] + 0.1
        assert res("fsagn")["rel_frobenius_error"] < res("random")["rel_frobenius_error"]
        assert res("fsagn")["area_fraction"] == pytest.approx(res("random")["area_fraction"])
        # ... and occlusion removes more of it
        assert occ("fsagn")["response_ratio"] < occ("random")["response_ratio"] - 0.1
        # the per-image optimised mask is the ceiling of the same loss
        assert occ("optimised")["response_ratio"] < occ("random")["response_ratio"]


def test_metrics_json_schema_masks_and_generators(done) -> None:  # type: ignore[no-untyped-def]
    root, sel, _ = done
    data = json.loads((root / "masks" / "metrics.json").read_text())
    types = {
        "layer": str,
        "filter": int,
        "strategy": str,
        "method": str,
        "split": str,
        "image": int,
        "area_fraction": float,
        "mask_file": str,
        "mask_key": str,
        "metrics": dict,
    }
    methods = set()
    for a in data["areas"]:
        assert all(isinstance(a[k], t) for k, t in types.items()), a
        assert a["strategy"] in ("reservation", "occlusion") and a["split"] == "heldout"
        assert all(isinstance(v, float) for v in a["metrics"].values())
        methods.add(a["method"])
    assert methods == {"fsagn", "zeiler", "optimised", "random"}
    ms = load_masks(root)
    assert len(ms.areas) == len(data["areas"])
    for a in ms.select(method="fsagn")[:8] + ms.select(method="zeiler")[:8]:
        m = ms.mask(a)
        assert m.shape == (28, 28) and m.dtype == np.float32
        assert 0.0 <= m.min() and m.max() <= 1.0
        assert float(m.mean()) == pytest.approx(a.area_fraction, abs=2e-3)
    for f in sel.targets:
        for s in ("reservation", "occlusion"):
            assert (root / "masks" / f"conv2_{f}_{s}.png").is_file()
    # the saved generator reproduces the saved masks
    gen, meta = load_generator(root / "masks" / "generators" / "conv2_occlusion.safetensors")
    run = load_run(root)
    bb = Backbone.of(run.model, run.spec, "conv2", meta["filters"])
    x = run.splits.heldout.images[:4].float() / 255
    again = generate_masks(bb, gen, x)
    a = ms.select(filter=meta["filters"][0], strategy="occlusion", method="fsagn")[0]
    assert np.allclose(again[a.image, 0].numpy(), ms.mask(a), atol=1e-5)


def test_many_filters_at_once_match_one_generator_each(done) -> None:  # type: ignore[no-untyped-def]
    """Tolerance: the shared generator's held-out loss (Eq. 2) per filter is within 15% + 0.02 of
    a generator trained for that filter alone, with the same steps and data."""
    root, sel, _ = done
    run = load_run(root)
    filters = list(sel.targets)
    x = run.splits.train.images[:1000].float() / 255
    held = run.splits.heldout.images[:32].float() / 255
    cfg = FitConfig("reservation", steps=60, batch_size=16)
    many_bb = Backbone.of(run.model, run.spec, "conv2", filters)
    many = new_generator(get_design("small-28"), 64, len(filters), "reservation")
    fit_generator(many_bb, many, x, cfg)
    many_loss = heldout_loss(many_bb, held, generate_masks(many_bb, many, held), "reservation")
    for j, f in enumerate(filters):
        bb = Backbone.of(run.model, run.spec, "conv2", [f])
        one = new_generator(get_design("small-28"), 64, 1, "reservation")
        fit_generator(bb, one, x, cfg)
        one_loss = float(heldout_loss(bb, held, generate_masks(bb, one, held), "reservation")[0])
        assert abs(float(many_loss[j]) - one_loss) <= 0.15 * one_loss + 0.02


def test_wrong_image_size_is_a_one_line_error(fm_run: Path) -> None:
    run = load_run(fm_run)
    bb = Backbone.of(run.model, run.spec, "conv2", [0])
    gen = get_design("small-28").build(64, 1)
    with pytest.raises(DataError, match=r"images of shape \(1, 1, 32, 32\)") as e:
        generate_masks(bb, gen, torch.zeros(1, 1, 32, 32))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["select", "--layer", "fc1"], "'fc1' is a Linear, not convolutional"),
        (["select", "--k", "65"], "--k 65: expected 1..64"),
        (["sensitive", "--filter", "conv2:64"], "filter conv2:64 out of range"),
        (["sensitive", "--filter", "conv2"], "--filter 'conv2': expected LAYER:INDEX"),
        (["sensitive", "--filter", "fc2:1"], "'fc2' is a Linear, not convolutional"),
        (["sensitive", "--filter", "conv2:1", "--images", "0"], "argument --images: 0: expected an integer >= 1"),
    ],
)
def test_cli_bad_input(fm_run: Path, capsys, argv: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    code = main([*argv, "--run", str(fm_run), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err


def test_cli_select_and_sensitive(fm_run: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "run"
    shutil.copytree(fm_run, root)
    shutil.rmtree(root / "masks", ignore_errors=True)
    assert main(["select", "--run", str(root), "--samples", "100", "--device", "cpu"]) == 0
    assert "target filters" in capsys.readouterr().out
    argv = [
        "sensitive",
        "--run",
        str(root),
        "--strategy",
        "occlusion",
        "--images",
        "3",
        "--steps",
        "5",
        "--train-images",
        "64",
        "--baseline",
        "random",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "occlusion" in out and "random" in out
    ms = load_masks(root)
    assert {a.method for a in ms.areas} == {"fsagn", "random"}
    # a second call for the other strategy keeps the first call's records
    assert main([*argv[:3], "--strategy", "reservation", *argv[5:]]) == 0
    assert {a.strategy for a in load_masks(root).areas} == {"reservation", "occlusion"}


def test_auto_filters_run_the_selection_first(fm_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "run"
    shutil.copytree(fm_run, root)
    cfg = json.loads((root / "run.json").read_text())
    cfg.get("stages", {}).pop("select", None)
    (root / "run.json").write_text(json.dumps(cfg))
    opts = SensitiveOptions(
        strategies=("occlusion",),
        baselines=(),
        num_images=2,
        train_images=16,
        steps=2,
        figure_images=1,
    )
    summary = sensitive_stage(root, options=opts, device=CPU)
    stages = json.loads((root / "run.json").read_text())["stages"]
    chosen = stages["select"]["targets"]
    assert len(chosen) == 2
    assert sorted(r.filter for r in summary.select(layer="conv2", strategy="occlusion")) == sorted(chosen)
    # metrics.json keeps its historical summary format, and the typed summary round-trips it
    data = json.loads((root / "masks" / "metrics.json").read_text())
    assert sorted(data["summary"]["filters"]["conv2"]["occlusion"]) == sorted(str(f) for f in chosen)
    assert SensitiveSummary.from_json(data["summary"]).to_json() == json.loads(json.dumps(data["summary"]))
