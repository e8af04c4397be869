"""Train a classifier on the ``train`` split (seeded, batched, with a progress bar)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from kgfilters.data import TensorImages, iter_batches, targets_of
from kgfilters.models import ModelSpec

__all__ = ["TrainResult", "evaluate", "train_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What training measured: per-epoch mean loss and final test accuracy (fraction correct)."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    epoch_losses: tuple[float, ...]
    test_accuracy: float


def _shuffled(ds: Dataset, gen: torch.Generator) -> Dataset:
    if isinstance(ds, TensorImages):
        return ds.subset(torch.randperm(len(ds), generator=gen))
    from torch.utils.data import Subset

    return Subset(ds, torch.randperm(len(ds), generator=gen).tolist())


@torch.no_grad()
def predict(
    model: nn.Module, spec: ModelSpec, ds: Dataset, *, device: torch.device, batch_size: int = 512
) -> torch.Tensor:
    """Softmax probabilities (N, classes) of ``model`` on every image of ``ds``, on CPU."""
    model.eval()
    out = [
        F.softmax(model(spec.prepare(x.to(device))), dim=1).cpu()
        for x, _ in iter_batches(ds, batch_size)
    ]
    return torch.cat(out)


def evaluate(
    model: nn.Module, spec: ModelSpec, ds: Dataset, *, device: torch.device, batch_size: int = 512
) -> float:
    """Top-1 accuracy of ``model`` on ``ds`` (fraction in [0, 1])."""
    probs = predict(model, spec, ds, device=device, batch_size=batch_size)
    return float((probs.argmax(1) == targets_of(ds)).double().mean())


def train_model(
    model: nn.Module,
    spec: ModelSpec,
    train: Dataset,
    test: Dataset,
    *,
    device: torch.device,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` with Adam and cross-entropy; return losses and accuracy on ``test``.

    Shuffling and initialisation follow ``seed``; the model ends in eval mode.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for epoch in range(epochs):
        model.train()
        total = torch.zeros((), dtype=torch.float64, device=device)
        batches = 0
        n = len(train)
        bar = tqdm(total=n, desc=f"train epoch {epoch + 1}/{epochs}", unit="img", disable=not progress)
        for x, y in iter_batches(_shuffled(train, gen), batch_size):
            x, y = spec.prepare(x.to(device)), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().double()
            batches += 1
            bar.update(x.shape[0])
        bar.close()
        losses.append(float(total) / max(batches, 1))
        log.info("epoch %d: mean loss %.4f", epoch + 1, losses[-1])
    model.eval()
    acc = evaluate(model, spec, test, device=device)
    return TrainResult(epochs, batch_size, lr, seed, tuple(losses), acc)
