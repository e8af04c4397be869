"""The Hits@n study of FILTAG 3.3 (Fig. 4): Hits@n over held-out images for a grid of k, q and n,
per class and overall, and its correlation with per-class accuracy.

Each cell carries its baselines (``kgfilters.evaluate.hits``): the expected Hits@n with a random
tie-break and with a pessimistic one (exact, from the votes), and the mean and 95th percentile of
random tag matrices with the same tag count per class (``draws`` draws, seeded, shared by every n
of a (method, param)). The full evaluation with intervals and p-values is ``kgfilters evaluate``."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from kgfilters.atomic import atomic_path, atomic_write_json, atomic_write_text
from kgfilters.errors import RunError
from kgfilters.explain import activated_count, class_ranks_from_votes, hits_at, tag_votes
from kgfilters.filtag import tag_matrix

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_NS",
    "DEFAULT_QS",
    "HitsCell",
    "HitsStudy",
    "hits_study",
    "layer_votes",
    "load_hits",
    "pearson",
    "plot_hits",
    "save_hits",
    "vote_ranks",
]

DEFAULT_KS = (1, 2, 3, 5, 10)
DEFAULT_QS = (0.05, 0.1, 0.25, 0.5)
DEFAULT_NS = (1, 2, 3, 5)


@dataclass(frozen=True)
class HitsCell:
    """Hits@n for one tagging (method, param) and one n: overall rates in [0, 1] for the true and
    the predicted class, the true-class rate per class, and its Pearson correlation with
    per-class accuracy (None when either is constant). Baselines of the true-class rate: with a
    random tie-break (expectation) and a pessimistic one, and random tags' mean and 95th percentile
    (None in a study written before they existed)."""

    method: str
    param: float
    n: int
    hits_true: float
    hits_predicted: float
    per_class_hits: tuple[float, ...]
    correlation: float | None
    hits_random_tie: float | None = None
    hits_pessimistic: float | None = None
    random_tags_mean: float | None = None
    random_tags_p95: float | None = None


@dataclass(frozen=True)
class HitsStudy:
    """The whole grid, with the accuracy it is compared to."""

    layers: tuple[str, ...]
    top_fraction: float
    accuracy: float
    per_class_accuracy: tuple[float, ...]
    class_names: tuple[str, ...]
    grid: tuple[HitsCell, ...]


def pearson(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Pearson correlation of two 1-D tensors (float64); None if either has zero variance."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = a.norm() * b.norm()
    return None if float(den) == 0.0 else float((a * b).sum() / den)


def layer_votes(
    values: dict[str, torch.Tensor], tags: dict[str, torch.Tensor], top_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Votes (counts, summed activation), each (N, K), of several layers' tags, summed over layers."""
    counts = act = None
    for layer, v in values.items():
        c, a = tag_votes(v, tags[layer], activated_count(v.shape[1], top_fraction))
        counts = c if counts is None else counts + c
        act = a if act is None else act + a
    if counts is None or act is None:
        raise RunError("Hits@n needs at least one layer's activations")
    return counts, act


def vote_ranks(
    values: dict[str, torch.Tensor], tags: dict[str, torch.Tensor], top_fraction: float
) -> torch.Tensor:
    """Tag-ranking ranks (N, K) from several layers: votes of each layer are summed."""
    return class_ranks_from_votes(*layer_votes(values, tags, top_fraction))


def _per_class(hit: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    total = torch.bincount(labels, minlength=k).double()
    got = torch.bincount(labels, weights=hit.double(), minlength=k)
    return torch.where(total > 0, got / total.clamp_min(1), torch.nan)


def hits_study(
    values: dict[str, torch.Tensor],
    z: dict[str, torch.Tensor],
    labels: torch.Tensor,
    predicted: torch.Tensor,
    class_names: tuple[str, ...],
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    qs: tuple[float, ...] = DEFAULT_QS,
    ns: tuple[int, ...] = DEFAULT_NS,
    top_fraction: float = 0.2,
    contrastive_ks: tuple[int, ...] = (),
    draws: int = 200,
    seed: int = 0,
) -> HitsStudy:
    """Hits@n for every (k or q, n) of the grid (FILTAG 3.3).

    Args:
        values: held-out ā per layer, {layer: (N, C)}.
        z: tag-split class means per layer, {layer: (K, C)}.
        labels, predicted: true and predicted classes (N,).
        ks: k values; those above a layer's filter count are skipped. qs: q values. ns: n values.
        contrastive_ks: k values of the contrastive method (``kgfilters.filtag.contrastive``), if any.
        draws: random-tags draws per (method, param) (0: no random-tags baseline); seed: their seed.
    """
    from kgfilters.errors import ConfigError
    from kgfilters.evaluate.hits import random_tags_hits, tie_policy_hits

    if draws < 0:
        raise ConfigError(f"--draws {draws}: expected 0 (no random-tags baseline) or more")

    k = len(class_names)
    correct = (predicted == labels).double()
    acc_c = _per_class(correct, labels, k)
    width = min(zz.shape[1] for zz in z.values())
    cells: list[HitsCell] = []
    params = [("k-best", float(kk)) for kk in ks if kk <= width] + [("q-quantile", q) for q in qs]
    params += [("contrastive", float(kk)) for kk in contrastive_ks if kk <= width]
    for method, param in params:
        tags = {layer: tag_matrix(z[layer], method, param) for layer in values}
        counts, act = layer_votes(values, tags, top_fraction)
        ranks = class_ranks_from_votes(counts, act)
        rnd = (random_tags_hits(values, tags, labels, tuple(ns), draws=draws, top_fraction=top_fraction,
                                seed=seed).rates if draws > 0 else None)
        for j, n in enumerate(ns):
            ht = hits_at(ranks, labels, n)
            hp = hits_at(ranks, predicted, n)
            pc = _per_class(ht, labels, k)
            ok = ~torch.isnan(pc) & ~torch.isnan(acc_c)
            pol = tie_policy_hits(counts, labels, n)
            null = None if rnd is None else rnd[:, j]
            cells.append(HitsCell(
                method, param, n, float(ht.double().mean()), float(hp.double().mean()),
                tuple(float(x) for x in pc), pearson(pc[ok], acc_c[ok]),
                float(pol["random"].mean()), float(pol["pessimistic"].mean()),
                None if null is None else float(null.mean()),
                None if null is None else float(torch.quantile(null, 0.95)),
            ))
    return HitsStudy(tuple(values), top_fraction, float(correct.mean()),
                     tuple(float(x) for x in acc_c), class_names, tuple(cells))


def save_hits(study: HitsStudy, json_path: str | os.PathLike[str], csv_path: str | os.PathLike[str]) -> None:
    """Write the study as JSON (everything) and CSV (one row per grid cell), atomically."""
    obj = asdict(study)
    obj["layer"] = ",".join(study.layers)
    atomic_write_json(json_path, obj)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "param", "n", "hits_true", "hits_predicted", "correlation",
                "hits_true_random_tie", "hits_true_pessimistic", "random_tags_mean", "random_tags_p95",
                *[f"hits_true[{c}]" for c in study.class_names]])

    def num(x: float | None) -> str:
        return "" if x is None else f"{x:.6f}"

    for c in study.grid:
        w.writerow([c.method, c.param, c.n, f"{c.hits_true:.6f}", f"{c.hits_predicted:.6f}",
                    num(c.correlation), num(c.hits_random_tie), num(c.hits_pessimistic),
                    num(c.random_tags_mean), num(c.random_tags_p95),
                    *[f"{x:.6f}" for x in c.per_class_hits]])
    atomic_write_text(csv_path, buf.getvalue())


def load_hits(path: str | os.PathLike[str]) -> HitsStudy:
    """Read hits.json written by ``save_hits``."""
    from kgfilters.run import read_json

    p = Path(path)
    obj = read_json(p, expect=dict, what="Hits@n study", stage="hits")
    try:
        grid = tuple(HitsCell(**{**c, "per_class_hits": tuple(c["per_class_hits"])})
                     for c in obj["grid"])
        return HitsStudy(tuple(obj["layers"]), obj["top_fraction"], obj["accuracy"],
                         tuple(obj["per_class_accuracy"]), tuple(obj["class_names"]), grid)
    except (KeyError, TypeError) as exc:
        raise RunError(f"{p}: malformed Hits@n file ({type(exc).__name__}: {exc})") from None


def plot_hits(study: HitsStudy, png_path: str | os.PathLike[str]) -> Path:
    """Fig. 4 of FILTAG: Hits@n (true class) against n, one line per k (left) and per q (right),
    and a third panel for contrastive k when the study has it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("k-best", "k = {:g}"), ("q-quantile", "q = {:.0%}")]
    if any(c.method == "contrastive" for c in study.grid):
        panels.append(("contrastive", "k = {:g}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True)
    for ax, (method, fmt) in zip(axes, panels, strict=True):
        for param in sorted({c.param for c in study.grid if c.method == method}):
            cells = sorted((c for c in study.grid if c.method == method and c.param == param),
                           key=lambda c: c.n)
            ax.plot([c.n for c in cells], [c.hits_true for c in cells], marker="o",
                    label=fmt.format(param))
        ax.set_title(f"{method} (layers: {', '.join(study.layers)})")
        ax.set_xlabel("n")
        ax.set_xticks(sorted({c.n for c in study.grid}))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    axes[0].set_ylabel("Hits@n (true class, held-out)")
    axes[0].set_ylim(0, 1.02)
    fig.suptitle(f"FILTAG Hits@n, accuracy {study.accuracy:.1%}")
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(png_path)
