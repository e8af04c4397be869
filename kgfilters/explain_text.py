"""An explanation in words: two or three plain sentences built from an ``Explanation``.

The sentences compare the predicted class with one other class: the true class when the image is
misclassified, else the model's runner-up (the second most probable class). Among the image's
most active filters (``Explanation.top_filters``), they count the filters tagged with each class
and with both, and name the filters that *separate* the two: tagged with one class but not the
other, most active first. Generic filters (tagged by at least ``threshold`` of the classes,
``kgfilters.filtag.generic_filters``) fire for everything and explain no single class, so they are
left out of the separating filters and named as such. Pure functions; no Textual, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgfilters.explain import Explanation, FilterActivation
from kgfilters.filtag import DEFAULT_GENERIC, generic_filters

__all__ = [
    "Contrast",
    "contrast",
    "explanation_sentences",
    "filter_name",
    "generic_marks",
    "percent",
]


@dataclass(frozen=True)
class Contrast:
    """How the tags of the image's active filters side with the predicted and one other class.

    ``other`` is the true class when the image is misclassified (``other_is_true``), else the
    runner-up; ``runner_up`` is always the second most probable class. Counts are over the active
    filters (``active`` of them, all tagged layers together): ``predicted_count`` carry the
    predicted class's tag, ``other_count`` the other's, ``both`` carry both. ``separating`` are
    (filter, class it carries) for the non-generic active filters tagged with exactly one of the
    two classes, by activation, highest first; ``generic`` the active filters that are generic.
    """

    predicted: int
    other: int
    other_is_true: bool
    runner_up: int
    active: int
    predicted_count: int
    other_count: int
    both: int
    separating: tuple[tuple[FilterActivation, int], ...]
    generic: tuple[FilterActivation, ...]


def filter_name(f: FilterActivation) -> str:
    """``conv2:27``."""
    return f"{f.layer}:{f.filter}"


def percent(p: float) -> str:
    """A probability as a person reads it: ``76%``, ``4.2%``, ``0.3%``, ``<0.1%``, ``>99.9%``."""
    if p >= 0.9995:
        return ">99.9%"
    if p < 0.0005:
        return "<0.1%"
    return f"{p:.0%}" if 0.095 <= p <= 0.99 else f"{p:.1%}"


def generic_marks(e: Explanation, threshold: float = DEFAULT_GENERIC) -> frozenset[tuple[str, int]]:
    """(layer, filter) of the active filters that are generic: tagged by at least ``threshold`` of
    the classes (``generic_filters`` on the active filters' tag columns)."""
    if not e.top_filters:
        return frozenset()
    k = len(e.probabilities)
    m = torch.zeros(k, len(e.top_filters), dtype=torch.bool)
    for j, f in enumerate(e.top_filters):
        m[list(f.tags), j] = True
    flags = generic_filters(m, threshold).tolist()
    return frozenset((f.layer, f.filter) for f, g in zip(e.top_filters, flags, strict=True) if g)


def contrast(e: Explanation, *, threshold: float = DEFAULT_GENERIC) -> Contrast:
    """The predicted class against the true class (misclassified) or the runner-up (otherwise)."""
    order = sorted(range(len(e.probabilities)), key=lambda c: (-e.probabilities[c], c))
    runner_up = next((c for c in order if c != e.predicted), e.predicted)
    wrong = e.true_class is not None and e.true_class != e.predicted
    other = e.true_class if wrong else runner_up
    assert other is not None  # for the type checker: runner_up is an int
    generic = generic_marks(e, threshold)
    pred_n = other_n = both = 0
    sep: list[tuple[FilterActivation, int]] = []
    for f in e.top_filters:
        has_p, has_o = e.predicted in f.tags, other in f.tags
        pred_n += has_p
        other_n += has_o
        both += has_p and has_o
        if has_p != has_o and (f.layer, f.filter) not in generic:
            sep.append((f, e.predicted if has_p else other))
    sep.sort(key=lambda s: -s[0].activation)  # stable: equal activations keep layer order
    return Contrast(
        e.predicted, other, wrong, runner_up, len(e.top_filters), pred_n, other_n, both, tuple(sep),
        tuple(f for f in e.top_filters if (f.layer, f.filter) in generic),
    )


def _names(items: list[str], more: int) -> str:
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def explanation_sentences(
    e: Explanation, class_names: tuple[str, ...], *, shown: int = 3, threshold: float = DEFAULT_GENERIC
) -> tuple[str, ...]:
    """Two to four plain sentences: the prediction and the other class with their probabilities,
    how many active filters carry each class's tag and both, the filters that separate them (at
    most ``shown`` named, most active first) and the generic filters left out.

    Example (a Dress predicted as Shirt): "Predicted Shirt (76%), true class Dress (runner-up,
    18%)." "Of the image's 19 most active filters, 10 are tagged Shirt and 10 Dress; 7 carry
    both." "The 3 filters that separate them, most active first: conv2:27 (Dress), ..."
    """
    c = contrast(e, threshold=threshold)
    p, o, r = class_names[c.predicted], class_names[c.other], class_names[c.runner_up]
    prob = e.probabilities
    head = f"Predicted {p} ({percent(prob[c.predicted])})"
    if e.true_class is None:
        head += f"; runner-up {r} ({percent(prob[c.runner_up])})."
    elif not c.other_is_true:
        head += f", which is the true class; runner-up {r} ({percent(prob[c.runner_up])})."
    elif c.other == c.runner_up:
        head += f", true class {o} (runner-up, {percent(prob[c.other])})."
    else:
        head += (f", true class {o} ({percent(prob[c.other])}); the runner-up is {r} "
                 f"({percent(prob[c.runner_up])}).")
    out = [head]
    if c.active == 0:
        return (*out, "No filter of a tagged layer is active, so no tag votes.")
    out.append(f"Of the image's {c.active} most active filters, {c.predicted_count} "
               f"{'is' if c.predicted_count == 1 else 'are'} tagged {p} and {c.other_count} {o}; "
               f"{c.both} {'carries' if c.both == 1 else 'carry'} both.")
    if c.separating:
        names = [f"{filter_name(f)} ({class_names[k]})" for f, k in c.separating[:shown]]
        n = len(c.separating)
        what = "The filter that separates them" if n == 1 else f"The {n} filters that separate them, most active first"
        out.append(f"{what}: {_names(names, n - shown)}.")
    else:
        out.append(f"No active filter separates them: none carries the tag of {p} or {o} without the other.")
    if c.generic:
        names = [filter_name(f) for f in c.generic[:shown]]
        n = len(c.generic)
        out.append(f"Left out as generic (tagged with at least {threshold:.0%} of the classes, so they explain "
                   f"no single class): {_names(names, n - shown)}.")
    return tuple(out)
