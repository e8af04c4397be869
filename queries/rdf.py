"""Concept links and coarse concepts as rdflib triples (pure functions; the graph part stores them).

Stage ``concepts``: ``<class> kgf:denotes <concept>``; each concept ``a skos:Concept`` with
``skos:prefLabel`` (``@en``) and ``skos:notation``; ``skos:broader`` edges; other ConceptNet
relations with ConceptNet's relation IRIs; ``skos:closeMatch`` from ConceptNet to WordNet.
Stage ``coarsening``: ``<filter> kgf:coarseConcept <concept>`` and a reified node
``{base}coarse/{layer}/{i}/{concept} a kgf:CoarseConcept; kgf:concept <concept>; kgf:support share; kgf:supportCount n``
linked by ``kgf:hasCoarseConcept``.
"""

from __future__ import annotations

from rdflib import RDF, SKOS, XSD, Literal, URIRef
from rdflib.term import Node

from kgfilters.queries._vocab import KGF, class_iri, coarse_iri, filter_iri
from kgfilters.queries.coarsen import Coarsening
from kgfilters.queries.linking import ConceptLinks

__all__ = ["Triple", "coarsening_triples", "concept_triples"]

Triple = tuple[Node, Node, Node]


def concept_triples(links: ConceptLinks, base: str) -> list[Triple]:
    """Triples of the ``concepts`` stage for a run whose instance IRIs start with ``base``."""
    out: list[Triple] = []
    for lk in links.links:
        out.append((class_iri(base, lk.class_index), KGF.denotes, URIRef(lk.concept)))
    for c in links.concepts:
        iri = URIRef(c.iri)
        out += [
            (iri, RDF.type, SKOS.Concept),
            (iri, SKOS.prefLabel, Literal(c.label, lang="en")),
            (iri, SKOS.notation, Literal(c.notation)),
        ]
    out += [(URIRef(a), SKOS.broader, URIRef(b)) for a, b in links.broader]
    out += [(URIRef(r.subject), URIRef(r.predicate), URIRef(r.object)) for r in links.related]
    return out


def coarsening_triples(coarsening: Coarsening, base: str) -> list[Triple]:
    """Triples of the ``coarsening`` stage (``kgf:coarseConcept`` plus reified support)."""
    out: list[Triple] = []
    for f in coarsening.filters:
        fi = filter_iri(base, f.layer, f.filter)
        for c in f.concepts:
            node = coarse_iri(base, f.layer, f.filter, c.concept)
            out += [
                (fi, KGF.coarseConcept, URIRef(c.concept)),
                (fi, KGF.hasCoarseConcept, node),
                (node, RDF.type, KGF.CoarseConcept),
                (node, KGF.concept, URIRef(c.concept)),
                # kgf:support is the share of the filter's tag classes covered, kgf:supportCount
                # their number (the ontology's two terms)
                (node, KGF.support, Literal(c.support / len(f.classes), datatype=XSD.double)),
                (node, KGF.supportCount, Literal(c.support, datatype=XSD.integer)),
            ]
    return out
