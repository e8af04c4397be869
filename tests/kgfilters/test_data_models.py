from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters.data import iter_batches, load_splits, stratified_split
from kgfilters.errors import DataError, LayerError, ModelError
from kgfilters.models import build_model, get_model_spec, load_weights, resolve_layers
from tests.conftest import make_idx_root, write_idx


@pytest.mark.parametrize("gz", [False, True])
def test_idx_splits_are_stratified_and_deterministic(tmp_path: Path, gz: bool) -> None:
    root = make_idx_root(tmp_path, n_train=100, n_test=200, gz=gz)
    a = load_splits(root, seed=3)
    b = load_splits(root, seed=3)
    assert (len(a.train), len(a.tag), len(a.heldout)) == (100, 160, 40)
    assert torch.equal(a.tag.images, b.tag.images)
    assert torch.bincount(a.heldout.targets).tolist() == [4] * 10
    assert a.class_names[0] == "T-shirt/top" and a.class_names[9] == "Ankle boot"
    x, _ = next(iter_batches(a.tag, 16))
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_stratified_split_other_seed_differs() -> None:
    t = torch.arange(100) % 4
    a1, b1 = stratified_split(t, 0.8, seed=0)
    a2, _ = stratified_split(t, 0.8, seed=1)
    assert len(a1) == 80 and len(b1) == 20 and not torch.equal(a1, a2)
    assert set(a1.tolist()).isdisjoint(b1.tolist())


def test_missing_idx_file_names_it(tmp_path: Path) -> None:
    root = make_idx_root(tmp_path, n_train=20, n_test=20)
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing IDX file\\(s\\) t10k-labels-idx1-ubyte"):
        load_splits(root)


def test_missing_directory_and_corrupt_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such data directory.*dataset-fashion-mnist"):
        load_splits(tmp_path / "nowhere")
    root = make_idx_root(tmp_path / "d", n_train=20, n_test=20)
    (root / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not a readable IDX file"):
        load_splits(root)


def test_label_count_mismatch(tmp_path: Path) -> None:
    root = make_idx_root(tmp_path, n_train=20, n_test=20)
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match=r"20 images but .* has 19 labels"):
        load_splits(root)


def test_imagefolder(tmp_path: Path) -> None:
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((40, 30, 3), 40 * i, dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    s = load_splits(tmp_path, image_size=28, channels=1)
    assert s.kind == "imagefolder" and s.class_names == ("cat", "dog")
    assert (len(s.tag), len(s.heldout)) == (8, 2)
    x, y = next(iter_batches(s.heldout, 4))
    assert x.shape == (2, 1, 28, 28) and sorted(y.tolist()) == [0, 1]


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'vgg17'.*fsagn-mnist"):
        get_model_spec("vgg17")


def test_torchvision_model_without_weights_says_where(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelError, match=rf"no weights for 'resnet18'.*{tmp_path}.*--weights FILE"):
        build_model("resnet18", num_classes=1000)


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    f = tmp_path / "w.safetensors"
    save_file({"conv1.weight": torch.zeros(3, 1, 5, 5)}, str(f))
    with pytest.raises(ModelError, match=r"w.safetensors: weights do not fit the model"):
        load_weights(build_model("fsagn-mnist", num_classes=10), f)
    with pytest.raises(ModelError, match=r"weights file not found"):
        load_weights(build_model("fsagn-mnist", num_classes=10), tmp_path / "none.pth")


def test_resolve_layers() -> None:
    m = build_model("fsagn-mnist", num_classes=10)
    assert resolve_layers(m, None) == ["conv1", "conv2"]
    with pytest.raises(LayerError, match=r"unknown layer 'conv3'; conv layers are: conv1, conv2"):
        resolve_layers(m, ["conv3"])
    with pytest.raises(LayerError, match=r"layer 'fc1' is a Linear, not convolutional"):
        resolve_layers(m, ["fc1"])


def test_torchvision_spec_prepares_grayscale() -> None:
    spec = get_model_spec("vgg16")
    x = spec.prepare(torch.rand(2, 1, 28, 28))
    assert x.shape == (2, 3, 224, 224)
