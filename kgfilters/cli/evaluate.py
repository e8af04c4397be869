"""``kgfilters evaluate``: every figure beside its chance baseline, interval and p-value."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgfilters.cli.common import (
    add_device,
    add_run,
    device_of,
    positive_int,
    probability,
    refresh_graph,
    writing,
)

ORDER = 25


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="every figure beside its chance baseline, interval and p-value -> evaluation.json",
        description="Evaluate the run's tags on held-out images: tags per layer and generic filters; "
        "Hits@n with its tie rule, random and pessimistic tie-breaks, a random-tags baseline, the "
        "constant top-n baseline, a bootstrap interval and the figure across activation cut-offs; "
        "hits vs accuracy per image and per class (Holm over the grid); conformance as enrichment "
        "and coverage, each with a class-shuffle baseline; and, where installed, the ablation and "
        "FSAGN sections. Writes evaluation.json, evaluation.md, figures/evaluation-*.png and the "
        "'evaluation' named graph. Null models and seeds: docs/methods.md.",
        epilog="examples:\n  kgfilters evaluate --run runs/fm\n"
        "  kgfilters evaluate --run runs/fm --method contrastive:5,q-quantile:0.1 --draws 500\n"
        "  kgfilters evaluate --run runs/fm --no-ablation --no-fsagn --markdown docs/results.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--layer", default=None, help="layer of the Hits@n sections (default: the last conv layer)")
    p.add_argument("--n", type=positive_int, default=3, help="the n of Hits@n (default: 3)")
    p.add_argument("--draws", type=positive_int, default=200, help="random-tags draws (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="base seed of every resampling (default: 0)")
    p.add_argument("--method", default=None, metavar="METHOD[:PARAM],...",
                   help="other tag methods to evaluate side by side, e.g. contrastive:5,q-quantile:0.1")
    p.add_argument("--generic-threshold", type=probability, default=0.8,
                   help="share of the classes that makes a filter generic (default: 0.8)")
    p.add_argument("--top", type=probability, default=0.2, help="share of a layer's filters that count as activated")
    p.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip the ablation study")
    p.add_argument("--no-fsagn", dest="fsagn", action="store_false", help="skip the FSAGN evaluation")
    p.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                   help="also write the Markdown report to FILE (e.g. docs/results.md)")
    add_device(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from kgfilters.evaluate.run import evaluate_run, parse_methods

    methods = parse_methods(args.method)
    with writing(args, "evaluate"):
        ev = evaluate_run(
            args.run, device=device_of(args), layer=args.layer, n=args.n, draws=args.draws, seed=args.seed,
            methods=methods, generic_threshold=args.generic_threshold, top_fraction=args.top,
            ablation=args.ablation, fsagn=args.fsagn, progress=args.progress, markdown=args.markdown,
        )
        refresh_graph(args, "evaluate", quiet=True)  # files and graph are written before anything is printed
    for line in ev.headline():
        print(line)
    print("written: " + ", ".join(str(f) for f in ev.files) + "; graph updated")
    return 0
