"""``serve`` and ``push`` hardened (issue 11): busy ports, SERVICE, signals, credentials. Loopback only."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from kgfilters.cli import main
from kgfilters.errors import ConfigError, GraphError
from kgfilters.ontology.build import emit_stage
from kgfilters.ontology.proxy import queries_in_request, uses_service
from kgfilters.ontology.push import Redactor, push_graph, redact_url
from kgfilters.ontology.serve import free_port, is_loopback, serve, sweep_snapshots
from tests.run_checks import assert_run_unchanged

pytestmark = pytest.mark.slow


def _snapshots() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("kgfilters-serve-*"))


# --- SERVICE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "SELECT * { SERVICE <http://127.0.0.1:1/sparql> { ?s ?p ?o } }",
    "select * { service silent <http://x/> { ?s ?p ?o } }",
    "SELECT * { ?a ?b ?c .SERVICE <http://x/> { ?s ?p ?o } }",
    "SELECT * {?a ?b ?c}\n# comment\nSERVICE",
    "SELECT * { \\u0053ERVICE <http://x/> { ?s ?p ?o } }",
    "SELECT * { \\U00000073ervice ?endpoint { ?s ?p ?o } }",
    "SELECT * { {?a ?b ?c} UNION {SERVICE<http://x/>{?s ?p ?o}} }",
])
def test_service_is_found(query: str) -> None:
    assert uses_service(query)


@pytest.mark.parametrize("query", [
    "SELECT * { ?service ?p ?o }",
    "SELECT * { ?s <http://example.org/SERVICE> ?o }",
    "PREFIX service: <http://x/> SELECT * { ?s service:SERVICE ?o }",
    "SELECT * { ?s ?p 'SERVICE <http://x/> {}' }",
    'SELECT * { ?s ?p """a\nSERVICE""" } # SERVICE in a comment',
    "SELECT * { ?s ?p ?o FILTER(?o != \"x\\\"SERVICE\") }",
    "SELECT ?services { ?s ?p ?services }",
])
def test_service_in_names_strings_iris_and_comments_is_not(query: str) -> None:
    assert not uses_service(query)


def test_queries_are_found_where_the_protocol_puts_them() -> None:
    assert queries_in_request("/query?query=ASK%7B%7D", "", b"") == ["ASK{}"]
    assert queries_in_request("/query", "application/x-www-form-urlencoded; charset=UTF-8",
                              b"query=SELECT+*+%7B%7D&default-graph-uri=x") == ["SELECT * {}"]
    assert queries_in_request("/query?query=A", "application/sparql-query", b"B") == ["A", "B"]
    assert queries_in_request("/store?graph=x", "application/n-triples", b"<a> <b> <c> .") == []


class _Recorder(BaseHTTPRequestHandler):
    """A loopback 'remote' endpoint that counts the requests it gets."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        body = b'{"head":{"vars":["s"]},"results":{"bindings":[]}}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sparql"
    finally:
        server.shutdown()
        server.server_close()


def test_served_endpoint_refuses_service_and_sends_nothing_out(built_run: Path, recorder: str) -> None:
    federated = f"SELECT * {{ SERVICE <{recorder}> {{ ?s ?p ?o }} }}"
    with serve(built_run) as s:
        answers = [
            requests.get(s.query_url, params={"query": federated}, timeout=30),
            requests.post(s.query_url, data={"query": federated}, timeout=30),
            requests.post(s.query_url, data=federated.lower(),
                          headers={"Content-Type": "application/sparql-query"}, timeout=30),
            requests.post(s.query_url + "?query=" + requests.utils.quote(federated), data={"query": "ASK {}"},
                          timeout=30),
        ]
        for r in answers:
            assert r.status_code == 403 and "SERVICE" in r.text, (r.status_code, r.text)
        ok = requests.post(s.query_url, data={"query": "SELECT (COUNT(*) AS ?n) { ?service ?p ?o }"},
                           headers={"Accept": "text/csv"}, timeout=30)
        assert ok.status_code == 200 and int(ok.text.split()[-1]) > 0
        # the graph store protocol goes through, read-only as before
        assert requests.put(s.url + "/store?default", data=b"", timeout=30).status_code == 403
    assert _Recorder.seen == []


# --- ports, hosts, signals ----------------------------------------------------------------------------


def test_busy_port_is_one_clear_line(built_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        before = _snapshots()
        with assert_run_unchanged(built_run):
            code = main(["serve", "--run", str(built_run), "--port", str(port)])
        out, err = capsys.readouterr()
    assert code == 2 and out == ""  # no endpoint URL printed for a server that is not ours
    assert err.strip() == (f"kgfilters serve: error: cannot listen on 127.0.0.1:{port}: the port is in "
                           "use (another server?); choose another --port")
    assert _snapshots() <= before


def test_non_loopback_host_warns(built_run: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.4.5") and not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails, nothing is exposed
    with caplog.at_level(logging.WARNING), pytest.raises(GraphError, match=r"cannot listen on 192\.0\.2\.1"):
        serve(built_run, host="192.0.2.1", port=free_port())
    assert any("not a loopback address" in r.getMessage() for r in caplog.records)


def _start(built_run: Path) -> tuple[subprocess.Popen[str], int, Path]:
    port = free_port()
    before = _snapshots()
    proc = subprocess.Popen([sys.executable, "-m", "kgfilters.cli", "serve", "--run", str(built_run),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/query" in line, (line, proc.stderr.read() if proc.poll() else "")
    (snapshot,) = _snapshots() - before
    return proc, port, snapshot


def _oxigraph_child(snapshot: Path) -> int:
    """The pid of the oxigraph process serving ``snapshot``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve-read-only" in cmdline and str(snapshot / "store").encode() in cmdline:
                return int(entry.name)
    raise AssertionError(f"no oxigraph process serves {snapshot}")


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            return True
        if state == "Z":  # a zombie waiting for its parent's wait(): it stopped serving
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and PR_SET_PDEATHSIG")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_every_signal_stops_the_child_and_removes_the_snapshot(built_run: Path, sig: signal.Signals) -> None:
    proc, port, snapshot = _start(built_run)
    child = _oxigraph_child(snapshot)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    assert _gone(child) and not snapshot.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/query", timeout=2)


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and PR_SET_PDEATHSIG")
def test_sigkill_takes_the_child_along_and_the_next_serve_sweeps(built_run: Path) -> None:
    proc, _, snapshot = _start(built_run)
    child = _oxigraph_child(snapshot)
    proc.kill()
    proc.wait(timeout=30)
    assert _gone(child), "the oxigraph child outlived its SIGKILLed parent"
    assert snapshot.exists()  # nobody could clean up after SIGKILL...
    assert snapshot in sweep_snapshots()  # ...until the next serve (serve() sweeps first)
    assert not snapshot.exists()


# --- push -----------------------------------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers ``status`` with a body that echoes the request's headers (as some servers do)."""

    status = 400
    seen: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(self.path)
        body = ("<html>\n<pre>request headers:\n" + str(self.headers) + "</pre>" + "x" * 500).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(body) if type(self).status != 204 else 0))
        self.end_headers()
        if type(self).status != 204:
            self.wfile.write(body)

    do_POST = do_PUT

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Echo.seen, _Echo.status = [], 400
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_push_never_shows_credentials(built_run: Path, echo: int, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KGFILTERS_PUSH_TOKEN", "tok-7d1e9a0c55")
    url = f"http://bob:hunter22-pw@127.0.0.1:{echo}/store?access_token=qs-secret-42"
    with assert_run_unchanged(built_run):
        code = main(["push", "--run", str(built_run), "--endpoint", url, "--retries", "0", "--graph", "tags"])
    out, err = capsys.readouterr()
    assert code == 2 and _Echo.seen  # the server was asked, and answered with our headers
    line = err.strip()
    assert "\n" not in line and "HTTP 400" in line
    for secret in ("tok-7d1e9a0c55", "hunter22-pw", "bob:", "qs-secret-42"):
        assert secret not in out + err and all(secret not in r.getMessage() for r in caplog.records)
    assert f"push to http://***@127.0.0.1:{echo}/store?access_token=***" in line
    excerpt = line.split("HTTP 400 Bad Request: ", 1)[1]
    assert len(excerpt) <= 120 and excerpt.startswith("<html> <pre>request headers:")  # short, flat
    assert any("plain http" in r.getMessage() and "loopback" in r.getMessage() for r in caplog.records)
    # success prints the redacted endpoint too
    _Echo.status = 204
    assert main(["push", "--run", str(built_run), "--endpoint", url, "--graph", "tags"]) == 0
    out, err = capsys.readouterr()
    tags = len(emit_stage(built_run, "tags"))
    assert f"pushed {tags} triples in 1 graphs to http://***@127.0.0.1" in out and "hunter22" not in out + err


class _Session:
    """Stands in for requests.Session: records what would be sent (no network needed)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, **kw: object) -> requests.Response:
        self.sent.append((method, url, dict(kw["headers"])))  # type: ignore[arg-type]
        r = requests.Response()
        r.status_code = 204
        return r


def test_credentials_over_plain_http_need_insecure(built_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGFILTERS_PUSH_TOKEN", "tok-7d1e9a0c55")
    session = _Session()
    with pytest.raises(ConfigError, match=r"refusing to send credentials .* over plain http; use https, "
                                          r"or --insecure") as info:
        push_graph(built_run, "http://kg.example.org/store", graphs=["tags"], session=session)
    assert "tok-7d1e9a0c55" not in str(info.value) and session.sent == []
    report = push_graph(built_run, "http://kg.example.org/store", graphs=["tags"], session=session, insecure=True)
    assert report.triples == len(emit_stage(built_run, "tags"))
    assert session.sent[0][2]["Authorization"] == "Bearer tok-7d1e9a0c55"
    monkeypatch.delenv("KGFILTERS_PUSH_TOKEN")
    with pytest.raises(ConfigError, match="over plain http"):  # a password in the URL counts too
        push_graph(built_run, "http://u:pw-123@kg.example.org/store", graphs=["tags"], session=_Session())
    plain = _Session()  # no credentials: plain http is fine
    assert push_graph(built_run, "http://kg.example.org/store", graphs=["tags"], session=plain).requests == 1
    tls = _Session()
    monkeypatch.setenv("KGFILTERS_PUSH_TOKEN", "tok-7d1e9a0c55")
    assert push_graph(built_run, "https://kg.example.org/store", graphs=["tags"], session=tls).requests == 1


def test_push_numbers_are_checked(built_run: Path) -> None:
    session = _Session()
    with pytest.raises(ConfigError, match="retries -1: expected 0 or more"):
        push_graph(built_run, "http://127.0.0.1:9/store", retries=-1, session=session)
    with pytest.raises(ConfigError, match="timeout 0: expected a number of seconds > 0"):
        push_graph(built_run, "http://127.0.0.1:9/store", timeout=0, session=session)
    assert session.sent == []


def test_redaction_known_answers() -> None:
    assert redact_url("https://u:p@h/x?graph=g&token=t&apikey=k&q") == "https://***@h/x?graph=g&token=***&apikey=***&q"
    assert redact_url("https://h/store") == "https://h/store"
    r = Redactor("https://h/x", {"Authorization": "Basic dXNlcjpzZWNyZXQ="})
    assert r("sent Basic dXNlcjpzZWNyZXQ= to http://a:b@c/") == "sent Basic *** to http://***@c/"
    assert r("echo: dXNlcjpzZWNyZXQ=") == "echo: ***"
    assert r("Authorization: Token abc123, Host: h") == "Authorization: ***, Host: h"
    assert r('{"authorization": "Bearer xyz"}') == '{"authorization": "***"}'
    assert r("Cookie: sid=abc; Accept: */*") == "Cookie: ***; Accept: */*"
    assert r.excerpt("a\x00b\n\n c" + "z" * 200) == ("a b c" + "z" * 200)[:117] + "..."
