"""GraphView on a tiny persistent store: lazy pages, errors, CSV export, concept questions."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kgfilters.errors import GraphError
from kgfilters.queries.catalog import bind_params, catalog, with_values
from kgfilters.tui.graphview import GraphView
from tests.tui.conftest import CN, GRAPH_TRIPLES, build_graph


@pytest.fixture()
def graph(tmp_path: Path) -> GraphView:
    g = GraphView.open(build_graph(tmp_path / "graph"))
    assert g is not None
    return g


def test_no_graph_is_none(tmp_path: Path) -> None:
    assert GraphView.open(tmp_path / "absent") is None
    (tmp_path / "empty").mkdir()
    assert GraphView.open(tmp_path / "empty") is None


def test_pages_cover_every_row_once_from_one_run_of_the_query(graph: GraphView, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runs = []
    real = graph._run
    monkeypatch.setattr(graph, "_run", lambda text: runs.append(text) or real(text))
    q = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
    pages = [graph.open_page(q, size=5)]
    while pages[-1].more:
        assert pages[-1].cursor is not None
        pages.append(graph.next_page(pages[-1].cursor, size=5))
    rows = [r for p in pages for r in p.rows]
    assert len(rows) == len(GRAPH_TRIPLES) and len(pages) == -(-len(GRAPH_TRIPLES) // 5)
    assert [p.offset for p in pages] == list(range(0, len(GRAPH_TRIPLES), 5))
    assert pages[0].columns == ("s", "p", "o") and len(set(rows)) == len(rows)
    assert rows == sorted(rows) and len(runs) == 1  # read on, never re-run
    assert pages[-1].cursor is None
    with pytest.raises(GraphError, match="is closed; run the query again"):
        graph.next_page(pages[0].cursor, size=5)  # type: ignore[arg-type]
    exact = graph.open_page("SELECT ?o WHERE { ?s kgf:channelIndex ?o }", size=2)
    assert len(exact.rows) == 2 and not exact.more and exact.cursor is None  # no empty page after a full one


def test_ask_construct_cancel_and_close(graph: GraphView) -> None:
    assert graph.open_page("ASK { ?s kgf:coarseConcept ?o }").rows == (("true",),)
    p = graph.open_page("CONSTRUCT { ?s skos:broader ?o } WHERE { ?s skos:broader ?o }")
    assert p.columns == ("subject", "predicate", "object") and len(p.rows) == 3
    cancelled = graph.open_page("SELECT * WHERE { ?s ?p ?o }", cancelled=lambda: True)
    assert cancelled.rows == () and cancelled.cursor is None
    first = graph.open_page("SELECT * WHERE { ?s ?p ?o }", size=3)
    graph.close(first.cursor)
    with pytest.raises(GraphError, match="is closed"):
        graph.next_page(first.cursor, size=3)  # type: ignore[arg-type]
    graph.shutdown()
    graph.shutdown()  # twice is harmless


def test_broken_query_is_graph_error(graph: GraphView) -> None:
    with pytest.raises(GraphError, match="SPARQL syntax error"):
        graph.open_page("SELECT ?s WHERE { ?s ?p }")


def test_export_csv(graph: GraphView, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "q.csv"
    n = graph.export_csv("SELECT ?c WHERE { ?c skos:broader ?b } ORDER BY ?c", out)
    rows = list(csv.reader(out.open()))
    assert n == 3 and rows[0] == ["c"] and rows[1] == [f"{CN}garment"]
    with pytest.raises(GraphError, match="export cancelled"):
        graph.export_csv("SELECT * WHERE { ?s ?p ?o }", tmp_path / "x.csv", cancelled=lambda: True)
    assert not (tmp_path / "x.csv").exists()


def test_concept_questions(graph: GraphView) -> None:
    coarse = graph.coarse_concepts("conv2", 0)
    assert coarse == [{"concept": f"{CN}garment", "support": "2", "label": "garment",
                       "chain": "garment > clothing"}]
    assert graph.coarse_concepts("conv2", 1)[0]["support"] == "1"  # the emitter's reified node
    linked = graph.linked_concepts("conv2", 0)
    assert [(r["class"], r["concept"]) for r in linked] == [("one", f"{CN}trousers"), ("zero", f"{CN}shirt")]
    assert graph.coarse_roots() == [{"concept": f"{CN}garment", "filters": "2"}]
    classes, filters = graph.concept_members(f"{CN}garment")
    assert [c["label"] for c in classes] == ["one", "zero"]
    assert [(f["name"], f["i"]) for f in filters] == [("conv2", "0"), ("conv2", "1")]
    assert graph.concepts_matching("GARM") == {("conv2", 0): (f"{CN}garment",), ("conv2", 1): (f"{CN}garment",)}
    assert graph.concepts_matching("shirt") == {("conv2", 0): (f"{CN}shirt",)}
    with pytest.raises(GraphError, match="not allowed in an IRI"):
        graph.concept_members("a b")


def test_view_questions_bind_values_never_paste_them(graph: GraphView, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    texts: list[str] = []
    real = graph._run
    monkeypatch.setattr(graph, "_run", lambda text: texts.append(text) or real(text))
    hostile = 'conv2" } ?f ?p ?o { "'
    assert graph.coarse_concepts(hostile, 0) == [] and graph.linked_concepts(hostile, 0) == []
    assert graph.concepts_matching('") || true || ("') == {}  # one literal, matching nothing
    assert graph.concepts_matching("garm") != {}
    # the value sits in a VALUES block as one escaped literal, the query text itself is fixed
    assert all('VALUES' in t for t in texts) and any('"conv2\\" } ?f ?p ?o { \\""' in t for t in texts)
    with pytest.raises(GraphError, match="expected a value of type iri"):
        graph.label("no-scheme")


def test_catalog_queries_bind_on_the_lazy_path(graph: GraphView, catalog_dir: Path) -> None:
    queries = catalog(catalog_dir)
    assert list(queries) == ["filters-by-concept", "narrower"]
    assert catalog(catalog_dir / "nothing") == {}
    q = queries["narrower"]
    assert [(p.name, p.type, p.default) for p in q.params] == [("c", "iri", None), ("layer", "string", "conv2")]
    text = with_values(q.text, bind_params(q, {"c": f"{CN}garment"}))
    assert graph.open_page(text).rows == ((f"{CN}shirt", "0"), (f"{CN}shirt", "1"),
                                      (f"{CN}trousers", "0"), (f"{CN}trousers", "1"))
    # a value holding SPARQL stays one literal: no layer has that name, so no filter is listed
    hostile = with_values(q.text, bind_params(q, {"c": f"{CN}garment", "layer": 'conv2" } ?x ?y { "'}))
    assert graph.open_page(hostile).rows == ((f"{CN}shirt", ""), (f"{CN}trousers", ""))
