"""The peak-to-input mapping, layer/filter/image validation, and the early-stopping forward."""

from __future__ import annotations

import pytest
import torch

from kgfilters.errors import DataError, LayerError
from kgfilters.fsagn.backbone import Backbone, peak_positions, to_pixels
from kgfilters.models import FsagnMnistNet, get_model_spec


def test_peak_positions_known_answer() -> None:
    r = torch.zeros(1, 2, 14, 14)
    r[0, 0, 3, 10] = 5.0
    r[0, 1, 13, 0] = 1.0
    p = peak_positions(r)
    assert torch.allclose(p[0, 0], torch.tensor([10.5 / 14, 3.5 / 14]))
    assert torch.allclose(p[0, 1], torch.tensor([0.5 / 14, 13.5 / 14]))
    assert torch.allclose(to_pixels(p, (28, 28))[0, 0], torch.tensor([20.5, 6.5]))


def test_peak_maps_back_onto_the_bright_patch(patchnet) -> None:  # type: ignore[no-untyped-def]
    model, spec = patchnet
    bb = Backbone.of(model, spec, "conv2", [0])
    for y, x in [(6, 20), (15, 3), (22, 22)]:
        img = torch.zeros(1, 1, 28, 28)
        img[0, 0, y - 1 : y + 2, x - 1 : x + 2] = 1.0  # 3x3 patch centred on (y, x)
        px = to_pixels(peak_positions(bb.responses(img)), (28, 28))[0, 0]
        # one 2x2 pooling cell holds the patch centre: mapped point is within half a cell
        assert abs(px[0].item() - x) <= 1.0 and abs(px[1].item() - y) <= 1.0


def test_backbone_validates_layer_filter_and_images() -> None:
    model, spec = FsagnMnistNet(), get_model_spec("fsagn-mnist")
    with pytest.raises(LayerError, match=r"conv2:64 out of range.*0\.\.63"):
        Backbone.of(model, spec, "conv2", [3, 64])
    with pytest.raises(LayerError, match="'fc1' is a Linear, not convolutional"):
        Backbone.of(model, spec, "fc1", [0])
    with pytest.raises(LayerError, match="unknown layer 'conv9'"):
        Backbone.of(model, spec, "conv9", [0])
    bb = Backbone.of(model, spec, "conv2", [1])
    with pytest.raises(DataError, match=r"\(2, 1, 32, 32\).*expects \(B, 1, 28, 28\)"):
        bb.check_images(torch.zeros(2, 1, 32, 32))


def test_forward_stops_at_layer_and_leaves_no_hook() -> None:
    model, spec = FsagnMnistNet(), get_model_spec("fsagn-mnist")
    bb = Backbone.of(model, spec, "conv1", [0, 5])
    calls = []
    model.fc1.register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(3, 1, 28, 28)
    feats, r = bb.inputs_and_responses(x)
    assert feats.shape == (3, 64, 14, 14) and r.shape == (3, 2, 28, 28)
    r_only = bb.responses(x)
    assert torch.allclose(r_only, r) and not calls
    assert not model.conv1._forward_hooks and not model.conv2._forward_hooks
    masked = torch.rand(3, 2, 1, 28, 28)
    rm = bb.responses_masked(masked)
    assert torch.allclose(rm[:, 1], bb.responses(masked[:, 1])[:, 1], atol=1e-6)
    assert all(not p.requires_grad for p in model.parameters())


def test_no_hook_is_left_after_a_failed_forward() -> None:
    model, spec = FsagnMnistNet(), get_model_spec("fsagn-mnist")
    bb = Backbone.of(model, spec, "conv2", [0])
    with pytest.raises(RuntimeError):
        bb.responses(torch.zeros(1, 3, 28, 28))  # conv1 expects one channel
    assert all(not m._forward_hooks for m in model.modules())
