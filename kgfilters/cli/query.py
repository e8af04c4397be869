"""``kgfilters query``: run a catalog query (or any .rq file) against a run's graph."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kgfilters.cli.common import add_run

ORDER = 70


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="run a SPARQL catalog query (or a .rq file) on the run's graph",
        description="Run a query of the catalog by name, or any .rq file, on the run's graph store "
        "(or on any RDF file given with --graph). Parameters are bound as RDF terms, never pasted "
        "into the query text. Without NAME, list the catalog.",
        epilog="examples:\n"
        "  kgfilters query filters-tagged-with --param label=Sandal --run runs/fm\n"
        "  kgfilters query my.rq --graph exports/graph.ttl --format csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", metavar="NAME|FILE.rq", help="catalog query name or .rq file")
    add_run(p)
    p.add_argument(
        "--graph",
        type=Path,
        default=None,
        metavar="FILE",
        help="query this RDF file (any format rdflib reads) instead of the run's store",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter value (repeatable)",
    )
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))
    p.set_defaults(func=run)


def _open_graph(args: argparse.Namespace) -> Any:
    from kgfilters.errors import GraphError

    if args.graph is not None:
        import rdflib
        from rdflib.util import guess_format

        if not args.graph.is_file():
            raise GraphError(f"--graph {args.graph}: no such file")
        ds = rdflib.Dataset(default_union=True)
        fmt = guess_format(str(args.graph)) or "turtle"
        try:
            ds.parse(args.graph, format=fmt)
        except Exception as exc:  # rdflib parsers raise many unrelated types
            raise GraphError(
                f"--graph {args.graph}: not readable as {fmt} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None
        return ds
    from kgfilters.ontology import store as graph_store

    if not graph_store.has_store(args.run):
        raise GraphError(
            f"{args.run}: no graph store yet; run `kgfilters graph --run {args.run}` or pass --graph FILE"
        )
    return graph_store.open_store(args.run, read_only=True)


def run(args: argparse.Namespace) -> int:
    from kgfilters.errors import ConfigError
    from kgfilters.queries.catalog import catalog, format_result, get_query, run_query

    if args.name is None:
        for name, q in catalog().items():
            params = " ".join(
                f"{p.name}:{p.type}" + (f"={p.default}" if p.default else "") for p in q.params
            )
            print(f"{name:24s} {q.question}" + (f"  [{params}]" if params else ""))
        return 0
    values: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE")
        values[key.strip()] = value
    query = get_query(args.name)
    result = run_query(_open_graph(args), query, values)
    print(format_result(result, args.format))
    return 0
