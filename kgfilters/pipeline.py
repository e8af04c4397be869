"""Run-level stages of the FILTAG part: each reads what it needs from a run directory, computes,
and writes its outputs atomically. The CLI calls these; so can a notebook."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kgfilters.atomic import atomic_path, atomic_write_json
from kgfilters.data import DEFAULT_DATA_ROOT, load_splits
from kgfilters.errors import ModelError
from kgfilters.models import build_model, file_sha256, get_model_spec
from kgfilters.run import RunPaths, now_iso, read_run_json, record_stage, versions
from kgfilters.train import TrainResult, train_model

__all__ = ["create_run", "train_run"]

log = logging.getLogger(__name__)


def create_run(
    root: str | os.PathLike[str],
    *,
    model: str = "fsagn-mnist",
    data_root: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    tag_fraction: float = 0.8,
) -> dict[str, Any]:
    """Write a fresh ``run.json`` naming the data set, split and model (no weights yet).

    ``weights`` refers to a user's weights file (kept by reference, with its checksum); without it,
    our own networks must be trained (``train_run``) and torchvision ones use the hub cache.
    """
    spec = get_model_spec(model)
    root = Path(root)
    data = Path(data_root) if data_root is not None else DEFAULT_DATA_ROOT
    splits = load_splits(
        data, seed=seed, tag_fraction=tag_fraction, image_size=spec.input_size, channels=spec.in_channels
    )
    model_info: dict[str, Any] = {"name": model, "num_classes": splits.num_classes, "weights": None}
    if weights is not None:
        w = Path(weights).resolve()
        build_model(model, num_classes=splits.num_classes, weights=w)  # fails early if it does not fit
        model_info.update(weights=str(w), sha256=file_sha256(w))
    config = {
        "dataset": {
            "kind": splits.kind,
            "root": str(Path(data).resolve()),
            "class_names": list(splits.class_names),
            "split_seed": seed,
            "tag_fraction": tag_fraction,
            "sizes": {"train": len(splits.train), "tag": len(splits.tag), "heldout": len(splits.heldout)},
        },
        "model": model_info,
        "seed": seed,
        "created": now_iso(),
        "versions": versions(),
        "stages": {},
    }
    atomic_write_json(RunPaths(root).run_json, config)
    return config


def train_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the run's model on its ``train`` split; save ``model.safetensors`` and record the stage.

    Test accuracy is measured on the tag and held-out splits together (the data set's test file).
    """
    from safetensors.torch import save_file
    from torch.utils.data import ConcatDataset

    config = read_run_json(root)
    paths = RunPaths(Path(root))
    spec = get_model_spec(config["model"]["name"])
    if spec.torchvision:
        raise ModelError(
            f"{spec.name}: training torchvision models is out of scope; pass --weights FILE instead"
        )
    d = config["dataset"]
    splits = load_splits(d["root"], seed=d["split_seed"], tag_fraction=d["tag_fraction"])
    seed = config["seed"] if seed is None else seed
    torch.manual_seed(seed)
    model = build_model(spec.name, num_classes=splits.num_classes, weights="random", device=device)
    started = now_iso()
    test = _concat(splits.tag, splits.heldout) if hasattr(splits.tag, "subset") else ConcatDataset(
        [splits.tag, splits.heldout]
    )
    result = train_model(
        model, spec, splits.train, test, device=device, epochs=epochs, batch_size=batch_size,
        lr=lr, seed=seed, progress=progress,
    )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(paths.model) as tmp:
        save_file(state, str(tmp))
    config = read_run_json(root)
    config["model"].update(weights="model.safetensors", sha256=file_sha256(paths.model),
                           test_accuracy=result.test_accuracy)
    config.setdefault("stages", {})["train"] = {
        **asdict(result), "device": str(device), "started": started, "finished": now_iso(),
    }
    atomic_write_json(paths.run_json, config)
    return result


def _concat(a, b):  # type: ignore[no-untyped-def]
    from kgfilters.data import TensorImages

    return TensorImages(torch.cat([a.images, b.images]), torch.cat([a.targets, b.targets]))


def _unused() -> None:  # keep record_stage imported for stages added below
    record_stage  # noqa: B018
