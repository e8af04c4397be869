"""Send a run's graph to any SPARQL 1.1 store (Fuseki, GraphDB, QLever, Virtuoso, Oxigraph).

Two protocols, per named graph, in chunks of N-Triples lines:

* ``gsp`` (Graph Store Protocol): ``PUT <endpoint>?graph=G`` with the first chunk (replacing the
  graph), ``POST`` with the next ones (appending).
* ``update`` (SPARQL 1.1 Update): ``DROP SILENT GRAPH <G>``, then
  ``INSERT DATA { GRAPH <G> {...} }`` per chunk, POSTed as ``application/sparql-update``.

Connection errors, 429 and 5xx answers are retried with exponential back-off; any other failure
raises a one-line GraphError naming the endpoint, the graph and the HTTP status. Credentials come
from the environment: ``KGFILTERS_PUSH_TOKEN`` (bearer) or ``KGFILTERS_PUSH_USER`` and
``KGFILTERS_PUSH_PASSWORD`` (basic).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import requests

from kgfilters.errors import ConfigError, GraphError
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import open_store

__all__ = ["PROTOCOLS", "PushReport", "auth_from_env", "push_graph", "push_quads"]

log = logging.getLogger(__name__)

PROTOCOLS = ("gsp", "update")
_RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class PushReport:
    """What was sent: endpoint, protocol, triples per named graph IRI and HTTP requests made."""

    endpoint: str
    protocol: str
    graphs: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    @property
    def triples(self) -> int:
        return sum(self.graphs.values())


def auth_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """HTTP headers for the credentials in the environment (bearer token wins over basic)."""
    import base64

    env = os.environ if env is None else env
    if token := env.get("KGFILTERS_PUSH_TOKEN"):
        return {"Authorization": f"Bearer {token}"}
    user = env.get("KGFILTERS_PUSH_USER")
    if user:
        pair = f"{user}:{env.get('KGFILTERS_PUSH_PASSWORD', '')}"
        secret = base64.b64encode(pair.encode()).decode()
        return {"Authorization": f"Basic {secret}"}
    return {}


def _chunks(quads: Sequence[ox.Quad], size: int) -> Iterator[bytes]:
    """N-Triples bytes of ``size`` triples at a time (at least one chunk, maybe empty)."""
    triples = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
    if not triples:
        yield b""
        return
    for start in range(0, len(triples), size):
        yield ox.serialize(triples[start:start + size], format=ox.RdfFormat.N_TRIPLES) or b""


class _Client:
    def __init__(self, endpoint: str, *, retries: int, timeout: float, backoff: float,
                 session: requests.Session | None) -> None:
        self.endpoint, self.retries = endpoint, retries
        self.timeout, self.backoff = timeout, backoff
        self.session = session or requests.Session()
        self.headers = auth_from_env()
        self.count = 0

    def send(self, method: str, *, what: str, params: dict[str, str] | None, body: bytes,
             content_type: str) -> None:
        headers = {**self.headers, "Content-Type": content_type}
        for attempt in range(self.retries + 1):
            self.count += 1
            try:
                r = self.session.request(method, self.endpoint, params=params, data=body,
                                         headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                reason = str(exc).splitlines()[0][:200]
                raise GraphError(f"push to {self.endpoint} ({what}): no answer after "
                                 f"{attempt + 1} tries ({type(exc).__name__}: {reason})") from None
            if r.ok:
                return
            if r.status_code in _RETRY_STATUS and attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
                continue
            detail = " ".join(r.text.split())[:200]
            raise GraphError(f"push to {self.endpoint} ({what}): HTTP {r.status_code} {r.reason}"
                             + (f": {detail}" if detail else ""))


def push_quads(
    quads: Sequence[ox.Quad],
    endpoint: str,
    *,
    protocol: str = "gsp",
    chunk_size: int = 50_000,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 0.5,
    session: requests.Session | None = None,
) -> PushReport:
    """Push ``quads`` graph by graph to ``endpoint`` (see the module docstring for the protocols).

    Quads in the default graph go to the store's default graph (``?default`` / no GRAPH clause).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size {chunk_size}: expected at least 1")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint {endpoint!r}: expected an http:// or https:// URL")
    by_graph: dict[str, list[ox.Quad]] = {}
    for q in quads:
        g = q.graph_name
        by_graph.setdefault(g.value if isinstance(g, ox.NamedNode) else "", []).append(q)
    client = _Client(endpoint, retries=retries, timeout=timeout, backoff=backoff, session=session)
    for graph, gq in sorted(by_graph.items()):
        name = f"graph <{graph}>" if graph else "default graph"
        if protocol == "gsp":
            params = {"graph": graph} if graph else {"default": ""}
            for i, chunk in enumerate(_chunks(gq, chunk_size)):
                client.send("PUT" if i == 0 else "POST", what=name, params=params, body=chunk,
                            content_type="application/n-triples")
        else:
            target = f"GRAPH <{graph}>" if graph else "DEFAULT"
            client.send("POST", what=name, params=None, body=f"DROP SILENT {target}".encode(),
                        content_type="application/sparql-update")
            for chunk in _chunks(gq, chunk_size):
                if not chunk:
                    continue
                inner = f"GRAPH <{graph}> {{ ".encode() + chunk + b" }" if graph else chunk
                client.send("POST", what=name, params=None,
                            body=b"INSERT DATA { " + inner + b" }",
                            content_type="application/sparql-update")
        log.info("pushed %s: %d triples", name, len(gq))
    counts = {g: len(q) for g, q in sorted(by_graph.items())}
    return PushReport(endpoint, protocol, counts, client.count)


def push_graph(
    run_root: str | os.PathLike[str],
    endpoint: str,
    *,
    graphs: Sequence[str] | None = None,
    **options: object,
) -> PushReport:
    """Push the run's named graphs (all, or the stages named in ``graphs``) to ``endpoint``.

    Options as ``push_quads``: protocol, chunk_size, retries, timeout, backoff, session.
    """
    root = Path(run_root)
    store = open_store(root, read_only=True)
    if graphs is None:
        quads = list(store)
    else:
        iris = Iris.for_run(root)
        quads = [q for s in graphs
                 for q in store.quads_for_pattern(None, None, None, ox.NamedNode(iris.graph(s)))]
    del store
    return push_quads(quads, endpoint, **options)  # type: ignore[arg-type]
