"""``kgfilters serve``: a read-only SPARQL endpoint over the run's graph (the oxigraph server)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgfilters.cli.common import add_run, port, positive_int

ORDER = 63


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the run's graph over SPARQL (read-only, 127.0.0.1 by default)",
        description="Start the oxigraph server, read-only, on a snapshot of the run's graph. "
        "SPARQL queries go to http://HOST:PORT/query; the named graphs can be read at "
        "/store?graph=IRI. Queries without GRAPH see every named graph unless --no-union. "
        "Queries using SERVICE (federation) are refused. Stop it with Ctrl-C (or SIGTERM, SIGHUP); "
        "restart it to see stages that finished since.",
        epilog="example: kgfilters serve --run runs/fm --port 7878\n"
        "  curl -H 'Accept: text/csv' --data-urlencode 'query=SELECT (COUNT(*) AS ?n) "
        "{?s ?p ?o}' http://127.0.0.1:7878/query",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1; 0.0.0.0 exposes it to the network, "
                   "with a warning)")
    p.add_argument("--port", type=port, default=7878, help="TCP port (default: 7878)")
    p.add_argument("--cors", action="store_true", help="allow cross-origin requests")
    p.add_argument("--no-union", dest="union", action="store_false",
                   help="the default graph is empty: queries must use GRAPH")
    p.add_argument("--timeout", type=positive_int, default=None, metavar="S",
                   help="per-query time limit in seconds")
    p.set_defaults(func=run)


#: Seconds between looks at the run's generation counter while serving.
WATCH_S = 2.0


def wait_watching(server, run: Path, *, every: float | None = None) -> int:  # type: ignore[no-untyped-def]
    """Wait for the server to exit (then close it); meanwhile say once per change when a stage
    changed the run since the endpoint's snapshot was taken (the endpoint keeps serving it)."""
    import subprocess

    from kgfilters.stages import changed_since, generation

    seen, told = generation(run), None
    try:
        while True:
            try:
                return server.process.wait(timeout=WATCH_S if every is None else every)
            except subprocess.TimeoutExpired:
                line = changed_since(run, seen)
                if line is not None and line != told:
                    told = line
                    print(f"note: {line}; this endpoint still serves the graph as it was at start: "
                          "restart `kgfilters serve` to serve the newer one", flush=True)
    finally:
        server.close()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import signal
    import sys

    from kgfilters.ontology.serve import serve

    # Stop the server and remove its snapshot on SIGTERM and SIGHUP too (SIGINT already raises
    # KeyboardInterrupt); if this process is SIGKILLed, the child dies with it (PR_SET_PDEATHSIG).
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _stop)

    server = serve(args.run, host=args.host, port=args.port, cors=args.cors,
                   union_default_graph=args.union, timeout_s=args.timeout)
    try:
        print(f"SPARQL endpoint: {server.query_url} (graph store: {server.url}/store); Ctrl-C stops "
              "it; federated queries (SERVICE) are refused", flush=True)
        status = wait_watching(server, args.run)
    except KeyboardInterrupt:
        server.close()
        try:
            print("stopped", flush=True)
        except OSError:  # the terminal is gone (SIGHUP)
            pass
        return 0
    finally:
        server.close()
    if status in (0, -signal.SIGTERM):
        return 0
    print(f"kgfilters serve: error: the oxigraph server stopped (exit status {status})", file=sys.stderr)
    return 1
