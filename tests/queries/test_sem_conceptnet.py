"""ConceptNet client against a loopback HTTP server speaking ConceptNet's JSON-LD: paging, 429
then success, 500, timeout, malformed JSON, rate limit, offline mode and the on-disk cache."""

from __future__ import annotations

import json
import threading
import time
import typing
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from kgfilters.errors import ConfigError
from kgfilters.queries.conceptnet import (
    ConceptNetClient,
    ConceptNetError,
    concept_path,
    node_pos,
    strip_sense,
)
from kgfilters.queries.linking import SKOS_CLOSE_MATCH, link_conceptnet

CONTEXT = ["http://api.conceptnet.io/ld/conceptnet5.7/context.ld.json"]
ISA = {  # start term -> [(end node, weight)]
    "sandal": [("/c/en/shoe/n", 2.0), ("/c/en/footwear/n", 1.5), ("/c/en/summer_thing", 0.5)],
    "sneaker": [("/c/en/shoe/n", 3.0)],
    "shoe": [("/c/en/footwear/n", 4.0)],
    "footwear": [("/c/en/clothing/n", 2.0)],
    "boot": [("/c/en/footwear/n", 2.5)],
}
PARTOF = {"sole": [("/c/en/shoe/n", 1.0)]}
USEDFOR = {"sandal": [("/c/en/walk/v", 1.2)]}


def node(path: str) -> dict:
    parts = path.split("/")
    n = {
        "@id": path,
        "@type": "Node",
        "label": parts[3].replace("_", " "),
        "language": "en",
        "term": "/".join(parts[:4]),
    }
    if len(parts) > 4:
        n["sense_label"] = parts[4]
    return n


def edge(rel: str, start: str, end: str, weight: float) -> dict:
    return {
        "@id": f"/a/[/r/{rel}/,{start}/,{end}/]",
        "@type": "Edge",
        "dataset": "/d/conceptnet/4/en",
        "license": "cc:by/4.0",
        "rel": {"@id": f"/r/{rel}", "@type": "Relation", "label": rel},
        "start": node(start),
        "end": node(end),
        "sources": [],
        "surfaceText": None,
        "weight": weight,
    }


def page(path: str, query: dict, edges: list[dict]) -> dict:
    offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
    chunk = edges[offset : offset + limit]
    here = {k: v for k, v in query.items()}
    view = {
        "@id": f"{path}?{urlencode(here)}",
        "@type": "PartialCollectionView",
        "firstPage": f"{path}?{urlencode({**here, 'offset': 0})}",
        "paginatedProperty": "edges",
    }
    if offset + limit < len(edges):
        view["nextPage"] = f"{path}?{urlencode({**here, 'offset': offset + limit, 'limit': limit})}"
    return {"@context": CONTEXT, "@id": path, "edges": chunk, "view": view}


class Handler(BaseHTTPRequestHandler):
    hits: typing.ClassVar[Counter] = Counter()
    sleep_s = 1.0

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass

    def send(self, status: int, body: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        key = url.path + (
            "?" + q.get("start", "") + q.get("rel", "") if url.path == "/query" else ""
        )
        Handler.hits[key] += 1
        if url.path == "/c/en/flaky" or q.get("start") == "/c/en/flaky":
            if Handler.hits[key] == 1:
                return self.send(429, '{"error": "slow down"}', {"Retry-After": "1"})
            return self.send(
                200, json.dumps(page(url.path, q, [edge("IsA", "/c/en/flaky", "/c/en/thing", 1.0)]))
            )
        if url.path == "/c/en/broken" or q.get("start") == "/c/en/broken":
            return self.send(500, "internal error")
        if url.path == "/c/en/slow" or q.get("start") == "/c/en/slow":
            time.sleep(Handler.sleep_s)
            return self.send(200, json.dumps(page(url.path, q, [])))
        if url.path == "/c/en/garbled" or q.get("start") == "/c/en/garbled":
            return self.send(200, '{"edges": [')
        if url.path == "/query":
            term = q["start"].split("/")[3]
            table = {"/r/IsA": ISA, "/r/PartOf": PARTOF, "/r/UsedFor": USEDFOR}.get(
                q.get("rel", ""), {}
            )
            edges = [
                edge(q["rel"][3:], f"/c/en/{term}/n", end, w) for end, w in table.get(term, [])
            ]
            return self.send(200, json.dumps(page("/query", q, edges)))
        if url.path.startswith("/c/en/"):
            term = url.path.split("/")[3]
            edges = [edge("IsA", f"/c/en/{term}", end, w) for end, w in ISA.get(term, [])]
            return self.send(200, json.dumps(page(url.path, q, edges)))
        return self.send(404, '{"error": "not found"}')


@pytest.fixture
def server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    Handler.hits = Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


class Sleeps(list):
    def __call__(self, s: float) -> None:
        self.append(s)


def client(url: str, cache: Path, **kw) -> ConceptNetClient:
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rate", 1000.0)
    return ConceptNetClient(base_url=url, cache_dir=cache, **kw)


def test_node_paths() -> None:
    assert concept_path("ankle_boot") == "/c/en/ankle_boot"
    assert (
        strip_sense("/c/en/boot/n/wn/artifact") == "/c/en/boot"
        and strip_sense("/c/en/boot") == "/c/en/boot"
    )
    assert node_pos("/c/en/walk/v") == "v" and node_pos("/c/en/walk") is None
    with pytest.raises(ConfigError, match="ankle boot"):
        concept_path("ankle boot")


def test_paging_follows_next_page(server, tmp_path: Path) -> None:
    url, _ = server
    with client(url, tmp_path, page_size=1) as c:
        edges = c.edges("/c/en/sandal", "IsA")
        assert [(e.rel, e.start, e.end, e.weight) for e in edges] == [
            ("IsA", "/c/en/sandal/n", "/c/en/shoe/n", 2.0),
            ("IsA", "/c/en/sandal/n", "/c/en/footwear/n", 1.5),
            ("IsA", "/c/en/sandal/n", "/c/en/summer_thing", 0.5),
        ]
        assert c.network_requests == 3  # three pages
        assert len(c.node_edges("/c/en/sandal")) == 3
    with client(url, tmp_path, page_size=1, max_pages=2) as c:
        assert len(c.edges("/c/en/sandal", "IsA")) == 2


def test_429_then_success_with_retry_after(server, tmp_path: Path) -> None:
    url, _ = server
    sleeps = Sleeps()
    with client(url, tmp_path, sleep=sleeps, backoff=0.25) as c:
        assert [e.end for e in c.edges("/c/en/flaky", "IsA")] == ["/c/en/thing"]
        assert c.network_requests == 2
    assert 1.0 in sleeps  # Retry-After honoured
    assert Handler.hits["/query?/c/en/flaky/r/IsA"] == 2


def test_500_is_retried_then_a_clear_error(server, tmp_path: Path) -> None:
    url, _ = server
    sleeps = Sleeps()
    with (
        client(url, tmp_path, sleep=sleeps, retries=2, backoff=0.5) as c,
        pytest.raises(
            ConceptNetError,
            match=r"unreachable \(HTTP 500, 3 tries, .*start=/c/en/broken.*\).*--offline.*WordNet",
        ),
    ):
        c.edges("/c/en/broken", "IsA")
    assert Handler.hits["/query?/c/en/broken/r/IsA"] == 3
    assert [s for s in sleeps if s >= 0.5] == [0.5, 1.0]  # exponential backoff


def test_timeout(server, tmp_path: Path) -> None:
    url, _ = server
    Handler.sleep_s = 1.0
    with (
        client(url, tmp_path, timeout=0.2, retries=1) as c,
        pytest.raises(ConceptNetError, match="timed out"),
    ):
        c.edges("/c/en/slow", "IsA")


def test_malformed_json_is_an_error_and_not_cached(server, tmp_path: Path) -> None:
    url, _ = server
    with client(url, tmp_path) as c:
        for _ in range(2):
            with pytest.raises(ConceptNetError, match="malformed ConceptNet JSON"):
                c.edges("/c/en/garbled", "IsA")
        assert c.network_requests == 2  # the bad answer was not served from the cache


def test_other_http_errors_are_not_retried(server, tmp_path: Path) -> None:
    url, _ = server
    with client(url, tmp_path) as c, pytest.raises(ConceptNetError, match="HTTP 404"):
        c.get_json("/nothing")
    assert Handler.hits["/nothing"] == 1


def test_rate_limit(server, tmp_path: Path) -> None:
    url, _ = server
    sleeps = Sleeps()
    with client(url, tmp_path, sleep=sleeps, rate=2.0) as c:
        for term in ("sandal", "sneaker", "shoe"):
            c.edges(f"/c/en/{term}", "IsA")
    assert len(sleeps) == 2 and all(0.3 < s <= 0.5 for s in sleeps)


def test_second_run_from_cache_with_server_stopped(server, tmp_path: Path, wn) -> None:
    url, httpd = server
    names = ("Sandal", "Sneaker", "Ankle boot")
    with client(url, tmp_path) as c:
        first = link_conceptnet(names, c, wn=wn)
        assert c.network_requests > 0
    httpd.shutdown()
    httpd.server_close()
    with client(url, tmp_path) as c:
        again = link_conceptnet(names, c, wn=wn)
        assert c.network_requests == 0
    assert again == first
    with client(url, tmp_path, offline=True) as c:
        assert link_conceptnet(names, c, wn=wn) == first
        with pytest.raises(ConceptNetError, match=r"not in the ConceptNet cache.*offline"):
            c.edges("/c/en/hat", "IsA")
    with (
        client(url, tmp_path, retries=1) as c,
        pytest.raises(ConceptNetError, match=r"unreachable.*connection"),
    ):
        c.edges("/c/en/hat", "IsA")


def test_link_conceptnet_edges(server, tmp_path: Path, wn) -> None:
    url, _ = server
    with client(url, tmp_path) as c:
        links = link_conceptnet(
            ("Sandal", "Sneaker", "Ankle boot", "Hat"), c, wn=wn, min_weight=1.0
        )
    cn = "http://conceptnet.io/c/en/"
    assert [(lk.label, lk.concept, lk.term) for lk in links.links] == [
        ("Sandal", cn + "sandal", "sandal"),
        ("Sneaker", cn + "sneaker", "sneaker"),
        ("Ankle boot", cn + "boot", "boot"),
    ]  # Hat: no edges, unlinked; ankle_boot: none, head noun
    assert (cn + "sandal", cn + "shoe") in links.broader and (
        cn + "shoe",
        cn + "footwear",
    ) in links.broader
    assert (cn + "sandal", cn + "summer_thing") not in links.broader  # below min_weight
    assert (cn + "footwear", cn + "clothing") in links.broader  # sandal -> footwear -> clothing
    with client(url, tmp_path, offline=True) as c:
        shallow = link_conceptnet(("Sandal", "Sneaker"), c, wn=wn, depth=1)
    assert (cn + "sandal", cn + "shoe") in shallow.broader
    assert (cn + "shoe", cn + "footwear") not in shallow.broader  # two IsA steps from a label
    rels = {(r.subject, r.predicate, r.object) for r in links.related}
    assert (cn + "sandal", "http://conceptnet.io/r/UsedFor", cn + "walk") in rels
    close = {r.subject: r.object for r in links.related if r.predicate == SKOS_CLOSE_MATCH}
    from kgfilters.queries.wordnet import parse_synset_ref

    assert parse_synset_ref(wn, close[cn + "shoe"]).name() == "shoe.n.01"
    assert parse_synset_ref(wn, close[cn + "walk"]).name().startswith("walk.v.")  # pos from /v


def test_bad_client_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ftp://x"):
        ConceptNetClient(base_url="ftp://x", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="rate=0"):
        ConceptNetClient(cache_dir=tmp_path, rate=0)


def test_cli_link_conceptnet_then_offline(server, tmp_path: Path, capsys, monkeypatch, wn) -> None:
    from sem_helpers import make_run

    from kgfilters.cli import main

    monkeypatch.setenv("KGFILTERS_CACHE", str(tmp_path / "cache"))
    url, httpd = server
    run = make_run(tmp_path / "run", names=("Sandal", "Sneaker", "Bag"))
    m = tmp_path / "m.csv"
    m.write_text("Bag,bag.n.04\n")
    argv = ["link", "--run", str(run), "--conceptnet", "--conceptnet-url", url, "--rate", "1000"]
    assert main([*argv, "--mapping", str(m)]) == 0
    out = capsys.readouterr().out
    assert "Sandal" in out and "/c/en/sandal (conceptnet)" in out and "sandal.n.01 (wordnet)" in out
    assert "bag.n.04 (mapping)" in out and "/c/en/bag" not in out
    data = json.loads((run / "concepts.json").read_text())
    assert ["http://conceptnet.io/c/en/sandal", "http://conceptnet.io/c/en/shoe"] in data["broader"]
    stage = json.loads((run / "run.json").read_text())["stages"]["link"]
    assert stage["sources"] == "wordnet+conceptnet"
    httpd.shutdown()
    httpd.server_close()
    assert main([*argv, "--offline", "--mapping", str(m)]) == 0  # all from the cache
    assert json.loads((run / "concepts.json").read_text()) == data
    monkeypatch.setattr("time.sleep", lambda s: None)  # no real backoff in the test
    assert main(["link", "--run", str(run), "--conceptnet", "--conceptnet-url", url]) == 2
    assert "/c/en/bag" in capsys.readouterr().err  # not cached, server gone: one-line error
