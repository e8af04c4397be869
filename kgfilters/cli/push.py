"""``kgfilters push``: send the run's graph to a SPARQL 1.1 store."""

from __future__ import annotations

import argparse

from kgfilters.cli.common import add_run, nonnegative_int, positive_float, positive_int

ORDER = 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="send the run's graph to any SPARQL 1.1 store (Graph Store Protocol or Update)",
        description="Send every named graph of the run to a SPARQL 1.1 store, in chunks, with "
        "retries. --protocol gsp (default): ENDPOINT is the graph store URL (Oxigraph: /store, "
        "Fuseki: /DATASET/data); each graph is PUT, then further chunks POSTed. --protocol update: "
        "ENDPOINT is the update URL (Oxigraph: /update, Fuseki: /DATASET/update). Credentials "
        "from the environment: KGFILTERS_PUSH_TOKEN (bearer) or KGFILTERS_PUSH_USER and "
        "KGFILTERS_PUSH_PASSWORD (basic), or user:password@ in the URL; they are never printed, and "
        "not sent over plain http except to a loopback address or with --insecure.",
        epilog="example: kgfilters push --run runs/fm --endpoint http://localhost:3030/kg/data",
    )
    add_run(p)
    p.add_argument("--endpoint", required=True, metavar="URL", help="graph store or update URL")
    p.add_argument("--protocol", default="gsp", choices=["gsp", "update"], help="gsp or update (default: gsp)")
    p.add_argument("--graph", action="append", dest="graphs", metavar="STAGE",
                   help="only this stage's named graph (repeatable)")
    p.add_argument("--chunk-size", type=positive_int, default=50_000, metavar="N",
                   help="triples per request (default: 50000)")
    p.add_argument("--retries", type=nonnegative_int, default=3,
                   help="retries on 5xx/429/no answer (default: 3)")
    p.add_argument("--timeout", type=positive_float, default=60.0, metavar="S",
                   help="seconds per request (default: 60)")
    p.add_argument("--insecure", action="store_true",
                   help="allow credentials over plain http to a non-loopback host (they can be read "
                   "on the way)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kgfilters.ontology.push import push_graph

    report = push_graph(args.run, args.endpoint, graphs=args.graphs, protocol=args.protocol,
                        chunk_size=args.chunk_size, retries=args.retries, timeout=args.timeout,
                        insecure=args.insecure)
    print(f"pushed {report.triples} triples in {len(report.graphs)} graphs to {report.endpoint} "
          f"({report.protocol}, {report.requests} requests)")
    return 0
