"""Filter selection (FSAGN 2.1): the response matrix of a layer and the consistently active filters.

The response matrix holds, for N samples and the C channels of a layer, the sum of each channel's
(ReLU) feature map. The paper keeps the "bright lines" of its diagram: filters that respond on
(nearly) every sample, not the silent ones. Our rule, in numbers: scale each sample's row by its
largest entry (the diagram's brightness, in [0, 1]); a filter's score is the ``quantile`` (default
the 10th percentile) of its scaled responses over the samples, so it is high only when the filter
is bright on almost every sample; the ``k`` best-scoring filters with a positive score are the
targets (silent or occasional filters score 0 and are never picked).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from kgfilters.data import iter_batches
from kgfilters.errors import ConfigError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.models import ModelSpec, conv_layers, resolve_layers

__all__ = ["Selection", "response_matrix", "select_filters", "selection_for"]


@dataclass(frozen=True)
class Selection:
    """The result of filter selection on one layer.

    ``scores`` (C,) float64 per filter, ``targets`` the chosen filter indices (best first),
    ``active_fraction`` (C,) share of samples on which each filter responds at all.
    """

    layer: str
    num_samples: int
    quantile: float
    scores: tuple[float, ...]
    active_fraction: tuple[float, ...]
    targets: tuple[int, ...]


@torch.no_grad()
def response_matrix(
    model: nn.Module,
    spec: ModelSpec,
    layer: str,
    ds: Dataset,
    *,
    num_samples: int = 1000,
    device: torch.device,
    batch_size: int = 256,
) -> torch.Tensor:
    """The response matrix (N, C) float64: each channel's ReLU map summed, first N of ``ds``."""
    resolve_layers(model, [layer])
    c = conv_layers(model)[layer].out_channels
    bb = Backbone.of(model, spec, layer, list(range(c)))
    rows, seen = [], 0
    for x, _ in iter_batches(ds, batch_size):
        x = x[: num_samples - seen].to(device)
        rows.append(bb.responses(x).double().flatten(-2).sum(-1))
        seen += x.shape[0]
        if seen >= num_samples:
            break
    return torch.cat(rows)


def select_filters(
    responses: torch.Tensor, *, k: int = 2, quantile: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rule of FSAGN 2.1 (see the module docstring).

    Args:
        responses: (N, C) response matrix.
        k: how many targets; quantile: in [0, 1], the low quantile that must still be bright.

    Returns:
        scores (C,) float64 and targets (<= k,) int64 indices, best first (ties: lower index).
    """
    if k < 1 or k > responses.shape[1]:
        raise ConfigError(f"--k {k}: expected 1..{responses.shape[1]} (the layer's filters)")
    if not 0.0 <= quantile <= 1.0:
        raise ConfigError(f"--quantile {quantile}: expected a number in [0, 1]")
    r = responses.double().clamp_min(0)
    peak = r.amax(1, keepdim=True)
    scaled = torch.where(peak > 0, r / peak.clamp_min(1e-300), torch.zeros_like(r))
    scores = torch.quantile(scaled, quantile, dim=0)
    order = sorted(range(scores.numel()), key=lambda i: (-float(scores[i]), i))
    targets = [i for i in order[:k] if scores[i] > 0]
    return scores, torch.tensor(targets, dtype=torch.long)


def selection_for(
    model: nn.Module,
    spec: ModelSpec,
    layer: str,
    ds: Dataset,
    *,
    num_samples: int = 1000,
    k: int = 2,
    quantile: float = 0.1,
    device: torch.device,
) -> tuple[Selection, torch.Tensor]:
    """Response matrix and ``Selection`` for ``layer`` over the first ``num_samples`` of ``ds``."""
    resp = response_matrix(model, spec, layer, ds, num_samples=num_samples, device=device)
    scores, targets = select_filters(resp, k=k, quantile=quantile)
    sel = Selection(
        layer,
        int(resp.shape[0]),
        quantile,
        tuple(scores.tolist()),
        tuple((resp > 0).double().mean(0).tolist()),
        tuple(targets.tolist()),
    )
    return sel, resp
