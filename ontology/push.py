"""Send a run's graph to any SPARQL 1.1 store (Fuseki, GraphDB, QLever, Virtuoso, Oxigraph).

Two protocols, per named graph, in chunks of N-Triples lines:

* ``gsp`` (Graph Store Protocol): ``PUT <endpoint>?graph=G`` with the first chunk (replacing the
  graph), ``POST`` with the next ones (appending).
* ``update`` (SPARQL 1.1 Update): ``DROP SILENT GRAPH <G>``, then
  ``INSERT DATA { GRAPH <G> {...} }`` per chunk, POSTed as ``application/sparql-update``.

Connection errors, 429 and 5xx answers are retried with exponential back-off; any other failure
raises a one-line GraphError naming the endpoint, the graph and the HTTP status. Credentials come
from the environment: ``KGFILTERS_PUSH_TOKEN`` (bearer) or ``KGFILTERS_PUSH_USER`` and
``KGFILTERS_PUSH_PASSWORD`` (basic), or from the URL's ``user:password@``.

Credentials never reach the screen: every message and the report show the endpoint with its
user-info and secret-looking query parameters (``token``, ``key``, ``password``...) replaced by
``***``, and any credential, ``Authorization`` header or ``Bearer``/``Basic`` value in an error is
blanked too; of a server's answer only a short sanitised excerpt is shown. Credentials are not
sent over plain ``http://`` unless ``insecure=True`` (``--insecure``); to a loopback address
(127.0.0.1, ::1, localhost: the traffic does not leave the machine) they are, with a warning.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import pyoxigraph as ox
import requests

from kgfilters.errors import ConfigError, GraphError
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import open_store

__all__ = ["PROTOCOLS", "PushReport", "Redactor", "auth_from_env", "push_graph", "push_quads", "redact_url"]

log = logging.getLogger(__name__)

PROTOCOLS = ("gsp", "update")
_RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class PushReport:
    """What was sent: endpoint (credentials redacted), protocol, triples per named graph IRI and
    HTTP requests made."""

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


_SECRET_PARAM = re.compile(r"(?i)(token|key|secret|passw(or)?d|pwd|auth|sig(nature)?|credential|session)")
_GENERIC = [
    (re.compile(r"(?i)\b(proxy-authorization|authorization)(['\"]?\s*[:=]\s*['\"]?)(?:[A-Za-z-]+\s+)?"
                r"[^\s,;'\"}]+"), r"\1\2***"),
    (re.compile(r"(?i)\b(set-cookie|cookie|x-api-key|api-key)(['\"]?\s*[:=]\s*['\"]?)[^\s,;'\"}]+"),
     r"\1\2***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"//[^/\s@]*@"), "//***@"),
]
EXCERPT_CHARS = 120


def redact_url(url: str) -> str:
    """``url`` fit to print: user-info and the values of secret-looking query parameters -> ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{k}=***" if _SECRET_PARAM.search(k) else (f"{k}={v}" if v or "=" in pair else k)
        for pair in parts.query.split("&") if pair
        for k, _, v in [pair.partition("=")]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Blanks the credentials of one push (and anything shaped like one) out of a text."""

    def __init__(self, endpoint: str, headers: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        parts = urlsplit(endpoint)
        secrets = {env.get("KGFILTERS_PUSH_TOKEN", ""), env.get("KGFILTERS_PUSH_PASSWORD", ""),
                   parts.password or "", unquote(parts.password or "")}
        secrets |= {v.split(" ", 1)[-1] for v in headers.values()}
        secrets |= {v for k, v in parse_qsl(parts.query) if _SECRET_PARAM.search(k)}
        if "@" in parts.netloc:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            secrets |= {userinfo, unquote(userinfo)}
        # longest first, so that a secret containing another is blanked whole
        self.secrets = sorted((x for x in secrets if len(x) >= 3), key=len, reverse=True)
        self.endpoint = redact_url(endpoint)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        for pattern, repl in _GENERIC:
            text = pattern.sub(repl, text)
        return text

    def excerpt(self, body: str) -> str:
        """At most ``EXCERPT_CHARS`` printable characters of a server's answer, credentials blanked."""
        flat = " ".join("".join(c if c.isprintable() else " " for c in body).split())
        flat = self(flat)
        return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 3] + "..."


def _is_loopback(host: str | None) -> bool:
    from kgfilters.ontology.serve import is_loopback

    return host is not None and is_loopback(host)


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
                 session: requests.Session | None, insecure: bool = False) -> None:
        self.url, self.retries = endpoint, retries
        self.timeout, self.backoff = timeout, backoff
        self.session = session or requests.Session()
        self.headers = auth_from_env()
        self.redact = Redactor(endpoint, self.headers)
        self.endpoint = self.redact.endpoint  # what messages show
        self.count = 0
        parts = urlsplit(endpoint)
        credentials = bool(self.headers) or "@" in parts.netloc
        if credentials and parts.scheme == "http":
            if _is_loopback(parts.hostname):
                log.warning("sending credentials over plain http to %s (loopback: they do not leave "
                            "this machine)", parts.hostname)
            elif insecure:
                log.warning("sending credentials over plain http to %s (--insecure): anyone on the "
                            "way can read them", parts.hostname)
            else:
                raise ConfigError(f"endpoint {self.endpoint}: refusing to send credentials (token or "
                                  "password) over plain http; use https, or --insecure to send them anyway")

    def send(self, method: str, *, what: str, params: dict[str, str] | None, body: bytes,
             content_type: str) -> None:
        headers = {**self.headers, "Content-Type": content_type}
        for attempt in range(self.retries + 1):
            self.count += 1
            try:
                r = self.session.request(method, self.url, params=params, data=body,
                                         headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                reason = self.redact((str(exc).splitlines() or [""])[0])[:200]
                raise GraphError(f"push to {self.endpoint} ({what}): no answer after "
                                 f"{attempt + 1} tries ({type(exc).__name__}: {reason})") from None
            if r.ok:
                return
            if r.status_code in _RETRY_STATUS and attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
                continue
            detail = self.redact.excerpt(r.text)
            reason = self.redact.excerpt(str(r.reason or ""))
            raise GraphError(f"push to {self.endpoint} ({what}): HTTP {r.status_code} {reason}"
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
    insecure: bool = False,
) -> PushReport:
    """Push ``quads`` graph by graph to ``endpoint`` (see the module docstring for the protocols).

    Quads in the default graph go to the store's default graph (``?default`` / no GRAPH clause).
    retries: further tries of a request (>= 0); timeout: seconds per request (> 0). insecure:
    allow credentials over plain http to a non-loopback host. The report's endpoint is redacted.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size {chunk_size}: expected at least 1")
    if retries < 0:
        raise ConfigError(f"retries {retries}: expected 0 or more")
    if not timeout > 0:
        raise ConfigError(f"timeout {timeout}: expected a number of seconds > 0")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint {redact_url(endpoint)!r}: expected an http:// or https:// URL")
    by_graph: dict[str, list[ox.Quad]] = {}
    for q in quads:
        g = q.graph_name
        by_graph.setdefault(g.value if isinstance(g, ox.NamedNode) else "", []).append(q)
    client = _Client(endpoint, retries=retries, timeout=timeout, backoff=backoff, session=session,
                     insecure=insecure)
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
    return PushReport(client.endpoint, protocol, counts, client.count)


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
