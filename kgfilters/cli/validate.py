"""``kgfilters validate``: check a run's graph or an RDF file against the SHACL shapes."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgfilters.cli.common import DEFAULT_RUN, positive_int

ORDER = 62


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate a run's graph or an RDF file against the SHACL shapes",
        description="Run pySHACL with ontology/shapes.ttl on a run directory's graph (the union of "
        "its named graphs) or on an RDF file, print a readable report, and exit with status 1 "
        "when the data does not conform.",
        epilog="example: kgfilters validate runs/fm/exports/graph.ttl",
    )
    p.add_argument("target", nargs="?", type=Path, default=None, metavar="RUN|FILE",
                   help=f"run directory or RDF file (default: --run, else {DEFAULT_RUN})")
    p.add_argument("--run", type=Path, default=Path(DEFAULT_RUN), metavar="DIR",
                   help=f"run directory when no target is given (default: {DEFAULT_RUN})")
    p.add_argument("--limit", type=positive_int, default=50,
                   help="print at most this many results (default: 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.errors import GraphError
    from kgfilters.ontology.validate import format_report, load_target, validate_graph

    target = args.target if args.target is not None else args.run
    if not target.exists():
        what = "run directory" if args.target is None else "run directory or RDF file"
        raise GraphError(f"{target}: no such {what}")
    report = validate_graph(load_target(target))
    print(f"{target}:")
    for line in format_report(report, limit=args.limit):
        print(line)
    return 0 if report.conforms else 1
