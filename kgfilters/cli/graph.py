"""``kgfilters graph``: (re)build the run's knowledge graph from what the run directory holds."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import add_run, writing

ORDER = 60


def register(sub: argparse._SubParsersAction) -> None:
    from kgfilters.ontology.build import EMITTERS

    p = sub.add_parser(
        "graph",
        help="build the run's knowledge graph (RDF, in <run>/graph/)",
        description="Emit the run's model, class labels, tags, Hits@n results, explanations, "
        "sensitive areas and provenance as RDF into the run's persistent Oxigraph store, one named "
        "graph per stage; re-running a stage replaces its graph and nothing else.",
        epilog="example: kgfilters graph --run runs/fm --stage tags --base-iri https://example.org/fm/",
    )
    add_run(p)
    p.add_argument("--stage", action="append", dest="stages", metavar="STAGE",
                   help=f"only this stage (repeatable): {', '.join(EMITTERS)} (default: all)")
    p.add_argument("--base-iri", default=None, metavar="IRI",
                   help="base IRI of the run's nodes, kept in run.json (default: "
                   "https://w3id.org/kgfilters/run/<run name>/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.ontology.build import build_graph

    with writing(args, "graph"):
        report = build_graph(args.run, base_iri=args.base_iri, stages=args.stages)
    for stage, n in report.triples.items():
        print(f"{stage:>13}: {n} triples")
    print(f"graph: {report.total} triples in {report.store} (base {report.base})")
    return 0
