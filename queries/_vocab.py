"""The kgf namespace and instance IRIs this part uses, from ``kgfilters.ontology`` when it is there.

The knowledge-graph part owns the vocabulary (``kgfilters.ontology.namespace.KGF``) and the IRI
scheme (``kgfilters.ontology.iris``). Until it lands, this module falls back to an rdflib
``Namespace`` with the same IRI and to the documented IRI patterns, so this part works alone:
``{base}class/{c}``, ``{base}layer/{quote(layer)}``, ``{base}layer/{quote(layer)}/filter/{i}``,
``{base}graph/{stage}``.
"""

from __future__ import annotations

from urllib.parse import quote

from rdflib import Namespace, URIRef

__all__ = ["KGF", "KGF_IRI", "class_iri", "default_base", "filter_iri", "graph_iri", "layer_iri"]

KGF_IRI = "https://w3id.org/kgfilters#"

try:  # the knowledge-graph part's DefinedNamespace, once merged
    from kgfilters.ontology.namespace import KGF  # type: ignore[import-not-found,no-redef]
except ImportError:  # pragma: no cover - depends on which parts are installed
    KGF = Namespace(KGF_IRI)  # type: ignore[misc]

#: Terms this part emits or queries; the ontology must declare each of them. The last line holds
#: terms the vocabulary table does not list yet (sensitive areas and explanations, as queried by
#: ``sensitive-areas.rq`` and ``explanation.rq``): proposed names.
USED_TERMS = (
    "Filter", "Layer", "ClassLabel", "Tag", "SensitiveArea", "Explanation", "CoarseConcept",
    "Reservation", "Occlusion", "inLayer", "layerName", "channelIndex", "taggedWith", "tagFilter",
    "tagClass", "score", "rank", "method", "denotes", "coarseConcept", "hasCoarseConcept",
    "concept", "support", "strategy", "areaFraction",
    "forFilter", "onImage", "maskFile", "predictedClass", "trueClass", "confidence",
    "activatedFilter",
)  # fmt: skip


def default_base(run_name: str) -> str:
    """The base IRI of a run's instances when the user gives none (the ontology part's, if any)."""
    try:
        from kgfilters.ontology.iris import default_base as _ontology_default  # type: ignore

        return str(_ontology_default(run_name))
    except ImportError:
        return f"https://w3id.org/kgfilters/run/{quote(run_name, safe='')}/"


def class_iri(base: str, c: int) -> URIRef:
    """IRI of class label ``c`` (0-based class index): ``{base}class/{c}``."""
    return URIRef(f"{base}class/{int(c)}")


def layer_iri(base: str, layer: str) -> URIRef:
    """IRI of a layer: ``{base}layer/{quote(layer)}``."""
    return URIRef(f"{base}layer/{quote(layer)}")


def filter_iri(base: str, layer: str, i: int) -> URIRef:
    """IRI of filter ``i`` of ``layer``: ``{base}layer/{quote(layer)}/filter/{i}``."""
    return URIRef(f"{base}layer/{quote(layer)}/filter/{int(i)}")


def graph_iri(base: str, stage: str) -> URIRef:
    """IRI of a stage's named graph: ``{base}graph/{stage}``."""
    return URIRef(f"{base}graph/{quote(stage, safe='')}")
