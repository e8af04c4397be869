"""The kgf namespace and the instance IRIs this part queries (it writes no triples).

``KGF`` and ``KGF_IRI`` are the graph part's (``kgfilters.ontology.namespace``), imported, never
spelled out here. The IRI helpers are ``kgfilters.ontology.iris.Iris`` as plain functions of a
base IRI (``{base}class/{c}``,
``{base}layer/{quote(layer)}``, ``{base}layer/{quote(layer)}/filter/{i}``,
``{base}coarse/{quote(layer)}/{i}/{quote(concept)}``, ``{base}graph/{stage}``).
"""

from __future__ import annotations

from rdflib import URIRef

from kgfilters.ontology.iris import DEFAULT_BASE, Iris, quote
from kgfilters.ontology.namespace import KGF, KGF_IRI

__all__ = [
    "KGF",
    "KGF_IRI",
    "class_iri",
    "coarse_iri",
    "default_base",
    "filter_iri",
    "graph_iri",
    "layer_iri",
]

#: Terms this part's files and queries use; the ontology must declare each of them (the last two lines:
#: the graph part's terms for sensitive areas and explanations, used by two catalog queries).
USED_TERMS = (
    "Filter", "Layer", "ClassLabel", "Tag", "SensitiveArea", "Explanation", "CoarseConcept",
    "Reservation", "Occlusion", "inLayer", "layerName", "channelIndex", "taggedWith", "tagFilter",
    "tagClass", "score", "rank", "method", "denotes", "coarseConcept", "hasCoarseConcept",
    "concept", "support", "supportCount", "strategy", "areaFraction",
    "areaFilter", "split", "imageIndex", "maskFile", "predictedClass", "trueClass", "confidence",
    "hasTopFilter", "activeFilter", "activation", "votesFor",
    # query aids (kgfilters.ontology.aids) and the layer terms the tags-per-layer query reads
    "numTags", "meanTagScore", "isGeneric", "CoTagPair", "firstClass", "secondClass",
    "sharedFilters", "pairRank", "unrelatedPairs", "unrelatedRank", "coarseRank", "layerOrder", "filterCount",
)  # fmt: skip


def default_base(run_name: str) -> str:
    """The default base IRI of a run's instances: ``https://w3id.org/kgfilters/run/<name>/``."""
    return f"{DEFAULT_BASE}{quote(run_name)}/"


def class_iri(base: str, c: int) -> URIRef:
    """IRI of class label ``c`` (0-based class index): ``{base}class/{c}``."""
    return Iris(base).class_label(c)


def layer_iri(base: str, layer: str) -> URIRef:
    """IRI of a layer: ``{base}layer/{quote(layer)}``."""
    return Iris(base).layer(layer)


def filter_iri(base: str, layer: str, i: int) -> URIRef:
    """IRI of filter ``i`` of ``layer``: ``{base}layer/{quote(layer)}/filter/{i}``."""
    return Iris(base).filter(layer, i)


def coarse_iri(base: str, layer: str, i: int, concept: str) -> URIRef:
    """IRI of a ``kgf:CoarseConcept`` node: ``{base}coarse/{quote(layer)}/{i}/{quote(concept)}``."""
    return Iris(base).coarse_concept(layer, i, concept)


def graph_iri(base: str, stage: str) -> URIRef:
    """IRI of a stage's named graph: ``{base}graph/{stage}``."""
    return Iris(base).graph(stage)
