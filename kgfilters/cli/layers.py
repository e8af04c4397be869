"""``kgfilters layers``: the run's conv layers with their filter counts and output sizes."""

from __future__ import annotations

import argparse
import json

from kgfilters.cli.common import add_device, add_run, device_of

ORDER = 15


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "layers",
        help="list the run model's conv layers (filters, output size)",
        description="List every Conv2d layer of the run's model in order, with its number of filters "
        "and its output height x width for one input of the model's size. The names are those that "
        "--layers takes on stats, tag, hits (and --layer on select); a name with * ? [ is a glob "
        "pattern, e.g. --layers 'layer4.*,features.2?'.",
        epilog="example: kgfilters layers --run runs/fm",
    )
    add_run(p)
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from kgfilters import load_run
    from kgfilters.models import layer_table

    r = load_run(args.run, device=device_of(args))
    table = layer_table(r.model, r.spec)
    if args.json:
        print(json.dumps([asdict(t) for t in table]))
        return 0
    width = max((len(t.name) for t in table), default=5)
    print(f"{'layer':<{width}}  filters  output")
    for t in table:
        print(f"{t.name:<{width}}  {t.filters:>7}  {t.height}x{t.width}")
    print(f"{len(table)} conv layers, {sum(t.filters for t in table)} filters")
    return 0
