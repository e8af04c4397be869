"""``kgfilters sensitive``: FSAGN sensitive areas with baselines and measured fidelity."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import (
    add_device,
    add_run,
    device_of,
    parse_filter_ref,
    positive_float,
    positive_int,
    refresh_graph,
    unit_interval,
    writing,
)

ORDER = 41


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sensitive",
        help="generate FSAGN sensitive-area masks and compare with baselines",
        description="Train a mask generator (FSAGN 2.2) for the chosen filters at once, make "
        "reservation and/or occlusion masks on held-out images, compare them with Zeiler & Fergus "
        "occlusion, per-image optimised and random masks of equal area, and write masks (npz), "
        "figures, generator weights and masks/metrics.json into the run.",
        epilog="examples:\n  kgfilters sensitive --run runs/fm --filter auto --strategy both\n"
        "  kgfilters sensitive --run runs/fm --filter conv2:13 --filter conv2:18 "
        "--strategy reservation --images 32 --baseline zeiler",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument(
        "--filter",
        dest="filters",
        action="append",
        default=None,
        metavar="LAYER:INDEX|auto",
        help="filter to explain (repeatable); auto (default) uses `kgfilters select`'s "
        "targets, running the selection first when the run has none",
    )
    p.add_argument("--strategy", default="both", choices=["reservation", "occlusion", "both"])
    p.add_argument("--images", type=positive_int, default=16, help="held-out images to mask (default 16)")
    p.add_argument(
        "--baseline",
        dest="baselines",
        action="append",
        default=None,
        choices=["zeiler", "optimised", "random", "none"],
        help="baseline(s) to compare (repeatable; default: all three)",
    )
    p.add_argument("--steps", type=positive_int, default=300, help="generator training steps (default 300)")
    p.add_argument(
        "--train-images", type=positive_int, default=4000, help="train-split images for the generator"
    )
    p.add_argument(
        "--lam",
        type=positive_float,
        default=None,
        help="lambda of Eqs. (2)/(5) (default 1 reservation, 2 occlusion)",
    )
    p.add_argument("--window", type=positive_int, default=None, help="Zeiler window side (default: image/4)")
    p.add_argument("--stride", type=positive_int, default=1, help="Zeiler stride (default 1)")
    p.add_argument(
        "--fill", type=unit_interval, default=0.0, help="Zeiler fill value in [0, 1] (default 0)"
    )
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.fsagn.stage import BASELINES, SensitiveOptions, sensitive_stage

    refs = [f for f in (args.filters or ["auto"]) if f != "auto"]
    filters = [parse_filter_ref(f) for f in refs] or None
    baselines = tuple(b for b in (args.baselines or BASELINES) if b != "none")
    strategies = ("reservation", "occlusion") if args.strategy == "both" else (args.strategy,)
    options = SensitiveOptions(
        strategies=strategies,
        baselines=baselines,
        num_images=args.images,
        train_images=args.train_images,
        steps=args.steps,
        lam=args.lam,
        window=args.window,
        stride=args.stride,
        fill=args.fill,
        seed=args.seed,
    )
    with writing(args, "sensitive"):
        summary = sensitive_stage(
            args.run, filters=filters, options=options, device=device_of(args),
            progress=args.progress,
        )
        refresh_graph(args, "sensitive", quiet=True)
    key = {"reservation": "correlation", "occlusion": "response_ratio"}
    shown = None
    for r in summary.filters:
        if (r.layer, r.strategy) != shown:
            shown = (r.layer, r.strategy)
            print(f"{r.strategy} ({key[r.strategy]} of the response; area = FSAGN's):")
        cols = "  ".join(f"{m.method} {m[key[r.strategy]]:.3f}" for m in r.methods)
        print(
            f"  {r.layer}:{r.filter}  {r.images} images  "
            f"area {r.method('fsagn')['area_fraction']:.3f}  {cols}"
        )
    for layer, t in summary.timing.items():
        speeds = ", ".join(f"{k} {v:.1f}" for k, v in sorted(t.items()) if k.endswith("per_s"))
        print(f"{layer} speed (masks/s): {speeds}")
    print(f"masks, figures, generators: {args.run}/masks/ (metrics.json); graph updated")
    return 0
