"""Loopback SPARQL servers: push to ``oxigraph serve`` and read back; query ``kgfilters serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from rdflib import Graph
from rdflib.compare import isomorphic

from kgfilters.errors import ConfigError, GraphError
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.ontology.push import auth_from_env, push_graph
from kgfilters.ontology.serve import find_oxigraph, free_port, serve, wait_ready

from .helpers import store_graphs

pytestmark = pytest.mark.slow


@pytest.fixture
def oxigraph_rw(tmp_path: Path) -> Iterator[str]:
    """A read-write ``oxigraph serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([str(find_oxigraph()), "serve", "--location", str(tmp_path / "remote"),
                             "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready("127.0.0.1", port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def read_back(url: str, graph: str) -> Graph:
    r = requests.get(f"{url}/store", params={"graph": graph},
                     headers={"Accept": "application/n-triples"}, timeout=30)
    assert r.status_code == 200, r.text
    return Graph().parse(data=r.text, format="nt")


@pytest.mark.parametrize(("protocol", "path"), [("gsp", "/store"), ("update", "/update")])
def test_push_and_read_back(built_run: Path, oxigraph_rw: str, protocol: str, path: str) -> None:
    expected = store_graphs(built_run)
    report = push_graph(built_run, oxigraph_rw + path, protocol=protocol, chunk_size=100)
    assert report.graphs == {g: len(v) for g, v in expected.items()}
    assert report.requests > len(expected)  # several chunks per graph, none refused
    for iri, g in expected.items():
        assert isomorphic(read_back(oxigraph_rw, iri), g), iri
    # pushing again replaces, it does not duplicate
    push_graph(built_run, oxigraph_rw + path, protocol=protocol, chunk_size=10_000)
    for iri, g in expected.items():
        assert len(read_back(oxigraph_rw, iri)) == len(g)


def test_client_errors_are_clear(built_run: Path, oxigraph_rw: str) -> None:
    with pytest.raises(GraphError) as info:
        push_graph(built_run, oxigraph_rw + "/nothing", retries=0)
    msg = str(info.value)
    assert msg.startswith(f"push to {oxigraph_rw}/nothing (graph <") and "HTTP 404" in msg
    assert "\n" not in msg
    with serve(built_run) as ro, pytest.raises(GraphError, match=r"HTTP 403 Forbidden"):
        push_graph(built_run, ro.url + "/store", retries=0)
    port = free_port()
    with pytest.raises(GraphError, match=r"no answer after 2 tries"):
        push_graph(built_run, f"http://127.0.0.1:{port}/store", retries=1, backoff=0.01)
    with pytest.raises(ConfigError, match="protocol 'ftp'"):
        push_graph(built_run, oxigraph_rw, protocol="ftp")


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``fail`` requests, then 204; records Authorization headers."""

    fail = 2
    seen: ClassVar[list[str | None]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(self.headers.get("Authorization"))
        status = 503 if len(type(self).seen) <= type(self).fail else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args: object) -> None:
        pass


def test_retries_and_auth(built_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/store"
    monkeypatch.setenv("KGFILTERS_PUSH_TOKEN", "s3cret")
    try:
        _Flaky.seen, _Flaky.fail = [], 2
        report = push_graph(built_run, url, graphs=["tags"], retries=3, backoff=0.01)
        assert report.requests == 3 and _Flaky.seen == ["Bearer s3cret"] * 3
        _Flaky.seen, _Flaky.fail = [], 99
        with pytest.raises(GraphError, match=r"tags>\): HTTP 503"):
            push_graph(built_run, url, graphs=["tags"], retries=2, backoff=0.01)
        assert len(_Flaky.seen) == 3
    finally:
        server.shutdown()
    assert auth_from_env({"KGFILTERS_PUSH_USER": "u", "KGFILTERS_PUSH_PASSWORD": "p"}) == {
        "Authorization": "Basic dTpw"}
    assert auth_from_env({}) == {}


def count(url: str, query: str) -> int:
    r = requests.post(f"{url}/query", data={"query": query},
                      headers={"Accept": "application/sparql-results+json"}, timeout=30)
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def test_serve_api(built_run: Path) -> None:
    total = sum(len(g) for g in store_graphs(built_run).values())
    with serve(built_run) as s:
        assert s.host == "127.0.0.1"
        assert count(s.url, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }") == total
        q = f"PREFIX kgf: <{KGF_IRI}> SELECT (COUNT(?f) AS ?n) {{ ?f a kgf:Filter }}"
        assert count(s.url, q) == 96  # union default graph
        snapshot = s.snapshot
    assert not snapshot.exists()


def test_kgfilters_serve_command(built_run: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "kgfilters.cli", "serve", "--run", str(built_run),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/query" in line, line
        q = f"PREFIX kgf: <{KGF_IRI}> SELECT (COUNT(?t) AS ?n) {{ ?t a kgf:Tag }}"
        assert count(f"http://127.0.0.1:{port}", q) == 60
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/query", timeout=2)
