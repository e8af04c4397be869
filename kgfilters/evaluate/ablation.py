"""Causal faithfulness of FILTAG tags by ablation (in the spirit of Bau et al., PNAS 2020, "Understanding
the role of individual units in a deep neural network").

For each class c, the filters of one layer tagged with c are zeroed (a forward hook on the layer's
output) on held-out images, and we measure how much class c's accuracy and its mean softmax
probability drop, and how much the other classes' accuracies drop. The same is done for random sets
of as many filters of that layer (the null model): if tags name the filters a class relies on, zeroing
them hurts that class more than zeroing random filters, and hurts the other classes less.

Batched (``kgfilters.evaluate.masking``): the network runs once per batch of images up to the layer;
every tag mask and random draw is then evaluated in one widened pass of the rest of the network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kgfilters.errors import ConfigError, DataError, LayerError, RunError
from kgfilters.evaluate.masking import BUDGET, ChannelMasker, layer_shape
from kgfilters.evaluate.resampling import Interval, bootstrap_stat_ci, generator, monte_carlo_p, null_summary

if TYPE_CHECKING:
    from kgfilters.filtag import TagSet
    from kgfilters.run import Run

__all__ = [
    "AblationStudy",
    "ablation_outcomes",
    "ablation_run",
    "ablation_study",
    "class_drops",
    "random_filter_sets",
    "resample_weights",
]

log = logging.getLogger(__name__)

NULL_MODEL = (
    "for each class c, |T_c| filters of the layer drawn uniformly without replacement (T_c: the filters "
    "tagged with c), {draws} seeded draws; the overall figure of a draw is its mean over the classes; "
    "p = (1 + #{{draws >= tags}}) / (1 + draws); intervals: percentile bootstrap over images ({boot} draws)"
)


def random_filter_sets(counts: torch.Tensor, filters: int, draws: int, *, seed: int = 0) -> torch.Tensor:
    """Random filter sets of the tags' sizes: bool (classes, draws, filters).

    Row (c, j) holds ``counts[c]`` distinct filters drawn uniformly (the ranks of uniform noise), seeded.
    """
    noise = torch.rand(counts.numel(), draws, filters, generator=generator(seed))
    ranks = noise.argsort(-1).argsort(-1)
    return ranks < counts.view(-1, 1, 1).cpu()


@torch.no_grad()
def ablation_outcomes(
    model: nn.Module,
    layer: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    keep: torch.Tensor,
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Correctness and true-class probability of every image under every channel mask.

    Args:
        model: the network (eval mode), on the images' device.
        layer: the module whose output is masked.
        images: (N, ...) inputs already prepared for the model; labels: (N,) int64.
        keep: (M, C) channel masks (1 keeps a filter, 0 zeroes it).
        batch_size: at most this many images per trunk pass (fewer when M masks would exceed
            ``masking.BUDGET`` elements; masks are split only when one image alone exceeds it).

    Returns:
        ``base_correct`` (N,) bool and ``base_prob`` (N,) float64 for the intact network, then
        ``correct`` (M, N) bool and ``prob`` (M, N) float64 (softmax of the true class, float64).
    """
    model.eval()
    n, m = images.shape[0], keep.shape[0]
    channels, _ = layer_shape(model, layer, images)
    if keep.ndim != 2 or keep.shape[1] != channels or m == 0:
        raise LayerError(f"masks of shape {tuple(keep.shape)}: layer {layer!r} has {channels} filters")
    masker = ChannelMasker.of(model, layer, images, keep)
    dev = images.device
    keep, labels = keep.to(dev), labels.to(dev)
    base_correct = torch.empty(n, dtype=torch.bool, device=dev)
    base_prob = torch.empty(n, dtype=torch.float64, device=dev)
    correct = torch.empty(m, n, dtype=torch.bool, device=dev)
    prob = torch.empty(m, n, dtype=torch.float64, device=dev)
    per = masker.per_mask()
    step_n = max(1, min(batch_size, BUDGET // max(m * per, 1), BUDGET // max(masker.channels * per, 1)))
    step_m = max(1, BUDGET // (step_n * per))
    log.debug("ablation of %s: mode %s, %d images x %d masks per pass", layer, masker.mode, step_n, step_m)
    for lo in tqdm(range(0, n, step_n), desc=f"ablate {layer}", disable=not progress, unit="batch"):
        x, y = images[lo : lo + step_n], labels[lo : lo + step_n]
        b = x.shape[0]
        plain = model(x)
        base_prob[lo : lo + b] = F.softmax(plain.double(), -1).gather(1, y[:, None]).squeeze(1)
        base_correct[lo : lo + b] = plain.argmax(-1) == y
        for j in range(0, m, step_m):
            logits = masker.logits(x, keep[j : j + step_m])
            pj = F.softmax(logits.double(), -1)
            prob[j : j + step_m, lo : lo + b] = pj.gather(2, y.view(1, -1, 1).expand(pj.shape[0], -1, 1)).squeeze(2)
            correct[j : j + step_m, lo : lo + b] = logits.argmax(-1) == y
    return base_correct, base_prob, correct, prob


def class_drops(base: torch.Tensor, ablated: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Per-class mean drop (M, classes) float64: mean over the images of class c of base - ablated.

    base (N,), ablated (M, N) (0/1 correctness or probabilities), labels (N,). A class without
    images gets 0.
    """
    y = F.one_hot(labels.long(), classes).double()
    d = base.double().unsqueeze(0) - ablated.double()
    return (d @ y) / y.sum(0).clamp_min(1)


def resample_weights(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Bootstrap resamples as counts: idx (B, N) row indices -> (B, N) float64 multiplicities."""
    w = torch.zeros(idx.shape[0], n, dtype=torch.float64, device=idx.device)
    return w.scatter_add_(1, idx, torch.ones_like(w))


def _own_other(a: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From per-class drops a (..., c_masked, c_measured): own (..., c) = a[c, c]; other (..., c) =
    mean over the other present classes c' of a[c, c']."""
    own = torch.diagonal(a, dim1=-2, dim2=-1)
    pres = present.double()
    total = (a * pres).sum(-1)
    return own, (total - own * pres) / (pres.sum() - pres).clamp_min(1)


@dataclass(frozen=True)
class AblationStudy:
    """Ablation of tagged vs random filters of ``layer`` on ``images`` held-out images.

    Per class (tuples indexed by class): ``filters`` tagged, intact ``accuracy``, the tags' own and
    other accuracy drops and own probability drop, the random sets' mean own / other drop over the
    draws, and the per-class Monte-Carlo ``class_p``. Overall figures are means over the classes with
    images; drops are fractions (0.1 = 10 points).
    """

    layer: str
    images: int
    seed: int
    draws: int
    class_names: tuple[str, ...]
    filters: tuple[tuple[int, ...], ...]
    accuracy: tuple[float, ...]
    tagged_own: tuple[float, ...]
    tagged_own_ci95: tuple[Interval, ...]
    tagged_other: tuple[float, ...]
    tagged_own_prob: tuple[float, ...]
    random_own: tuple[float, ...]
    random_other: tuple[float, ...]
    class_p: tuple[float, ...]
    own_drop: float
    own_drop_ci95: Interval
    other_drop: float
    other_drop_ci95: Interval
    own_prob_drop: float
    random_own_drop: float
    random_own_drop_p95: float
    random_other_drop: float
    random_own_prob_drop: float
    p_value: float
    null_model: str
    batched: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The ``ablation`` section of evaluation.json (see the module docstring)."""
        return {
            "layer": self.layer,
            "images": self.images,
            "seed": self.seed,
            "accuracy": sum(self.accuracy) / max(len(self.accuracy), 1),
            "tagged": {
                "own_drop": self.own_drop,
                "own_drop_ci95": self.own_drop_ci95.as_list(),
                "other_drop": self.other_drop,
                "other_drop_ci95": self.other_drop_ci95.as_list(),
                "own_prob_drop": self.own_prob_drop,
            },
            "random": {
                "own_drop": self.random_own_drop,
                "own_drop_p95": self.random_own_drop_p95,
                "other_drop": self.random_other_drop,
                "own_prob_drop": self.random_own_prob_drop,
                "draws": self.draws,
            },
            "p_value": self.p_value,
            "per_class": [
                {
                    "class": c,
                    "label": self.class_names[c],
                    "filters": list(self.filters[c]),
                    "accuracy": self.accuracy[c],
                    "tagged_own_drop": self.tagged_own[c],
                    "tagged_own_drop_ci95": self.tagged_own_ci95[c].as_list(),
                    "tagged_other_drop": self.tagged_other[c],
                    "tagged_own_prob_drop": self.tagged_own_prob[c],
                    "random_own_drop": self.random_own[c],
                    "random_other_drop": self.random_other[c],
                    "p_value": self.class_p[c],
                }
                for c in range(len(self.class_names))
            ],
            "null_model": self.null_model,
        }


def _check(images: torch.Tensor, labels: torch.Tensor, tags: torch.Tensor, draws: int) -> None:
    if draws < 1:
        raise ConfigError(f"draws={draws}: expected at least 1 random draw")
    if tags.ndim != 2 or tags.dtype != torch.bool or tags.shape[0] < 2:
        raise ConfigError(f"tags of shape {tuple(tags.shape)} ({tags.dtype}): expected bool (classes >= 2, filters)")
    if labels.ndim != 1 or images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise DataError(
            f"images {tuple(images.shape)} and labels {tuple(labels.shape)}: expected (N, ...) and (N,), N >= 1"
        )
    if int(labels.min()) < 0 or int(labels.max()) >= tags.shape[0]:
        raise DataError(f"labels outside 0..{tags.shape[0] - 1} (the tag matrix has {tags.shape[0]} classes)")


def ablation_study(
    model: nn.Module,
    layer: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    tags: torch.Tensor,
    *,
    draws: int = 20,
    seed: int = 0,
    batch_size: int = 256,
    boot_draws: int = 2000,
    class_names: tuple[str, ...] | None = None,
    device: torch.device | None = None,
    progress: bool = False,
) -> AblationStudy:
    """Zero each class's tagged filters, and ``draws`` random sets of as many filters, and compare.

    Args:
        model: the network; ``layer`` the name of the module whose output channels are the filters.
        images: (N, C, H, W) prepared for the model (normalised); labels: (N,) int64 true classes.
        tags: bool (classes, filters): tags[c, f] when class c tags filter f of ``layer``.
        draws: random filter sets per class (the null model). seed: seeds the draws and the bootstrap.
        batch_size: images per trunk pass. boot_draws: bootstrap replicates (intervals over images).
        device: where to compute (default: the images' device).

    Returns:
        An ``AblationStudy``: for class c, ``own`` = acc_c(intact) - acc_c(tags of c zeroed),
        ``other`` = mean over c' != c of acc_c'(intact) - acc_c'(tags of c zeroed), the same for the
        random sets, and p = P(random own >= tags' own) (Monte-Carlo, add-one).
    """
    _check(images, labels, tags, draws)
    dev = device or images.device
    model = model.to(dev).eval()
    images, labels = images.to(dev), labels.to(dev).long()
    k, filters = tags.shape
    channels, _ = layer_shape(model, layer, images)
    if channels != filters:
        raise LayerError(f"tag matrix has {filters} filters, layer {layer!r} has {channels}")
    counts = tags.sum(1)
    rand = random_filter_sets(counts, filters, draws, seed=seed)  # (K, D, F)
    keep = (~torch.cat([tags.cpu(), rand.flatten(0, 1)])).float()  # (K + K D, F)
    bc, bp, correct, prob = ablation_outcomes(model, layer, images, labels, keep, batch_size=batch_size,
                                              progress=progress)
    acc = class_drops(bc, correct, labels, k)  # (M, K)
    pdrop = class_drops(bp, prob, labels, k)
    present = torch.bincount(labels, minlength=k) > 0
    own_t, other_t = _own_other(acc[:k], present)
    own_pt, _ = _own_other(pdrop[:k], present)
    own_r, other_r = _own_other(acc[k:].view(k, draws, k).transpose(0, 1), present)  # (D, K)
    own_pr, _ = _own_other(pdrop[k:].view(k, draws, k).transpose(0, 1), present)
    pm = present.double() / present.sum()
    null_own = own_r @ pm  # (D,) overall own drop of each draw
    own = float(own_t @ pm)

    # Bootstrap over images: the tag masks' per-image drops, reweighted by resample counts.
    y1 = F.one_hot(labels, k).double()
    d_t = (bc.double().unsqueeze(0) - correct[:k].double()).T  # (N, K)
    own_img = d_t * y1  # (N, K): image i's own-class drop in column y_i

    def boot(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = resample_weights(idx, labels.numel())
        cnt = w @ y1  # (B, K)
        own_b = (w @ own_img) / cnt.clamp_min(1)
        s = (w / cnt.clamp_min(1).gather(1, labels.expand(w.shape[0], -1))) @ d_t  # sum over measured c'
        return own_b, (s - own_b * present.double()) / (present.sum() - present.double()).clamp_min(1)

    units = torch.arange(labels.numel(), device=dev)
    own_ci = bootstrap_stat_ci(units, lambda i: boot(i)[0] @ pm, draws=boot_draws, seed=seed)
    other_ci = bootstrap_stat_ci(units, lambda i: boot(i)[1] @ pm, draws=boot_draws, seed=seed)
    class_ci = tuple(
        bootstrap_stat_ci(units, lambda i, c=c: boot(i)[0][:, c], draws=boot_draws, seed=seed)
        for c in range(k)
    )
    _, _, p95 = null_summary(null_own)
    own_r_c, other_r_c, own_t_c = own_r.T.cpu(), other_r.mean(0).cpu(), own_t.cpu()
    names = class_names or tuple(str(c) for c in range(k))
    return AblationStudy(
        layer=layer,
        images=int(labels.numel()),
        seed=seed,
        draws=draws,
        class_names=tuple(names),
        filters=tuple(tuple(row.nonzero().flatten().tolist()) for row in tags.cpu()),
        accuracy=tuple(((bc.double() @ y1) / y1.sum(0).clamp_min(1)).cpu().tolist()),
        tagged_own=tuple(own_t_c.tolist()),
        tagged_own_ci95=class_ci,
        tagged_other=tuple(other_t.cpu().tolist()),
        tagged_own_prob=tuple(own_pt.cpu().tolist()),
        random_own=tuple(own_r_c.mean(1).tolist()),
        random_other=tuple(other_r_c.tolist()),
        class_p=tuple(monte_carlo_p(float(own_t_c[c]), own_r_c[c]) for c in range(k)),
        own_drop=own,
        own_drop_ci95=own_ci,
        other_drop=float(other_t @ pm),
        other_drop_ci95=other_ci,
        own_prob_drop=float(own_pt @ pm),
        random_own_drop=float(null_own.mean()),
        random_own_drop_p95=p95,
        random_other_drop=float((other_r @ pm).mean()),
        random_own_prob_drop=float((own_pr @ pm).mean()),
        p_value=monte_carlo_p(own, null_own),
        null_model=NULL_MODEL.format(draws=draws, boot=boot_draws),
    )


def _heldout(run: Run, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    from kgfilters.data import iter_batches

    xs, ys, seen = [], [], 0
    for x, y in iter_batches(run.splits.heldout, 512):
        if limit is not None:
            x, y = x[: limit - seen], y[: limit - seen]
        xs.append(run.spec.prepare(x.to(run.device)))
        ys.append(y)
        seen += y.numel()
        if limit is not None and seen >= limit:
            break
    if not xs:
        raise RunError(f"{run.root}: the held-out split holds no image")
    return torch.cat(xs), torch.cat(ys).to(run.device)


def ablation_run(
    root_or_run: str | os.PathLike[str] | Run,
    *,
    tags: TagSet | torch.Tensor | None = None,
    layer: str | None = None,
    draws: int = 20,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
    max_images: int | None = None,
    batch_size: int = 256,
) -> AblationStudy:
    """``ablation_study`` on a run: its model, its held-out split (all of it, or the first
    ``max_images``) and its tags (``tags.json``, or ``tags`` given as a TagSet or bool (classes,
    filters)) at ``layer`` (default: the model's last conv layer). Reads the run, writes nothing."""
    from kgfilters.filtag import TagSet
    from kgfilters.models import conv_layers, resolve_layers
    from kgfilters.run import Run, load_run

    run = root_or_run if isinstance(root_or_run, Run) else load_run(root_or_run, device=device)
    model = run.model
    layer = layer or list(conv_layers(model))[-1]
    resolve_layers(model, [layer])
    tagset = run.tags if tags is None else tags
    if isinstance(tagset, TagSet):
        if layer not in tagset.layer_sizes:
            where = run.paths.tags if tags is None else "the given tags"
            raise RunError(
                f"{where}: no tags for layer {layer!r}; tagged layers: {', '.join(tagset.layer_sizes) or 'none'}"
            )
        matrix = tagset.matrix(layer)
    else:
        matrix = tagset.bool()
    x, y = _heldout(run, max_images)
    return ablation_study(
        model, layer, x, y, matrix, draws=draws, seed=seed, batch_size=batch_size,
        class_names=run.class_names, device=run.device, progress=progress,
    )
