"""Masks on demand: the masks computed for an image equal the run's trained generator's output
for that image (the stage's saved masks and a direct generator pass), for any image size."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kgfilters.errors import DataError
from kgfilters.explain_masks import masks_for_image, trained_generators
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fit import generate_masks
from kgfilters.fsagn.masks_io import load_masks, mask_key
from kgfilters.fsagn.outputs import load_generator
from kgfilters.fsagn.stage import SensitiveOptions, sensitive_stage
from kgfilters.run import load_run

CPU = torch.device("cpu")
FAST = SensitiveOptions(strategies=("reservation",), baselines=(), num_images=3, train_images=64, steps=3,
                        batch_size=16, figure_images=0)


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory: pytest.TempPathFactory, trained_run_template: Path) -> Path:
    root = tmp_path_factory.mktemp("masks") / "run"
    shutil.copytree(trained_run_template, root)
    sensitive_stage(root, filters=[("conv2", 1), ("conv2", 4)], options=FAST, device=CPU)
    return root


def test_masks_equal_the_generator_output_for_the_image(masked_run: Path) -> None:
    run = load_run(masked_run)
    assert set(trained_generators(masked_run)) == {("conv2", "reservation")}
    img, _ = run.splits.heldout[2]
    got = masks_for_image(run, img, [("conv2", 4), ("conv2", 9), ("conv1", 0), ("conv2", 1)])
    assert [(m.layer, m.filter, m.strategy) for m in got.masks] == [("conv2", 4, "reservation"),
                                                                  ("conv2", 1, "reservation")]
    assert got.missing == (("conv2", 9), ("conv1", 0))  # no generator was trained for these
    # the stage saved the same generator's masks of held-out image 2
    saved = load_masks(masked_run)
    for m in got.masks:
        area = next(a for a in saved.areas if (a.layer, a.filter, a.image, a.method) == (m.layer, m.filter, 2, "fsagn"))
        assert area.mask_key == mask_key("fsagn", 2)
        np.testing.assert_allclose(m.mask, saved.mask(area), atol=1e-6)
        assert m.mask.shape == (28, 28) and m.area == pytest.approx(float(m.mask.mean()))
    # and a direct pass of the loaded generator gives them too
    gen, meta = load_generator(masked_run / "masks" / "generators" / "conv2_reservation.safetensors")
    bb = Backbone.of(run.model, run.spec, "conv2", tuple(meta["filters"]))
    direct = generate_masks(bb, gen, img[None])[0]
    assert np.array_equal(got.masks[0].mask, direct[meta["filters"].index(4)].numpy())


def test_an_image_of_another_size_is_resized_like_the_model_input(masked_run: Path) -> None:
    run = load_run(masked_run)
    img, _ = run.splits.heldout[0]
    big = img.repeat_interleave(2, 1).repeat_interleave(2, 2)  # 56x56, bilinear-downsamples back exactly
    a = masks_for_image(run, img, [("conv2", 1)]).masks[0].mask
    b = masks_for_image(run, big, [("conv2", 1)]).masks[0].mask
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert torch.equal(F.interpolate(big[None], size=(28, 28), mode="bilinear", align_corners=False)[0], img)
    with pytest.raises(DataError, match=r"image of shape \(3, 28, 28\): expected \(1, H, W\)"):
        masks_for_image(run, img.expand(3, -1, -1), [("conv2", 1)])


def test_a_run_without_generators_reports_every_filter_missing(trained_run: Path) -> None:
    run = load_run(trained_run)
    img, _ = run.splits.heldout[0]
    got = masks_for_image(run, img, [("conv2", 1)])
    assert got.masks == () and got.missing == (("conv2", 1),)



def test_cli_explain_areas_json_summarises_the_masks(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from kgfilters.cli import main
    from kgfilters.explain import explain_image
    from kgfilters.explain_text import contrast
    from kgfilters.pipeline import tag_run

    tag_run(trained_run, method="k-best", param=3, device=CPU, progress=False)
    run = load_run(trained_run)
    index, sep = next((i, s) for i in range(60) if (s := contrast(explain_image(run, index=i)).separating))
    wanted = [(f.layer, f.filter) for f, _ in sep]
    sensitive_stage(trained_run, filters=wanted[:1], options=FAST, device=CPU)
    capsys.readouterr()
    assert main(["explain", "--run", str(trained_run), "--index", str(index), "--areas", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = masks_for_image(load_run(trained_run), run.splits.heldout[index][0], wanted)
    assert [(a["layer"], a["filter"], a["strategy"]) for a in out["sensitive_areas"]] == [
        (m.layer, m.filter, m.strategy) for m in want.masks] == [(*wanted[0], "reservation")]
    assert out["sensitive_areas"][0]["area"] == pytest.approx(want.masks[0].area, abs=1e-7)
    assert out["no_generator"] == [list(k) for k in wanted[1:]]
    assert main(["explain", "--run", str(trained_run), "--index", str(index), "--areas"]) == 0
    text = capsys.readouterr().out
    assert f"{wanted[0][0]}:{wanted[0][1]} reservation: {want.masks[0].area:.0%} of the image" in text
