"""An explanation's sensitive areas -> ``kgf:SensitiveArea`` triples (part of the ``explanations`` graph).

``kgfilters explain --save`` stores, in ``explanations/<split>-<index>.json``, where the image's
separating filters look: one FSAGN mask per filter by the run's trained generators
(``kgfilters.explain_masks.areas_to_json``, keys ``sensitive_areas`` and ``no_generator``). Each
becomes a ``kgf:SensitiveArea`` with the properties the FSAGN stage's areas have (``areas`` graph,
``emit.area_triples``): ``kgf:areaFilter``, ``kgf:strategy``, ``kgf:method``, ``kgf:split`` and
``kgf:imageIndex`` (the image), ``kgf:areaFraction`` and one ``kgf:Measurement`` per fidelity
figure; and ``dcterms:isPartOf`` the explanation, which tells it from the stage's areas. Its IRI
lies below the explanation's (``Iris.explanation_area``), so re-saving the explanation replaces it.
Filters no generator covers get no node. A pure function; ``emit.explanation_triples`` calls it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rdflib import RDF, Literal, URIRef
from rdflib.namespace import DCTERMS

from kgfilters.errors import GraphError
from kgfilters.ontology.iris import Iris

__all__ = ["explanation_area_triples"]


def explanation_area_triples(
    iris: Iris, explanation: URIRef, expl: Mapping[str, Any]
) -> Iterator[tuple[URIRef, URIRef, Any]]:
    """The ``kgf:SensitiveArea`` nodes of one saved explanation object (``expl``) whose node is
    ``explanation``; nothing when it has no ``sensitive_areas``. GraphError for an unknown strategy."""
    # emit imports this module: its helpers are taken at call time, not at import time
    from kgfilters.ontology.emit import KGF, STRATEGIES, dbl, integer, measurement_triples

    split, index = Literal(str(expl["split"])), integer(expl["index"])
    for a in expl.get("sensitive_areas") or ():
        strategy, layer, i = str(a["strategy"]), str(a["layer"]), int(a["filter"])
        if strategy not in STRATEGIES:
            raise GraphError(f"explanation {expl['split']}-{expl['index']}: sensitive area strategy "
                             f"{strategy!r}: expected one of {', '.join(STRATEGIES)}")
        node = iris.explanation_area(explanation, layer, i, strategy)
        yield node, RDF.type, KGF.SensitiveArea
        yield node, DCTERMS.isPartOf, explanation
        yield node, KGF.areaFilter, iris.filter(layer, i)
        yield node, KGF.strategy, STRATEGIES[strategy]
        yield node, KGF.method, Literal(str(a.get("method") or "fsagn"))
        yield node, KGF.split, split
        yield node, KGF.imageIndex, index
        if (frac := dbl(a.get("area"))) is not None:
            yield node, KGF.areaFraction, frac
        yield from measurement_triples(iris, node, a.get("metrics") or {})
