"""Explaining single classifications with tags (FILTAG 2.2 and 3.4).

An image activates filters; the tags of its most activated filters vote for classes. The tag
ranking orders classes by the number of activated filters tagged with them (ties: the summed
activation ā of those filters, then class index). Hits@n is whether a class is ranked in the
top n. These are pure functions on tensors; ``explain_image`` wires them to a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from kgfilters.errors import ConfigError

if TYPE_CHECKING:
    from kgfilters.explain_masks import ImageMasks

__all__ = [
    "ClassVote",
    "Comparison",
    "Explanation",
    "FilterActivation",
    "activated_count",
    "class_ranks_from_votes",
    "explain_image",
    "explanation_file_name",
    "explanation_to_json",
    "hits_at",
    "load_image",
    "tag_votes",
]


@dataclass(frozen=True)
class FilterActivation:
    """One activated filter of an image: its ā(m, i, d) in [0, 1] and the classes tagging it."""

    layer: str
    filter: int
    activation: float
    tags: tuple[int, ...]


@dataclass(frozen=True)
class ClassVote:
    """A class in an image's tag ranking: how many activated filters carry its tag."""

    class_index: int
    label: str
    count: int
    activation: float


@dataclass(frozen=True)
class Comparison:
    """For a misclassified image: how the tags of the true and the predicted class compare."""

    true_class: int
    predicted: int
    true_count: int
    predicted_count: int
    true_rank: int | None
    predicted_rank: int | None
    shared_filters: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Explanation:
    """The explanation of one image's prediction (FILTAG 2.2); ``areas``: where its separating
    filters look in the image (FSAGN masks by the run's trained generators), when computed."""

    split: str | None
    index: int | None
    path: str | None
    true_class: int | None
    predicted: int
    confidence: float
    probabilities: tuple[float, ...]
    top_filters: tuple[FilterActivation, ...]
    ranking: tuple[ClassVote, ...]
    hits_true: dict[int, bool] | None
    hits_predicted: dict[int, bool]
    comparison: Comparison | None
    areas: ImageMasks | None = None

    @property
    def correct(self) -> bool | None:
        return None if self.true_class is None else self.true_class == self.predicted


def activated_count(num_filters: int, top_fraction: float) -> int:
    """How many of a layer's filters count as activated: ceil(top_fraction x filters), >= 1."""
    if not 0.0 < top_fraction <= 1.0:
        raise ConfigError(f"top_fraction={top_fraction}: expected 0 < top_fraction <= 1")
    return max(1, math.ceil(top_fraction * num_filters))


def tag_votes(
    values: torch.Tensor, tags: torch.Tensor, top: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Votes of each image's ``top`` most activated filters for the classes tagging them.

    Args:
        values: ā(m, i, d) per image and filter, (N, C).
        tags: tag matrix of the layer, bool (K, C).
        top: activated filters per image.

    Returns:
        counts (N, K) float64, activated filters tagged with each class; and activation (N, K)
        float64, the summed ā of those filters.
    """
    sel = torch.zeros_like(values, dtype=torch.float64)
    sel.scatter_(1, values.topk(top, dim=1).indices, 1.0)
    t = tags.to(torch.float64).T
    return sel @ t, (sel * values.double()) @ t


def class_ranks_from_votes(counts: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """Rank (1 = first) of each class in each image's tag ranking, (N, K) int64.

    Classes sort by count, then summed activation, both descending, then by index. A class no
    activated filter is tagged with is unranked: its rank is K + 1, beyond every n.
    """
    k = counts.shape[1]
    order = torch.sort(activation, dim=1, descending=True, stable=True).indices
    order = order.gather(
        1, torch.sort(counts.gather(1, order), dim=1, descending=True, stable=True).indices
    )
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(1, k + 1).expand_as(order).contiguous())
    return torch.where(counts > 0, ranks, torch.full_like(ranks, k + 1))


def hits_at(ranks: torch.Tensor, classes: torch.Tensor, n: int) -> torch.Tensor:
    """Hits@n (FILTAG 2.2): bool (N,), class ``classes[j]`` ranked in the top n for image j."""
    return ranks.gather(1, classes.view(-1, 1).long()).squeeze(1) <= n


def load_image(path: str, *, channels: int, size: int | None) -> torch.Tensor:
    """An image file as float (1, C, H, W) in [0, 1]; DataError for an unreadable file, for an image
    above Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, checked before decoding)
    or, when ``size`` is given, for any other height or width (checked from the header, before
    decoding)."""
    import warnings

    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    from kgfilters.errors import DataError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if size is not None and (width, height) != (size, size):
                    raise DataError(
                        f"{path}: image is {width}x{height} pixels; the model expects {size}x{size}"
                    )
                im = im.convert("L" if channels == 1 else "RGB")
                x = pil_to_tensor(im).float().div_(255).unsqueeze(0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        limit = Image.MAX_IMAGE_PIXELS
        raise DataError(f"{path}: image too large to decode safely ({exc.__class__.__name__}: more than "
                        f"{limit} pixels); resize it first") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{path}: not a readable image ({first})") from None
    return x


def explain_image(
    run,  # kgfilters.run.Run  # type: ignore[no-untyped-def]
    *,
    index: int | None = None,
    image: str | None = None,
    layers: list[str] | None = None,
    top_fraction: float = 0.2,
    ns: tuple[int, ...] = (1, 2, 3, 5),
    areas: bool = False,
) -> Explanation:
    """Explain one held-out image (``index``) or an image file (``image``) with the run's tags.

    An image file of another size is resized bilinearly to the model's input size by
    ``ModelSpec.prepare``, the preparation every image of the run goes through.

    The activated filters of each tagged layer are its ceil(top_fraction x filters) highest ā;
    their tags vote across layers into one tag ranking. With ``areas``, ``Explanation.areas``
    holds the sensitive areas of the separating filters in this image, with their fidelity
    figures (``explain_masks.explanation_areas``; filters no trained generator covers are listed
    as missing).
    """
    from kgfilters.errors import DataError
    from kgfilters.hooks import capture
    from kgfilters.stats import scaled_filter_means

    tags = run.tags
    names = layers or list(tags.layer_sizes)
    missing = [n for n in names if n not in tags.layer_sizes]
    if missing:
        raise ConfigError(f"layer(s) {', '.join(missing)} have no tags; tagged: {', '.join(tags.layer_sizes)}")
    true_class = None
    if image is not None:  # any size: the model's preparation resizes it, as for its own data
        x = load_image(image, channels=run.spec.in_channels, size=None)
    else:
        held = run.splits.heldout
        if index is None or not 0 <= index < len(held):
            raise DataError(f"--index {index}: expected 0 <= index < {len(held)} (held-out images)")
        img, true_class = held[index]
        x = img.unsqueeze(0)
    model = run.model
    device = next(model.parameters()).device
    with torch.no_grad(), capture(model, names, scaled_filter_means) as out:
        probs = torch.softmax(model(run.spec.prepare(x.to(device))).float(), 1)[0].cpu()
    values = {n: out[n].float().cpu() for n in names}
    mats = {n: tags.matrix(n) for n in names}
    counts = act = torch.zeros(1, len(tags.class_names), dtype=torch.float64)
    top: list[FilterActivation] = []
    for n in names:
        k = activated_count(values[n].shape[1], top_fraction)
        c, a = tag_votes(values[n], mats[n], k)
        counts, act = counts + c, act + a
        v, idx = values[n][0].topk(k)
        for val, i in zip(v.tolist(), idx.tolist(), strict=True):
            top.append(FilterActivation(n, i, val, tuple(mats[n][:, i].nonzero().flatten().tolist())))
    ranks = class_ranks_from_votes(counts, act)[0]
    order = [int(c) for c in torch.argsort(ranks) if int(ranks[c]) <= len(tags.class_names)]
    ranking = tuple(ClassVote(c, tags.class_names[c], int(counts[0, c]), float(act[0, c])) for c in order)
    pred = int(probs.argmax())

    def hits(cls: int) -> dict[int, bool]:
        return {n: bool(int(ranks[cls]) <= n) for n in ns}

    comparison = None
    if true_class is not None and true_class != pred:
        both = tuple((f.layer, f.filter) for f in top if true_class in f.tags and pred in f.tags)
        rank_of = {v.class_index: r + 1 for r, v in enumerate(ranking)}
        comparison = Comparison(true_class, pred, int(counts[0, true_class]), int(counts[0, pred]),
                                rank_of.get(true_class), rank_of.get(pred), both)
    e = Explanation(
        "heldout" if image is None else None, index if image is None else None, image,
        true_class, pred, float(probs[pred]), tuple(float(p) for p in probs), tuple(top), ranking,
        None if true_class is None else hits(true_class), hits(pred), comparison,
    )
    if not areas:
        return e
    from dataclasses import replace

    from kgfilters.explain_masks import explanation_areas

    return replace(e, areas=explanation_areas(run, e, x[0].cpu()))


def explanation_to_json(e: Explanation) -> dict:  # type: ignore[type-arg]
    """A JSON-ready dict (the schema of ``explanations/<split>-<index>.json``); with areas, their
    summary under ``sensitive_areas`` and ``no_generator`` (``explain_masks.areas_to_json``)."""
    from dataclasses import asdict, replace

    d = asdict(replace(e, areas=None))
    del d["areas"]
    d["hits_true"] = None if e.hits_true is None else {str(k): v for k, v in e.hits_true.items()}
    d["hits_predicted"] = {str(k): v for k, v in e.hits_predicted.items()}
    d["correct"] = e.correct
    if e.areas is not None:
        from kgfilters.explain_masks import areas_to_json

        d.update(areas_to_json(e.areas))
    return d


def explanation_file_name(e: Explanation) -> str:
    """The file name an explanation is saved under in ``explanations/``.

    A data-set image: ``<split>-<index>.json``. An image file: ``file-<stem>-<hash>.json``, where
    ``hash`` is the first 8 hex digits of the SHA-256 of the file's absolute path, so that
    ``a/shoe.png`` and ``b/shoe.png`` get two names and explaining one file again replaces its own.
    """
    import hashlib
    import os
    import re

    if e.path is None:
        return f"{e.split}-{e.index}.json"
    absolute = os.path.abspath(e.path)
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    stem = re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(absolute))[0])[:64] or "image"
    return f"file-{stem}-{digest}.json"
