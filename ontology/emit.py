"""Results -> RDF triples, one pure function per named graph (no I/O; ``build`` reads the run).

Every node gets a deterministic IRI from ``Iris`` (no blank nodes), so emitting the same results
twice gives the same triples, and re-emitting one stage replaces exactly its named graph.
Numbers that are not finite (NaN, inf) and missing (None) values are left out rather than
emitted as ill-typed literals.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import RDF, RDFS, XSD, Literal, URIRef
from rdflib.namespace import DCTERMS, PROV, SKOS

from kgfilters.errors import GraphError
from kgfilters.ontology.explanation_areas import explanation_area_triples
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF as _KGF
from kgfilters.ontology.store import Triple

if TYPE_CHECKING:
    from kgfilters.filtag import TagSet

__all__ = [
    "STRATEGIES",
    "area_triples",
    "coarsening_triples",
    "concept_triples",
    "dbl",
    "explanation_triples",
    "hits_triples",
    "integer",
    "measurement_triples",
    "model_triples",
    "provenance_triples",
    "tag_triples",
]

log = logging.getLogger(__name__)


class _Terms:
    """``KGF`` with plain attribute access after first use (emission looks terms up millions of
    times; ``DefinedNamespace`` checks each lookup). Unknown terms still raise AttributeError."""

    def __getattr__(self, name: str) -> URIRef:
        term = getattr(_KGF, name)
        setattr(self, name, term)
        return term


KGF = _Terms()

#: FSAGN mask strategies as they appear in masks/metrics.json -> their individuals.
STRATEGIES = {"reservation": KGF.Reservation, "occlusion": KGF.Occlusion}

_TIME_KEYS = {"started": PROV.startedAtTime, "finished": PROV.endedAtTime}


def dbl(value: Any) -> Literal | None:
    """xsd:double literal, or None for None/NaN/inf (left out of the graph)."""
    if value is None or isinstance(value, bool):
        return None
    f = float(value)
    return Literal(f, datatype=XSD.double) if math.isfinite(f) else None


@lru_cache(maxsize=1 << 16)
def _integer(value: int) -> Literal:
    return Literal(value, datatype=XSD.integer)


def integer(value: Any) -> Literal:
    """xsd:integer literal (small ones cached: indices and ranks repeat)."""
    return _integer(int(value))


def _param(method: str, param: float) -> tuple[URIRef, Literal]:
    """(kgf:k, integer) for k-best and contrastive, (kgf:q, double) for q-quantile."""
    if method in ("k-best", "contrastive"):
        return KGF.k, integer(param)
    return KGF.q, Literal(float(param), datatype=XSD.double)


def model_triples(
    iris: Iris,
    *,
    name: str,
    layers: Mapping[str, int],
    class_names: Sequence[str],
    dataset: Mapping[str, Any] | None = None,
    sha256: str | None = None,
    test_accuracy: float | None = None,
    class_ids: Sequence[str] = (),
) -> Iterator[Triple]:
    """The ``model`` graph: model, data set, class labels (SKOS), layers ({name: filters}).

    A class's ``skos:prefLabel`` is its name as people use it; ``skos:notation`` its label index
    (integer) and, when ``class_ids`` gives one (an ImageFolder folder name such as a wnid), that
    id as a second, string notation."""
    m, ds, scheme = iris.model(), iris.dataset(), iris.scheme()
    yield m, RDF.type, KGF.Model
    yield m, RDFS.label, Literal(name)
    yield m, KGF.architecture, Literal(name)
    yield m, KGF.numClasses, integer(len(class_names))
    yield m, KGF.trainedOn, ds
    if sha256:
        yield m, KGF.weightsSha256, Literal(sha256)
    if (acc := dbl(test_accuracy)) is not None:
        yield m, KGF.testAccuracy, acc
    yield ds, RDF.type, KGF.Dataset
    d = dataset or {}
    yield ds, RDFS.label, Literal(Path(str(d.get("root", "dataset"))).name or "dataset")
    if d.get("kind"):
        yield ds, DCTERMS.type, Literal(str(d["kind"]))
    yield scheme, RDF.type, SKOS.ConceptScheme
    yield scheme, RDFS.label, Literal("class labels")
    for c, label in enumerate(class_names):
        cl = iris.class_label(c)
        yield cl, RDF.type, KGF.ClassLabel
        yield cl, SKOS.inScheme, scheme
        yield cl, SKOS.prefLabel, Literal(label, lang="en")
        yield cl, SKOS.notation, integer(c)
        if c < len(class_ids) and class_ids[c] != label:
            yield cl, SKOS.notation, Literal(str(class_ids[c]))
    for order, (layer, count) in enumerate(layers.items()):
        ly = iris.layer(layer)
        yield m, KGF.hasLayer, ly
        yield ly, RDF.type, KGF.Layer
        yield ly, RDFS.label, Literal(layer)
        yield ly, KGF.layerName, Literal(layer)
        yield ly, KGF.layerOrder, integer(order)
        yield ly, KGF.filterCount, integer(count)
        for i in range(int(count)):
            f = iris.filter(layer, i)
            yield f, RDF.type, KGF.Filter
            yield f, RDFS.label, Literal(f"{layer}:{i}")
            yield f, KGF.inLayer, ly
            yield f, KGF.channelIndex, integer(i)


def tag_triples(iris: Iris, tags: TagSet) -> Iterator[Triple]:
    """The ``tags`` graph: one reified ``kgf:Tag`` per tag plus the ``kgf:taggedWith`` shortcut."""
    for t in tags.tags:
        node = iris.tag(t.method, t.param, t.layer, t.filter, t.class_index)
        f, c = iris.filter(t.layer, t.filter), iris.class_label(t.class_index)
        prop, value = _param(t.method, t.param)
        yield node, RDF.type, KGF.Tag
        yield node, KGF.tagFilter, f
        yield node, KGF.tagClass, c
        if (score := dbl(t.score)) is not None:
            yield node, KGF.score, score
        yield node, KGF.rank, integer(t.rank)
        yield node, KGF.method, Literal(t.method)
        yield node, prop, value
        yield f, KGF.taggedWith, c


def _class_results(
    iris: Iris, owner: URIRef, values: Sequence[Any], prop: URIRef
) -> Iterator[Triple]:
    for c, v in enumerate(values or ()):
        if (lit := dbl(v)) is None:
            continue
        node = iris.class_result(owner, c)
        yield owner, KGF.hasClassResult, node
        yield node, RDF.type, KGF.ClassResult
        yield node, KGF.forClass, iris.class_label(c)
        yield node, prop, lit


def hits_triples(iris: Iris, hits: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``hits`` graph from one hits.json object: accuracy and the Hits@n grid (FILTAG)."""
    layers = [str(x) for x in hits.get("layers") or ()] or (
        [str(hits["layer"])] if hits.get("layer") else []
    )
    layer = str(hits.get("layer") or ",".join(layers) or "all")
    ev = iris.hits_evaluation(layer)
    yield ev, RDF.type, KGF.HitsEvaluation
    yield ev, RDFS.label, Literal(f"Hits@n on {layer}")
    for name in layers:
        yield ev, KGF.evaluatedLayer, iris.layer(name)
    for prop, key in ((KGF.topFraction, "top_fraction"), (KGF.accuracy, "accuracy")):
        if (lit := dbl(hits.get(key))) is not None:
            yield ev, prop, lit
    yield from _class_results(iris, ev, hits.get("per_class_accuracy") or (), KGF.accuracy)
    for cell in hits.get("grid") or ():
        method, param, n = str(cell["method"]), float(cell["param"]), int(cell["n"])
        res = iris.hits_result(layer, method, param, n)
        prop, value = _param(method, param)
        yield ev, KGF.hasResult, res
        yield res, RDF.type, KGF.HitsResult
        yield res, KGF.method, Literal(method)
        yield res, prop, value
        yield res, KGF.n, integer(n)
        for p, key in ((KGF.hitsTrue, "hits_true"), (KGF.hitsPredicted, "hits_predicted"),
                       (KGF.correlation, "correlation")):
            if (lit := dbl(cell.get(key))) is not None:
                yield res, p, lit
        yield from _class_results(iris, res, cell.get("per_class_hits") or (), KGF.hitsTrue)


def explanation_triples(iris: Iris, expl: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``explanations`` graph part of one explanations/<split>-<index>.json object.

    An explanation of an image outside the data set (no split or index) is left out: its IRI
    would not be deterministic.
    """
    if expl.get("split") is None or expl.get("index") is None:
        log.info("explanation of %s has no split/index: left out of the graph", expl.get("path"))
        return
    split, index = str(expl["split"]), int(expl["index"])
    e = iris.explanation(split, index)
    yield e, RDF.type, KGF.Explanation
    yield e, RDFS.label, Literal(f"explanation of {split} image {index}")
    yield e, KGF.split, Literal(split)
    yield e, KGF.imageIndex, integer(index)
    if expl.get("true_class") is not None:
        yield e, KGF.trueClass, iris.class_label(int(expl["true_class"]))
    yield e, KGF.predictedClass, iris.class_label(int(expl["predicted"]))
    if (conf := dbl(expl.get("confidence"))) is not None:
        yield e, KGF.confidence, conf
    for r, tf in enumerate(expl.get("top_filters") or (), start=1):
        node = iris.top_filter(e, r)
        yield e, KGF.hasTopFilter, node
        yield node, RDF.type, KGF.FilterActivation
        yield node, KGF.rank, integer(r)
        yield node, KGF.activeFilter, iris.filter(str(tf["layer"]), int(tf["filter"]))
        if (act := dbl(tf.get("activation"))) is not None:
            yield node, KGF.activation, act
        for c in tf.get("tags") or ():
            yield node, KGF.votesFor, iris.class_label(int(c))
    for r, vote in enumerate(expl.get("ranking") or (), start=1):
        node = iris.class_vote(e, r)
        yield e, KGF.hasClassVote, node
        yield node, RDF.type, KGF.ClassVote
        yield node, KGF.rank, integer(r)
        yield node, KGF.forClass, iris.class_label(int(vote["class_index"]))
        yield node, KGF.tagCount, integer(vote.get("count", 0))
        if (act := dbl(vote.get("activation"))) is not None:
            yield node, KGF.activation, act
    true_hits, pred_hits = expl.get("hits_true") or {}, expl.get("hits_predicted") or {}
    for n in sorted({int(k) for k in (*true_hits, *pred_hits)}):
        node = iris.hit_outcome(e, n)
        yield e, KGF.hasOutcome, node
        yield node, RDF.type, KGF.HitOutcome
        yield node, KGF.n, integer(n)
        for prop, d in ((KGF.isHitTrue, true_hits), (KGF.isHitPredicted, pred_hits)):
            if d.get(str(n)) is not None:
                yield node, prop, Literal(bool(d[str(n)]), datatype=XSD.boolean)
    yield from explanation_area_triples(iris, e, expl)  # explain --save: kgf:SensitiveArea of the image


def area_triples(iris: Iris, metrics: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``areas`` graph from masks/metrics.json: FSAGN (and baseline) sensitive areas, Sec. 3."""
    for a in metrics.get("areas") or ():
        strategy = str(a["strategy"])
        if strategy not in STRATEGIES:
            raise GraphError(f"masks/metrics.json: strategy {strategy!r}: expected one of "
                             f"{', '.join(STRATEGIES)}")
        layer, i, method = str(a["layer"]), int(a["filter"]), str(a["method"])
        split, image = str(a["split"]), int(a["image"])
        node = iris.area(layer, i, strategy, method, split, image)
        yield node, RDF.type, KGF.SensitiveArea
        yield node, KGF.areaFilter, iris.filter(layer, i)
        yield node, KGF.strategy, STRATEGIES[strategy]
        yield node, KGF.method, Literal(method)
        yield node, KGF.split, Literal(split)
        yield node, KGF.imageIndex, integer(image)
        if (frac := dbl(a.get("area_fraction"))) is not None:
            yield node, KGF.areaFraction, frac
        if a.get("mask_file"):
            yield node, KGF.maskFile, Literal(str(a["mask_file"]))
        if a.get("mask_key"):
            yield node, KGF.maskKey, Literal(str(a["mask_key"]))
        yield from measurement_triples(iris, node, a.get("metrics") or {})


def measurement_triples(iris: Iris, node: URIRef, metrics: Mapping[str, Any]) -> Iterator[Triple]:
    """``node kgf:hasMeasurement m`` and each ``m`` (a ``kgf:Measurement`` with ``kgf:metricName``
    and a double ``kgf:value``) for the finite numbers of ``metrics`` {name: value}, by name."""
    for name, value in sorted(metrics.items()):
        if (lit := dbl(value)) is None:
            continue
        m = iris.measurement(node, name)
        yield node, KGF.hasMeasurement, m
        yield m, RDF.type, KGF.Measurement
        yield m, KGF.metricName, Literal(str(name))
        yield m, KGF.value, lit


def _value(value: Any) -> Literal | None:
    """A run.json value as a typed literal (lists and objects as sorted JSON text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return Literal(value, datatype=XSD.boolean)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, float):
        return dbl(value)
    if isinstance(value, str):
        return Literal(value)
    return Literal(json.dumps(value, sort_keys=True))


def _datetime(text: Any) -> Literal | None:
    try:
        _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return Literal(str(text), datatype=XSD.dateTime)


def provenance_triples(iris: Iris, config: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``provenance`` graph from run.json: a ``prov:Activity`` per stage with its parameters,
    times, the software versions, the data set and the weights' checksum."""
    m, ds = iris.model(), iris.dataset()
    model = config.get("model") or {}
    yield m, RDF.type, PROV.Entity
    if model.get("sha256"):
        yield m, KGF.weightsSha256, Literal(str(model["sha256"]))
    yield ds, RDF.type, PROV.Entity
    if (created := _datetime(config.get("created"))) is not None:
        yield m, DCTERMS.created, created
    agents = []
    for name, version in sorted((config.get("versions") or {}).items()):
        agent = iris.software(name)
        agents.append(agent)
        yield agent, RDF.type, PROV.SoftwareAgent
        yield agent, RDFS.label, Literal(str(name))
        yield agent, DCTERMS.hasVersion, Literal(str(version))
    for stage, info in sorted((config.get("stages") or {}).items()):
        act = iris.activity(stage)
        yield act, RDF.type, PROV.Activity
        yield act, RDF.type, KGF.Stage
        yield act, RDFS.label, Literal(stage)
        yield act, PROV.used, ds
        if stage == "train":
            yield m, PROV.wasGeneratedBy, act
        else:
            yield act, PROV.used, m
        for agent in agents:
            yield act, PROV.wasAssociatedWith, agent
        for key, value in sorted((info or {}).items() if isinstance(info, Mapping) else ()):
            if key in _TIME_KEYS and (t := _datetime(value)) is not None:
                yield act, _TIME_KEYS[key], t
                continue
            if (lit := _value(value)) is None:
                continue
            p = iris.parameter(stage, key)
            yield act, KGF.hasParameter, p
            yield p, RDF.type, KGF.Parameter
            yield p, KGF.parameterName, Literal(str(key))
            yield p, KGF.parameterValue, lit


def concept_triples(iris: Iris, concepts: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``concepts`` graph from concepts.json (written by ``kgfilters link``).

    ``<class> kgf:denotes <concept>``; each concept ``a skos:Concept`` with ``skos:prefLabel``
    (``@en``), ``skos:notation`` and ``skos:hiddenLabel`` (the label without a language tag);
    ``skos:broader`` edges (IsA, hypernyms); every other edge
    (ConceptNet PartOf, HasA, ...; ``skos:closeMatch`` to WordNet) with its own predicate IRI.
    Concept IRIs are external (WordNet, ConceptNet) and kept as written.
    """
    for lk in concepts.get("links") or ():
        yield iris.class_label(int(lk["class_index"])), KGF.denotes, URIRef(str(lk["concept"]))
    for c in concepts.get("concepts") or ():
        node = URIRef(str(c["iri"]))
        yield node, RDF.type, SKOS.Concept
        yield node, SKOS.prefLabel, Literal(str(c["label"]), lang="en")
        yield node, SKOS.notation, Literal(str(c["notation"]))
        # the label's plain form, for exact lookups by a user's string (an index hit, where
        # matching STR(?prefLabel) scans every label: filters-under-concept at ImageNet scale)
        yield node, SKOS.hiddenLabel, Literal(str(c["label"]))
    for narrower, broader in concepts.get("broader") or ():
        yield URIRef(str(narrower)), SKOS.broader, URIRef(str(broader))
    for r in concepts.get("related") or ():
        yield URIRef(str(r["subject"])), URIRef(str(r["predicate"])), URIRef(str(r["object"]))


def coarsening_triples(iris: Iris, coarse: Mapping[str, Any]) -> Iterator[Triple]:
    """The ``coarsening`` graph from coarse.json (written by ``kgfilters coarsen``).

    ``<filter> kgf:coarseConcept <concept>`` and a reified ``kgf:CoarseConcept`` node (linked by
    ``kgf:hasCoarseConcept``) with ``kgf:support`` (share of the filter's tag classes under the
    concept, in (0, 1]) and ``kgf:supportCount`` (their number).
    """
    for f in coarse.get("filters") or ():
        layer, i = str(f["layer"]), int(f["filter"])
        fi, n_classes = iris.filter(layer, i), len(f.get("classes") or ())
        for c in f.get("concepts") or ():
            concept, support = URIRef(str(c["concept"])), int(c["support"])
            node = iris.coarse_concept(layer, i, str(concept))
            yield fi, KGF.coarseConcept, concept
            yield fi, KGF.hasCoarseConcept, node
            yield node, RDF.type, KGF.CoarseConcept
            yield node, KGF.concept, concept
            if n_classes and (share := dbl(support / n_classes)) is not None:
                yield node, KGF.support, share
            yield node, KGF.supportCount, integer(support)
