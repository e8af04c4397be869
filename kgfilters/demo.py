"""The demo pipeline behind ``kgfilters demo`` / ``make demo``: every stage on one run directory.

Steps are data: ``(stage names, function)`` pairs in ``STAGES``, the names those of the stage
registry (``kgfilters.stages``) that the step runs; each function takes the run directory, the
device and the progress flag and returns lines saying what it made and where. The demo holds the
run lock throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from kgfilters.lock import run_lock
from kgfilters.run import RunPaths
from kgfilters.stages import get_stage

__all__ = ["STAGES", "evaluate_stage", "explain_stage", "filtag_stage", "run_demo", "train_stage"]

log = logging.getLogger(__name__)

Stage = Callable[..., list[str]]


def train_stage(root: Path, *, device: torch.device, progress: bool, data_root: str | None = None) -> list[str]:
    """Create the run and train the small network, unless the run already has weights."""
    from kgfilters.pipeline import create_run, train_run

    paths = RunPaths(root)
    if paths.model.is_file() and paths.run_json.is_file():
        return [f"model: {paths.model} (exists; `kgfilters train --force` retrains)"]
    create_run(root, data_root=data_root)
    result = train_run(root, device=device, progress=progress)
    return [f"model: {paths.model} (test accuracy {result.test_accuracy:.2%})"]


def filtag_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Statistics, k-best tags and the Hits@n study."""
    from kgfilters.pipeline import hits_run, tag_run

    paths = RunPaths(root)
    tags = tag_run(root, device=device, progress=progress)
    study = hits_run(root, device=device, progress=progress)
    best = max((c for c in study.grid if c.n == 3), key=lambda c: c.hits_true)
    return [
        f"statistics: {paths.stats}",
        f"tags: {paths.tags} ({len(tags.tags)} tags, {tags.method} {tags.param:g})",
        f"Hits@n: {paths.hits_csv}, {paths.figures / 'hits.png'} (best Hits@3 "
        f"{best.hits_true:.1%} with {best.method} {best.param:g}, chosen on the held-out images "
        f"themselves; random tags {best.random_tags_mean or 0:.1%}, 95th "
        f"{best.random_tags_p95 or 0:.1%}; random tie-break {best.hits_random_tie or 0:.1%})",
    ]


def explain_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Save the explanations of the first correct and the first misclassified held-out image
    (``explain --save``, after ``sensitive``: each carries the sensitive areas of its separating
    filters that the trained generators cover, and lists the ones they do not)."""
    from kgfilters.data import targets_of
    from kgfilters.explain import explanation_file_name
    from kgfilters.explain_stage import explain_run
    from kgfilters.run import load_run
    from kgfilters.train import predict

    run = load_run(root, device=device)
    probs = predict(run.model, run.spec, run.splits.heldout, device=device)
    labels = targets_of(run.splits.heldout)
    wrong = (probs.argmax(1) != labels).nonzero().flatten()
    right = (probs.argmax(1) == labels).nonzero().flatten()
    lines = []
    for kind, pool in (("correct", right), ("misclassified", wrong)):
        if pool.numel() == 0:
            lines.append(f"explanation: no {kind} held-out image")
            continue
        e = explain_run(root, device=device, index=int(pool[0]), save=True)
        masks, missing = (e.areas.masks, e.areas.missing) if e.areas is not None else ((), ())
        lines.append(
            f"explanation ({kind}): {RunPaths(root).explanations / explanation_file_name(e)} (true "
            f"{run.class_names[e.true_class or 0]}, predicted {run.class_names[e.predicted]}, tag "
            f"ranking top: {e.ranking[0].label if e.ranking else '-'}; sensitive areas of "
            f"{len(masks)} of its {len(masks) + len(missing)} separating filters)"
        )
    return lines


def _fsagn_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    from kgfilters.fsagn.demo import demo_stage

    return demo_stage(root, device=device, progress=progress)


def _concepts_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    from kgfilters.queries.stage import demo_stage

    return demo_stage(root, device=device, progress=progress)


def evaluate_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Evaluate the run's tags (and contrastive k=5 beside them): each headline figure beside its
    baseline; writes evaluation.json, evaluation.md and figures/evaluation-*.png."""
    from kgfilters.evaluate.run import evaluate_run, parse_methods

    ev = evaluate_run(root, device=device, methods=parse_methods("contrastive:5"), progress=progress)
    return [*ev.headline(), "evaluation: " + ", ".join(str(f) for f in ev.files)]


def _graph_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    from kgfilters.ontology.build import demo_stage

    return demo_stage(root, device=device, progress=progress)


# Explanations are saved after ``sensitive``, so they carry its generators' areas. The graph stage
# comes last: it emits what every earlier stage wrote and exports the union.
STAGES: list[tuple[tuple[str, ...], Stage]] = [
    (("stats", "tag", "hits"), filtag_stage),
    (("select", "sensitive"), _fsagn_stage),
    (("explain",), explain_stage),
    (("link", "coarsen"), _concepts_stage),
    (("evaluate",), evaluate_stage),
    (("graph",), _graph_stage),
]


def run_demo(
    root: str | Path, *, device: torch.device, progress: bool = True, data_root: str | None = None,
    echo: Callable[[str], None] = log.info,
) -> None:
    """Run every demo stage in order, passing each stage's lines to ``echo``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with run_lock(root, on_wait=echo):
        echo(f"== {get_stage('train').name}")
        for line in train_stage(root, device=device, progress=progress, data_root=data_root):
            echo(f"  {line}")
        for names, stage in STAGES:
            echo("== " + ", ".join(get_stage(n).name for n in names))
            for line in stage(root, device=device, progress=progress):
                echo(f"  {line}")
