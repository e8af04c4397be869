"""GraphView on a tiny persistent store: lazy pages, errors, CSV export, concept questions."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from kgfilters.errors import GraphError
from kgfilters.tui.graphview import GraphView, load_catalog, parse_bindings, with_bindings
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


def test_pages_cover_every_row_once(graph: GraphView) -> None:
    q = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
    pages, offset = [], 0
    while True:
        p = graph.page(q, offset=offset, size=5)
        pages.append(p)
        offset += len(p.rows)
        if not p.more:
            break
    rows = [r for p in pages for r in p.rows]
    assert len(rows) == len(GRAPH_TRIPLES) and len(pages) == -(-len(GRAPH_TRIPLES) // 5)
    assert pages[0].columns == ("s", "p", "o")
    assert len(set(rows)) == len(rows)


def test_ask_construct_and_cancel(graph: GraphView) -> None:
    assert graph.page("ASK { ?s kgf:coarseConcept ?o }").rows == (("true",),)
    p = graph.page("CONSTRUCT { ?s skos:broader ?o } WHERE { ?s skos:broader ?o }")
    assert p.columns == ("subject", "predicate", "object") and len(p.rows) == 3
    assert graph.page("SELECT * WHERE { ?s ?p ?o }", cancelled=lambda: True).rows == ()


def test_broken_query_is_graph_error(graph: GraphView) -> None:
    with pytest.raises(GraphError, match="SPARQL syntax error"):
        graph.page("SELECT ?s WHERE { ?s ?p }")


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
    assert graph.coarse_concepts("conv2", 1)[0]["support"] == ""  # no reified node: no support
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


def test_catalog_headers(catalog_dir: Path, tmp_path: Path) -> None:
    (q,) = load_catalog(catalog_dir)
    assert (q.name, q.title, q.description) == ("filters-by-concept", "Filters by coarse concept",
                                                "Every filter with its coarse concept.")
    assert load_catalog(tmp_path / "nothing") == ()
    assert isinstance(load_catalog(), tuple)  # the installed catalog, whatever it holds now


def test_parameters_bind_through_values(graph: GraphView) -> None:
    b = parse_bindings('?c=<http://conceptnet.io/c/en/garment>  ?n=2 ?name=conv2 ?s="a \\"b\\""')
    assert b == {"c": f"<{CN}garment>", "n": "2", "name": '"conv2"', "s": '"a \\"b\\""'}
    q = with_bindings("SELECT ?x WHERE { ?x skos:broader ?c } # trailing comment", {"c": b["c"]})
    assert sorted(graph.page(q).rows) == [(f"{CN}shirt",), (f"{CN}trousers",)]
    assert with_bindings("ASK {}", {}) == "ASK {}"
    with pytest.raises(GraphError, match=re.escape("parameters 'layer=conv2': expected ?name=value")):
        parse_bindings("?i=1 layer=conv2")
    with pytest.raises(GraphError, match="not allowed in an IRI"):
        parse_bindings("?c=<a{b>")
