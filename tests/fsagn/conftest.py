"""Fixtures of the FSAGN tests: a hand-built network and a quickly trained Fashion-MNIST run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from kgfilters.models import ModelSpec


class PatchNet(nn.Module):
    """conv1 fires only where a 3x3 patch is fully bright (sum > 8.5); pool; conv2 copies it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(1, 2, 1)
        self.fc = nn.Linear(2 * 14 * 14, 2)
        with torch.no_grad():
            self.conv1.weight.fill_(1.0)
            self.conv1.bias.fill_(-8.5)
            self.conv2.weight.fill_(1.0)
            self.conv2.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        return self.fc(torch.relu(self.conv2(x)).flatten(1))


PATCH_SPEC = ModelSpec("patchnet", lambda n: PatchNet(), 1, 28, (0.0,), (1.0,))


@pytest.fixture()
def patchnet() -> tuple[nn.Module, ModelSpec]:
    return PatchNet().eval(), PATCH_SPEC


@pytest.fixture(scope="session")
def fm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with the small network trained for one epoch on 4000 Fashion-MNIST images."""
    from safetensors.torch import save_file

    from kgfilters.data import TensorImages, load_splits
    from kgfilters.models import build_model, get_model_spec
    from kgfilters.pipeline import create_run
    from kgfilters.train import train_model

    root = tmp_path_factory.mktemp("fsagn") / "run"
    create_run(root, model="fsagn-mnist")
    splits = load_splits(seed=0, tag_fraction=0.8)
    train = TensorImages(splits.train.images[:4000], splits.train.targets[:4000])
    torch.manual_seed(0)
    spec = get_model_spec("fsagn-mnist")
    model = build_model("fsagn-mnist", num_classes=10, weights="random")
    train_model(
        model, spec, train, splits.heldout, device=torch.device("cpu"), epochs=1, progress=False
    )
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "model.safetensors")
    )
    cfg = json.loads((root / "run.json").read_text())
    cfg["model"]["weights"] = "model.safetensors"
    (root / "run.json").write_text(json.dumps(cfg))
    return root
