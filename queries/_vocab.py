"""The kgf namespace and instance IRIs this part uses, from ``kgfilters.ontology`` when it is there.

The knowledge-graph part owns the vocabulary (``kgfilters.ontology.namespace.KGF``) and the IRI
scheme (``kgfilters.ontology.iris``). Until it lands, this module falls back to an rdflib
``Namespace`` with the same IRI and to the documented IRI patterns, so this part works alone:
``{base}class/{c}``, ``{base}layer/{quote(layer)}``, ``{base}layer/{quote(layer)}/filter/{i}``,
``{base}coarse/{quote(layer)}/{i}/{quote(concept)}``, ``{base}graph/{stage}`` (``quote`` encodes
``/`` too). A test checks these agree with ``kgfilters.ontology.iris.Iris`` when it is installed.
"""

from __future__ import annotations

from urllib.parse import quote

from rdflib import URIRef

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

KGF_IRI = "https://w3id.org/kgfilters#"

from kgfilters.ontology.namespace import KGF  # noqa: E402 - the graph part owns the vocabulary

#: Terms this part emits or queries; the ontology must declare each of them (the last two lines:
#: the graph part's terms for sensitive areas and explanations, used by two catalog queries).
USED_TERMS = (
    "Filter", "Layer", "ClassLabel", "Tag", "SensitiveArea", "Explanation", "CoarseConcept",
    "Reservation", "Occlusion", "inLayer", "layerName", "channelIndex", "taggedWith", "tagFilter",
    "tagClass", "score", "rank", "method", "denotes", "coarseConcept", "hasCoarseConcept",
    "concept", "support", "supportCount", "strategy", "areaFraction",
    "areaFilter", "split", "imageIndex", "maskFile", "predictedClass", "trueClass", "confidence",
    "hasTopFilter", "activeFilter", "activation", "votesFor",
)  # fmt: skip


def _quote(text: str) -> str:
    """Percent-encode one IRI path segment, ``/`` included (as the ontology part's ``quote``)."""
    return quote(str(text), safe="")


def default_base(run_name: str) -> str:
    """The default base IRI of a run's instances: ``https://w3id.org/kgfilters/run/<name>/``."""
    return f"https://w3id.org/kgfilters/run/{_quote(run_name)}/"


def class_iri(base: str, c: int) -> URIRef:
    """IRI of class label ``c`` (0-based class index): ``{base}class/{c}``."""
    return URIRef(f"{base}class/{int(c)}")


def layer_iri(base: str, layer: str) -> URIRef:
    """IRI of a layer: ``{base}layer/{quote(layer)}``."""
    return URIRef(f"{base}layer/{_quote(layer)}")


def filter_iri(base: str, layer: str, i: int) -> URIRef:
    """IRI of filter ``i`` of ``layer``: ``{base}layer/{quote(layer)}/filter/{i}``."""
    return URIRef(f"{base}layer/{_quote(layer)}/filter/{int(i)}")


def coarse_iri(base: str, layer: str, i: int, concept: str) -> URIRef:
    """IRI of a ``kgf:CoarseConcept`` node: ``{base}coarse/{quote(layer)}/{i}/{quote(concept)}``."""
    return URIRef(f"{base}coarse/{_quote(layer)}/{int(i)}/{_quote(concept)}")


def graph_iri(base: str, stage: str) -> URIRef:
    """IRI of a stage's named graph: ``{base}graph/{stage}``."""
    return URIRef(f"{base}graph/{_quote(stage)}")
