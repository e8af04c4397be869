"""Every export format re-reads as the same dataset: quads, datatypes and written forms (issue 13)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib import BNode, Dataset, Graph, Literal, URIRef

from kgfilters.ontology.export import FORMATS, export_graph, jsonld_context
from kgfilters.ontology.jsonld import write_jsonld
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.ontology.store import open_store

ONTOLOGY = Path(__file__).resolve().parents[2] / "ontology"
XSD = "http://www.w3.org/2001/XMLSchema#"
LANG = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

# Written forms that a lossy serialiser changes: a double written as an integer, exponents,
# leading zeros, dateTimes with and without a zone, escapes, a language tag.
EDGE = [
    ox.Literal("1", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("1.0E0", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("0.30000000000000004", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("-0.0", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("INF", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("007", datatype=ox.NamedNode(XSD + "integer")),
    ox.Literal("1", datatype=ox.NamedNode(XSD + "boolean")),
    ox.Literal("2026-11-22T00:00:00+00:00", datatype=ox.NamedNode(XSD + "dateTime")),
    ox.Literal("2026-11-22T01:02:03.5Z", datatype=ox.NamedNode(XSD + "dateTime")),
    ox.Literal('tab\t"quote" \\ newline\n é 😀'),
    ox.Literal("chaussure", language="fr"),
]


def _vocabulary_datatypes() -> set[str]:
    """Every datatype that kgf.ttl and shapes.ttl name, and rdf:langString (skos:prefLabel@en)."""
    text = (ONTOLOGY / "kgf.ttl").read_text() + (ONTOLOGY / "shapes.ttl").read_text()
    return {XSD + m for m in re.findall(r"xsd:([A-Za-z]+)", text)} | {LANG}


def _key(term: object) -> tuple[str, ...]:
    """A term by its exact written form: rdflib's Literal == compares values (1 == 1.0E0)."""
    if isinstance(term, Literal):
        dt = str(term.datatype) if term.datatype else (LANG if term.language else XSD + "string")
        return ("literal", str(term), dt, term.language or "")
    assert not isinstance(term, BNode), "the run graph has no blank nodes"
    return ("iri", str(term))


def _store_quads(root: Path) -> set[tuple[object, ...]]:
    store = open_store(root, read_only=True)
    try:
        out = set()
        for q in store:
            o = q.object
            if isinstance(o, ox.Literal):
                obj = ("literal", o.value, o.datatype.value, o.language or "")
            else:
                obj = ("iri", o.value)
            out.add((q.graph_name.value, q.subject.value, q.predicate.value, obj))
        return out
    finally:
        del store


@pytest.fixture(scope="module")
def edge_run(built_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built run with a graph of edge-case literals added."""
    import shutil

    root = tmp_path_factory.mktemp("lossless") / "fm"
    shutil.copytree(built_run, root)
    store = open_store(root)
    g = ox.NamedNode("https://w3id.org/kgfilters/run/fm/graph/edge-cases")
    s = ox.NamedNode("https://w3id.org/kgfilters/run/fm/thing/1")
    for i, lit in enumerate(EDGE):
        store.add(ox.Quad(s, ox.NamedNode(f"{KGF_IRI}value{i}"), lit, g))
    # a typed term of the context (kgf:score coerces to xsd:double) carrying another datatype
    store.add(ox.Quad(s, ox.NamedNode(f"{KGF_IRI}score"),
                      ox.Literal("3", datatype=ox.NamedNode(XSD + "integer")), g))
    store.flush()
    del store
    return root


def test_the_run_has_every_vocabulary_datatype(edge_run: Path) -> None:
    used = {q[3][2] for q in _store_quads(edge_run) if q[3][0] == "literal"}
    assert _vocabulary_datatypes() <= used


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_round_trips_exactly(edge_run: Path, tmp_path: Path, fmt: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # rdflib rewrites known datatypes' lexical forms while parsing ("1.0E0" -> "1.0") unless told
    # not to: the files' own written forms are what is compared
    monkeypatch.setattr(rdflib, "NORMALIZE_LITERALS", False)
    spec = FORMATS[fmt]
    out = export_graph(edge_run, fmt, tmp_path / f"g.{spec.extension}").path
    expected = _store_quads(edge_run)
    if spec.dataset:
        ds = Dataset()
        ds.parse(out, format=spec.rdflib_format)
        got = {(str(g.identifier), str(s), str(p), _key(o)) for g in ds.graphs() for s, p, o in g}
        assert got == expected
    else:
        back = Graph().parse(out, format=spec.rdflib_format)
        got_t = {(str(s), str(p), _key(o)) for s, p, o in back}
        assert got_t == {q[1:] for q in expected}


def test_jsonld_keeps_double_one_a_double(edge_run: Path, tmp_path: Path) -> None:
    text = export_graph(edge_run, "jsonld", tmp_path / "g.jsonld").path.read_text()
    assert '{"@value":"1","@type":"xsd:double"}' in text
    doc = json.loads(text)
    assert doc["@context"]["run"] == "https://w3id.org/kgfilters/run/fm/"
    # compacted: terms of the context, typed values by coercion, instance IRIs under run:
    assert '"score":' in text and '"@type":["Tag"]' in text and '"run:' in text


def test_jsonld_of_no_quads_and_default_graph() -> None:
    buf = io.StringIO()
    assert write_jsonld([], buf, jsonld_context()) == 0
    assert json.loads(buf.getvalue())["@graph"] == []
    s, p = ox.NamedNode("http://example.org/s"), ox.NamedNode("http://example.org/p")
    quads = [ox.Quad(s, p, ox.Literal("x")), ox.Quad(s, p, ox.BlankNode("b0")),
             ox.Quad(ox.BlankNode("b0"), p, ox.Literal("2", datatype=ox.NamedNode(XSD + "integer")))]
    buf = io.StringIO()
    assert write_jsonld(quads, buf, jsonld_context()) == 3
    ds = Dataset()
    ds.parse(data=buf.getvalue(), format="json-ld")
    back = Graph()
    for t in ds.default_graph:
        back.add(t)
    from rdflib.compare import isomorphic

    want = Graph()
    b = BNode()
    want.add((URIRef(s.value), URIRef(p.value), Literal("x")))
    want.add((URIRef(s.value), URIRef(p.value), b))
    want.add((b, URIRef(p.value), Literal("2", datatype=URIRef(XSD + "integer"))))
    assert isomorphic(back, want)


def test_jsonld_reads_back_in_oxigraph_too(edge_run: Path, tmp_path: Path) -> None:
    out = export_graph(edge_run, "jsonld", tmp_path / "g.jsonld").path
    back = set(ox.parse(path=str(out), format=ox.RdfFormat.JSON_LD))
    store = open_store(edge_run, read_only=True)
    try:
        assert back == set(store)
    finally:
        del store
