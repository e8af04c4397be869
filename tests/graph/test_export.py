"""Export: every format round-trips isomorphic; bad input leaves nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic

from kgfilters.errors import GraphError
from kgfilters.ontology import export as export_mod
from kgfilters.ontology.export import FORMATS, export_graph
from kgfilters.ontology.namespace import KGF_IRI

from .helpers import store_graphs, union


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_isomorphic(built_run: Path, tmp_path: Path, fmt: str) -> None:
    spec = FORMATS[fmt]
    result = export_graph(built_run, fmt, tmp_path / f"out.{spec.extension}")
    assert result.path.is_file() and result.triples > 1500
    expected = store_graphs(built_run)
    if spec.dataset:
        ds = Dataset()
        ds.parse(result.path, format=spec.rdflib_format)
        names = {str(g.identifier) for g in ds.graphs() if len(g)}
        assert names == set(expected)
        for iri, g in expected.items():
            assert isomorphic(ds.get_context(URIRef(iri)), g), iri
    else:
        back = Graph().parse(result.path, format=spec.rdflib_format)
        assert isomorphic(back, union(expected))


def test_default_path_and_subset(built_run: Path, run_copy: Path) -> None:
    result = export_graph(run_copy, "nt")
    assert result.path == run_copy / "exports" / "graph.nt"
    tags = export_graph(run_copy, "nq", run_copy / "exports" / "t.nq", graphs=["tags"])
    lines = tags.path.read_text().splitlines()
    assert lines and all(line.endswith("/graph/tags> .") for line in lines)


def test_jsonld_is_compacted_with_the_context(built_run: Path, tmp_path: Path) -> None:
    out = export_graph(built_run, "jsonld", tmp_path / "g.jsonld").path
    doc = json.loads(out.read_text())
    assert doc["@context"]["kgf"] == KGF_IRI
    text = out.read_text()
    assert '"inLayer"' in text and '"taggedWith"' in text


def test_unknown_format(built_run: Path, tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"format 'owl': expected one of ttl, nt, nq, trig"):
        export_graph(built_run, "owl", tmp_path / "x.owl")
    assert not (tmp_path / "x.owl").exists()


def test_unwritable_output(built_run: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GraphError, match="cannot write the export") as info:
        export_graph(built_run, "ttl", blocker / "out.ttl")
    assert "\n" not in str(info.value)


def test_failure_leaves_previous_export(built_run: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "g.jsonld"
    target.write_text("previous")

    def boom(*args: object, **kwargs: object) -> bytes:
        raise GraphError("serialiser failed")

    monkeypatch.setattr(export_mod, "_jsonld", boom)
    with pytest.raises(GraphError, match="serialiser failed"):
        export_graph(built_run, "jsonld", target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["g.jsonld"]


def test_no_graph_yet(tmp_path: Path) -> None:
    from .conftest import write_run

    root = write_run(tmp_path / "fresh")
    with pytest.raises(GraphError, match="no graph yet"):
        export_graph(root, "ttl")


@pytest.mark.parametrize("fmt", ["ttl", "nt", "xml"])
def test_graph_formats_write_each_distinct_triple_once(run_copy: Path, tmp_path: Path, fmt: str) -> None:
    """A triple in the default graph and two named graphs, a subject in two graphs with a triple
    only the later one has: the streamed union (``distinct_triples``) writes every distinct triple
    once, whatever graph holds it, and counts them; a subset export takes only the graphs named."""
    import pyoxigraph as ox

    from kgfilters.ontology.export import distinct_triples
    from kgfilters.ontology.iris import Iris
    from kgfilters.ontology.store import open_store

    iris = Iris.for_run(run_copy)
    tags, hits = (ox.NamedNode(str(iris.graph(g))) for g in ("tags", "hits"))
    s, p = ox.NamedNode(f"{iris.base}probe/1"), ox.NamedNode(f"{KGF_IRI}score")
    shared = ox.Triple(s, p, ox.Literal("1.5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#double")))
    later = ox.Triple(s, p, ox.Literal("2"))
    store = open_store(run_copy)
    before = list(store)
    for g in (ox.DefaultGraph(), tags, hits):
        store.add(ox.Quad(*shared, g))
    store.add(ox.Quad(*later, hits))
    store.flush()
    quads = list(store)
    store_triples = {(q.subject, q.predicate, q.object) for q in quads}
    assert len(quads) == len(before) + 4  # the shared triple is there three times
    assert len(store_triples) == len({(q.subject, q.predicate, q.object) for q in before}) + 2
    streamed = list(distinct_triples(store))
    assert len(streamed) == len(set(streamed)) == len(store_triples)
    assert set(streamed) == {ox.Triple(*t) for t in store_triples}
    only_hits = list(distinct_triples(store, [hits.value, hits.value]))
    assert set(only_hits) == {ox.Triple(q.subject, q.predicate, q.object) for q in quads
                              if q.graph_name == hits}
    del store

    result = export_graph(run_copy, fmt, tmp_path / f"g.{FORMATS[fmt].extension}")
    assert result.triples == len(store_triples)
    back = Graph().parse(result.path, format=FORMATS[fmt].rdflib_format)
    assert len(back) == len(store_triples)
    if fmt == "nt":  # one line per triple: none written twice
        lines = result.path.read_text().splitlines()
        assert len(lines) == len(set(lines)) == len(store_triples)
