"""``kgfilters select``: FSAGN filter selection (response matrix, diagram, target filters)."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import add_device, add_run, device_of, positive_int, probability, writing

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select",
        help="pick the consistently active filters of a layer (FSAGN 2.1)",
        description="Sum each channel's feature map over N tag-split samples (response matrix), "
        "draw the response diagram (figures/response_LAYER.png) and pick as targets the k filters "
        "that stay bright on nearly every sample (highest low quantile of scaled response).",
        epilog="example: kgfilters select --run runs/fm --layer conv2 --samples 1000 --k 2",
    )
    add_run(p)
    p.add_argument("--layer", default=None,
                   help="conv layer name, or a glob pattern matching one (default: the last conv layer)")
    p.add_argument(
        "--samples", type=positive_int, default=1000, help="number of tag-split samples (default 1000)"
    )
    p.add_argument("--k", type=positive_int, default=2, help="number of target filters (default 2)")
    p.add_argument(
        "--quantile",
        type=probability,
        default=0.1,
        help="low quantile of the scaled response that ranks filters (default 0.1)",
    )
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.fsagn.stage import select_stage

    with writing(args, "select"):
        sel = select_stage(
            args.run,
            layer=args.layer,
            num_samples=args.samples,
            k=args.k,
            quantile=args.quantile,
            device=device_of(args),
        )
    print(f"layer {sel.layer}: {sel.num_samples} samples; target filters (best first):")
    for f in sel.targets:
        print(
            f"  {sel.layer}:{f}  score {sel.scores[f]:.3f}  "
            f"active on {sel.active_fraction[f]:.0%} of samples"
        )
    silent = sum(1 for a in sel.active_fraction if a == 0)
    print(f"silent filters: {silent} of {len(sel.scores)}")
    print(f"figure: {args.run}/figures/response_{sel.layer}.png")
    return 0
