"""``kgfilters demo``: every stage on Fashion-MNIST, end to end (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import add_device, add_run, device_of

ORDER = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run every stage end to end on Fashion-MNIST (what `make demo` runs)",
        description="Train the small network if the run has no model, compute FILTAG statistics "
        "and tags, run the Hits@n study, select filters and train their FSAGN generators, save the "
        "explanations of a correct and a misclassified held-out image (with the sensitive areas "
        "of their separating filters that the generators cover), then link, coarsen, evaluate and "
        "build the graph, printing where every output is.",
        epilog="example: kgfilters demo --run runs/fashion-mnist",
    )
    add_run(p)
    p.add_argument("--data-root", default=None, metavar="DIR", help="IDX files or an ImageFolder")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.demo import run_demo

    run_demo(args.run, device=device_of(args), progress=args.progress, data_root=args.data_root, echo=print)
    print(f"done: everything is in {args.run}/")
    return 0
