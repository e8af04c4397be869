"""``kgfilters export``: write the run's graph to an RDF file (six formats)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgfilters.cli.common import add_run

ORDER = 61


def register(sub: argparse._SubParsersAction) -> None:
    from kgfilters.ontology.export import FORMATS

    p = sub.add_parser(
        "export",
        help="export the run's graph to an RDF file",
        description="Export the run's knowledge graph (atomic write). nq, trig and jsonld keep the "
        "named graphs; ttl, nt and xml hold their union.",
        epilog="example: kgfilters export --run runs/fm --format jsonld -o fm.jsonld",
    )
    add_run(p)
    p.add_argument("--format", "-f", default="ttl", metavar="FORMAT",
                   help=f"{', '.join(FORMATS)} (default: ttl)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="output file (default: <run>/exports/graph.<ext>)")
    p.add_argument("--graph", action="append", dest="graphs", metavar="STAGE",
                   help="only this stage's named graph (repeatable), e.g. tags")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.ontology.export import export_graph

    result = export_graph(args.run, args.format, args.output, graphs=args.graphs)
    print(f"wrote {result.path} ({result.format}, {result.triples} triples)")
    return 0
