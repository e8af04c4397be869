"""The vocabulary: kgf.ttl parses, every term is documented, the Python namespace and the JSON-LD
context agree with it, the shapes cover every class, and emitted data uses declared terms only."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import pytest
from rdflib import OWL, RDF, RDFS, Graph, URIRef

from kgfilters.ontology.namespace import KGF, KGF_IRI

from .helpers import store_graphs, union

ONTOLOGY = Path(__file__).resolve().parents[2] / "ontology"


@pytest.fixture(scope="module")
def kgf() -> Graph:
    text = resources.files("kgfilters.ontology").joinpath("kgf.ttl").read_text("utf-8")
    return Graph().parse(data=text, format="turtle")


def declared(g: Graph) -> set[str]:
    return {str(s) for s in g.subjects(RDF.type, None)
            if isinstance(s, URIRef) and str(s).startswith(KGF_IRI)}


def test_ontology_header(kgf: Graph) -> None:
    onto = next(kgf.subjects(RDF.type, OWL.Ontology))
    assert kgf.value(onto, OWL.versionInfo) is not None
    assert kgf.value(onto, RDFS.comment) is not None


def test_every_term_has_label_comment_and_properties_domain_range(kgf: Graph) -> None:
    terms = declared(kgf)
    assert len(terms) > 60
    for t in sorted(terms):
        node = URIRef(t)
        assert kgf.value(node, RDFS.label) is not None, f"{t} has no rdfs:label"
        assert kgf.value(node, RDFS.comment) is not None, f"{t} has no rdfs:comment"
        types = set(kgf.objects(node, RDF.type))
        if types & {OWL.ObjectProperty, OWL.DatatypeProperty}:
            assert kgf.value(node, RDFS.domain) is not None, f"{t} has no rdfs:domain"
            assert kgf.value(node, RDFS.range) is not None, f"{t} has no rdfs:range"


def test_core_vocabulary_contract(kgf: Graph) -> None:
    core = ["Model", "Layer", "Filter", "ClassLabel", "Tag", "SensitiveArea", "Explanation",
            "hasLayer", "inLayer", "layerName", "channelIndex", "taggedWith", "tagFilter",
            "tagClass", "score", "rank", "method", "k", "q", "denotes", "coarseConcept", "strategy",
            "areaFraction", "Reservation", "Occlusion", "layerOrder", "filterCount", "maskFile",
            "CoarseConcept", "concept", "support", "hasCoarseConcept"]
    terms = declared(kgf)
    for name in core:
        assert KGF_IRI + name in terms, name
    assert (KGF.Model, RDFS.subClassOf, URIRef("http://www.w3.org/ns/mls#Model")) in kgf
    concept = URIRef("http://www.w3.org/2004/02/skos/core#Concept")
    assert (KGF.ClassLabel, RDFS.subClassOf, concept) in kgf


def test_namespace_in_step_with_ttl(kgf: Graph) -> None:
    tree = ast.parse((ONTOLOGY / "namespace.py").read_text("utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "KGF")
    names = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}  # type: ignore[union-attr]
    assert {KGF_IRI + n for n in names} == declared(kgf)
    with pytest.raises(AttributeError):
        KGF.Filtr  # noqa: B018


def test_context_terms_are_declared(kgf: Graph) -> None:
    from kgfilters.ontology.export import jsonld_context

    terms = declared(kgf)
    for key, value in jsonld_context().items():
        iri = value if isinstance(value, str) else value["@id"]
        if iri.startswith("kgf:"):
            assert KGF_IRI + iri[4:] in terms, key


def test_shapes_cover_every_class(kgf: Graph) -> None:
    from kgfilters.ontology.validate import shapes_graph

    sh = URIRef("http://www.w3.org/ns/shacl#targetClass")
    targets = {str(o) for o in shapes_graph().objects(None, sh)}
    classes = {str(s) for s in kgf.subjects(RDF.type, OWL.Class) if str(s).startswith(KGF_IRI)}
    assert classes - targets == set()


def test_emitted_terms_are_declared(kgf: Graph, built_run: Path) -> None:
    terms = declared(kgf)
    data = union(store_graphs(built_run))
    used = set()
    for s, p, o in data:
        for node in (s, p, o):
            if isinstance(node, URIRef) and str(node).startswith(KGF_IRI):
                used.add(str(node))
    assert used, "no kgf: term in the emitted data"
    assert used - terms == set()
    # the built run exercises nearly the whole vocabulary
    assert len(used) > 60


def test_ontology_never_imports_to_the_right() -> None:
    for path in ONTOLOGY.glob("*.py"):
        text = path.read_text("utf-8")
        assert "kgfilters.queries" not in text and "kgfilters.tui" not in text, path.name


def test_shapes_are_valid_shacl() -> None:
    from pyshacl import validate

    from kgfilters.ontology.validate import shapes_graph

    conforms, _, text = validate(Graph(), shacl_graph=shapes_graph(), meta_shacl=True)
    assert conforms, text
