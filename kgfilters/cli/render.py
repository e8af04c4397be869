"""Plain-text rendering of results for the terminal (the CLI prints; library code does not)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgfilters.explain import Explanation

__all__ = ["render_explanation"]


def render_explanation(e: Explanation, *, class_names: tuple[str, ...], per_layer: int = 5) -> str:
    """A readable multi-line explanation of one prediction: the sentences of
    ``explanation_sentences`` first, then the evidence (filters, tag votes, Hits@n)."""
    from kgfilters.explain_text import explanation_sentences, generic_marks

    what = f"held-out image {e.index}" if e.path is None else e.path
    lines = [f"{what}:", *(f"  {s}" for s in explanation_sentences(e, class_names)), "",
             f"evidence: predicted {class_names[e.predicted]} ({e.confidence:.1%})"]
    generic = generic_marks(e)
    if e.true_class is not None:
        verdict = "correct" if e.correct else "MISCLASSIFIED"
        lines.append(f"  true class {class_names[e.true_class]} -> {verdict}")
    lines.append("  most activated filters (activation: tags; * generic, tagged by most classes)")
    layers = list(dict.fromkeys(f.layer for f in e.top_filters))
    for layer in layers:
        fs = [f for f in e.top_filters if f.layer == layer][:per_layer]
        parts = [f"{f.filter}{'*' if (f.layer, f.filter) in generic else ''} {f.activation:.2f}: "
                 f"{', '.join(class_names[t] for t in f.tags) or '-'}" for f in fs]
        lines.append(f"    {layer}: " + " | ".join(parts))
    ranking = ", ".join(f"{i + 1}. {v.label} ({v.count})" for i, v in enumerate(e.ranking))
    lines.append("  tag votes (in brackets: active filters tagged with the class; ties broken by their summed "
                 "activation):")
    lines.append(f"    {ranking or '(no tagged filter active)'}")
    hp = ", ".join(f"@{n}:{'yes' if h else 'no'}" for n, h in e.hits_predicted.items())
    lines.append(f"  Hits@n (class among the n best voted) predicted class: {hp}")
    if e.hits_true is not None:
        ht = ", ".join(f"@{n}:{'yes' if h else 'no'}" for n, h in e.hits_true.items())
        lines.append(f"  Hits@n (class among the n best voted) true class:      {ht}")
    if e.comparison is not None:
        c = e.comparison
        lines.append(
            f"  tags compared: {class_names[c.true_class]} on {c.true_count} activated filters "
            f"(rank {c.true_rank or '-'}), {class_names[c.predicted]} on {c.predicted_count} "
            f"(rank {c.predicted_rank or '-'}); {len(c.shared_filters)} filters carry both tags"
        )
    return "\n".join(lines)
