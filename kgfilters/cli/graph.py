"""``kgfilters graph`` and ``kgfilters rebase``: (re)build the run's knowledge graph from what the
run directory holds; move it to another base IRI."""

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
        "sensitive areas, concept links, coarse concepts and provenance as RDF into the run's "
        "persistent Oxigraph store, one named graph per stage, from the run's files; without "
        "--stage the whole store is rebuilt. Each graph is replaced in one transaction.",
        epilog="example: kgfilters graph --run runs/fm --stage tags",
    )
    add_run(p)
    p.add_argument("--stage", action="append", dest="stages", metavar="STAGE",
                   help=f"only this stage (repeatable): {', '.join(EMITTERS)} (default: all)")
    p.add_argument("--base-iri", default=None, metavar="IRI",
                   help="move the run to this base IRI first (the same as `kgfilters rebase`)")
    p.set_defaults(func=run)

    r = sub.add_parser(
        "rebase",
        help="re-emit the run's whole graph under a new base IRI (for publishing)",
        description="The run's IRIs live under a base pinned in run.json when the run was created "
        "(copying or moving the directory changes none). rebase re-emits every named graph under "
        "--base-iri, drops the graphs under the old base and records the new base in run.json.",
        epilog="example: kgfilters rebase --run runs/fm --base-iri https://example.org/fm/",
    )
    add_run(r)
    r.add_argument("--base-iri", required=True, metavar="IRI",
                   help="an absolute IRI ending in '/' or '#'")
    r.set_defaults(func=run_rebase)


def run(args: argparse.Namespace) -> int:
    from kgfilters.ontology.build import build_graph

    with writing(args, "graph"):
        report = build_graph(args.run, base_iri=args.base_iri, stages=args.stages)
    for stage, n in report.triples.items():
        print(f"{stage:>13}: {n} triples")
    print(f"graph: {report.total} triples in {report.store} (base {report.base})")
    return 0


def run_rebase(args: argparse.Namespace) -> int:
    from kgfilters.ontology.build import rebase

    report = rebase(args.run, args.base_iri)
    print(f"graph: {report.total} triples in {report.store} re-emitted under {report.base}")
    return 0
