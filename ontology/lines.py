"""Fast emitters: the large named graphs as N-Triples statements (text), no rdflib objects.

``ontology.emit`` holds the readable reference (one function per graph, rdflib triples); this
module writes the same triples as strings ``"<s> <p> <o>"`` (no graph, no final `` .``), which
``store.write_graphs`` turns into N-Quads for Oxigraph's bulk loader (issue 13: building rdflib
terms and converting them to pyoxigraph quads cost 3.4x the bulk load itself at VGG16 x ImageNet
scale). A test (tests/graph/test_lines.py) checks that each function gives exactly the
reference's quads, datatypes and lexical forms included, on the demo run and a synthetic one.

Mirroring rule: each ``*_lines`` function follows its ``emit.*_triples`` reference statement by
statement (same order, same conditions), with the terms below in place of rdflib's:

=====================================  =========================================
reference (``emit``)                   here
=====================================  =========================================
``iris.x(...)`` (URIRef)               ``_Iri(iris).x(...)`` (``"<...>"``)
``KGF.name``, ``RDF.type``, ...        ``P.name``, ``P.type``, ... (``"<...>"``)
``Literal(text)``                      ``string(text)``
``Literal(text, lang="en")``           ``lang(text, "en")``
``integer(v)`` / ``dbl(v)``            ``integer(v)`` / ``dbl(v)`` (None alike)
``Literal(b, datatype=XSD.boolean)``   ``boolean(b)``
=====================================  =========================================

Literal forms are rdflib's: an xsd:double is written as Python's ``repr(float(v))`` (``1.0``,
``1e-07``), an integer as ``str(int(v))``, a boolean as ``true``/``false``; strings are escaped
as JSON escapes them (valid N-Triples ``ECHAR``/``UCHAR``). The tags graph (61% of the benchmark
run's quads) is written column-wise: one list comprehension per predicate.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

from kgfilters.errors import GraphError
from kgfilters.ontology.explanation_areas import explanation_area_triples
from kgfilters.ontology.iris import Iris, num, quote
from kgfilters.ontology.namespace import KGF

if TYPE_CHECKING:
    from kgfilters.filtag import TagSet
    from kgfilters.ontology.store import Triple

__all__ = ["P", "area_lines", "boolean", "dbl", "explanation_lines", "hits_lines", "integer",
           "lang", "model_lines", "string", "tag_lines", "triple_lines"]

log = logging.getLogger(__name__)

_XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGER = f"^^<{_XSD}integer>"
_DOUBLE = f"^^<{_XSD}double>"
_TRUE, _FALSE = f'"true"^^<{_XSD}boolean>', f'"false"^^<{_XSD}boolean>'

#: JSON string of a Python str: a valid N-Triples string literal (``"`` ``\\`` and controls escaped).
_js = json.encoder.encode_basestring  # type: ignore[attr-defined]

_OTHER = {
    "type": "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
    "label": "http://www.w3.org/2000/01/rdf-schema#label",
    "dcterms_type": "http://purl.org/dc/terms/type",
    "ConceptScheme": "http://www.w3.org/2004/02/skos/core#ConceptScheme",
    "inScheme": "http://www.w3.org/2004/02/skos/core#inScheme",
    "prefLabel": "http://www.w3.org/2004/02/skos/core#prefLabel",
    "notation": "http://www.w3.org/2004/02/skos/core#notation",
}


class _Predicates:
    """N-Triples forms of the vocabulary: ``P.score`` is ``"<https://w3id.org/kgfilters#score>"``
    (``kgf:`` terms checked against ``KGF``: an unknown one raises AttributeError), plus the
    non-``kgf:`` terms of ``_OTHER`` (``P.type``, ``P.label``, ``P.prefLabel``, ...)."""

    def __getattr__(self, name: str) -> str:
        iri = _OTHER.get(name) or str(getattr(KGF, name))
        text = f"<{iri}>"
        setattr(self, name, text)
        return text


P = _Predicates()


def string(text: Any) -> str:
    """xsd:string literal (rdflib's plain ``Literal(text)``)."""
    return _js(str(text))


def lang(text: Any, tag: str) -> str:
    """Language-tagged string literal (``Literal(text, lang=tag)``)."""
    return f"{_js(str(text))}@{tag}"


@lru_cache(maxsize=1 << 16)
def _int(value: int) -> str:
    return f'"{value}"{_INTEGER}'


def integer(value: Any) -> str:
    """xsd:integer literal as ``emit.integer`` writes it (``str(int(value))``)."""
    return _int(int(value))


def dbl(value: Any) -> str | None:
    """xsd:double literal as ``emit.dbl`` writes it (``repr(float(value))``), or None for
    None/bool/NaN/inf (left out)."""
    if value is None or isinstance(value, bool):
        return None
    f = float(value)
    return f'"{f!r}"{_DOUBLE}' if math.isfinite(f) else None


def boolean(value: Any) -> str:
    """xsd:boolean literal (``Literal(bool(value), datatype=XSD.boolean)``)."""
    return _TRUE if value else _FALSE


@lru_cache(maxsize=1 << 14)
def _q(text: str) -> str:
    return quote(text)


@lru_cache(maxsize=64)
def _checked(base: str) -> str:
    """``base`` if Oxigraph accepts it as an IRI (every IRI here is the base plus percent-encoded
    segments and ASCII, so the statements need no parsing before the bulk load); else GraphError."""
    try:
        ox.NamedNode(base)
    except ValueError as exc:
        msg = str(exc).replace("\n", "\\n").replace("\r", "\\r")
        raise GraphError(f"base IRI {base!r}: not an IRI Oxigraph accepts ({msg})") from None
    return base


class _Iri:
    """``Iris`` as N-Triples text (``"<...>"``); same paths, see ``ontology.iris.Iris``."""

    def __init__(self, iris: Iris) -> None:
        self.b = _checked(iris.base)

    def model(self) -> str:
        return f"<{self.b}model>"

    def dataset(self) -> str:
        return f"<{self.b}dataset>"

    def scheme(self) -> str:
        return f"<{self.b}classes>"

    def layer(self, name: str) -> str:
        return f"<{self.b}layer/{_q(name)}>"

    def filter(self, layer: str, i: int) -> str:
        return f"<{self.b}layer/{_q(layer)}/filter/{int(i)}>"

    def class_label(self, c: int) -> str:
        return f"<{self.b}class/{int(c)}>"

    def hits_evaluation(self, layer: str) -> str:
        return f"<{self.b}hits/{_q(layer)}>"

    def hits_result(self, layer: str, method: str, param: float, n: int) -> str:
        return f"<{self.b}hits/{_q(layer)}/{_q(method)}/{num(param)}/{int(n)}>"

    def explanation(self, split: str, index: int) -> str:
        return f"<{self.b}explanation/{_q(split)}/{int(index)}>"

    def area(self, layer: str, i: int, strategy: str, method: str, split: str, image: int) -> str:
        return (f"<{self.b}area/{_q(layer)}/{int(i)}/{_q(strategy)}/{_q(method)}/{_q(split)}/"
                f"{int(image)}>")

    @staticmethod
    def below(node: str, path: str) -> str:
        """A part named below ``node``'s IRI (``Iris.class_result``, ``top_filter``, ...)."""
        return f"{node[:-1]}/{path}>"


def triple_lines(triples: Iterable[Triple]) -> list[str]:
    """rdflib triples (a reference emitter's) as statements, through pyoxigraph's N-Triples
    forms: for the graphs without a fast emitter."""
    from kgfilters.ontology.store import to_ox

    return [f"{q.subject} {q.predicate} {q.object}" for q in to_ox(triples, ox.DefaultGraph())]


def _param(method: str, param: float) -> tuple[str, str]:
    """``emit._param``: (kgf:k, integer) for k-best and contrastive, (kgf:q, double) else."""
    if method in ("k-best", "contrastive"):
        return P.k, integer(param)
    return P.q, f'"{float(param)!r}"{_DOUBLE}'


def model_lines(
    iris: Iris,
    *,
    name: str,
    layers: Mapping[str, int],
    class_names: Sequence[str],
    dataset: Mapping[str, Any] | None = None,
    sha256: str | None = None,
    test_accuracy: float | None = None,
    class_ids: Sequence[str] = (),
) -> Iterator[str]:
    """``emit.model_triples`` as statements."""
    ir = _Iri(iris)
    m, ds, scheme = ir.model(), ir.dataset(), ir.scheme()
    yield f"{m} {P.type} {P.Model}"
    yield f"{m} {P.label} {string(name)}"
    yield f"{m} {P.architecture} {string(name)}"
    yield f"{m} {P.numClasses} {integer(len(class_names))}"
    yield f"{m} {P.trainedOn} {ds}"
    if sha256:
        yield f"{m} {P.weightsSha256} {string(sha256)}"
    if (acc := dbl(test_accuracy)) is not None:
        yield f"{m} {P.testAccuracy} {acc}"
    yield f"{ds} {P.type} {P.Dataset}"
    d = dataset or {}
    yield f"{ds} {P.label} {string(Path(str(d.get('root', 'dataset'))).name or 'dataset')}"
    if d.get("kind"):
        yield f"{ds} {P.dcterms_type} {string(d['kind'])}"
    yield f"{scheme} {P.type} {P.ConceptScheme}"
    yield f"{scheme} {P.label} {string('class labels')}"
    for c, label in enumerate(class_names):
        cl = ir.class_label(c)
        yield f"{cl} {P.type} {P.ClassLabel}"
        yield f"{cl} {P.inScheme} {scheme}"
        yield f"{cl} {P.prefLabel} {lang(label, 'en')}"
        yield f"{cl} {P.notation} {integer(c)}"
        if c < len(class_ids) and class_ids[c] != label:
            yield f"{cl} {P.notation} {string(class_ids[c])}"
    for order, (layer, count) in enumerate(layers.items()):
        ly = ir.layer(layer)
        yield f"{m} {P.hasLayer} {ly}"
        yield f"{ly} {P.type} {P.Layer}"
        yield f"{ly} {P.label} {string(layer)}"
        yield f"{ly} {P.layerName} {string(layer)}"
        yield f"{ly} {P.layerOrder} {integer(order)}"
        yield f"{ly} {P.filterCount} {integer(count)}"
        head = ly[:-1]
        for i in range(int(count)):
            f = f"{head}/filter/{i}>"
            yield f"{f} {P.type} {P.Filter}"
            yield f"{f} {P.label} {string(f'{layer}:{i}')}"
            yield f"{f} {P.inLayer} {ly}"
            yield f"{f} {P.channelIndex} {integer(i)}"


def tag_lines(iris: Iris, tags: TagSet) -> list[str]:
    """``emit.tag_triples`` as statements, column-wise (one comprehension per predicate)."""
    ts = tags.tags
    if not ts:
        return []
    b = _checked(iris.base)
    heads: dict[tuple[str, float], str] = {}
    params: dict[tuple[str, float], tuple[str, str]] = {}
    nodes, fils, clss, tails = [], [], [], []
    for t in ts:
        key = (t.method, t.param)
        head = heads.get(key)
        if head is None:
            head = heads[key] = f"<{b}tag/{_q(t.method)}/{num(t.param)}/"
            prop, value = _param(t.method, t.param)
            params[key] = (f" {P.method} {string(t.method)}", f" {prop} {value}")
        lq, i, c = _q(t.layer), int(t.filter), int(t.class_index)
        nodes.append(f"{head}{lq}/{i}/{c}>")
        fils.append(f"<{b}layer/{lq}/filter/{i}>")
        clss.append(f"<{b}class/{c}>")
        tails.append(params[key])
    typ, tf, tc = f" {P.type} {P.Tag}", f" {P.tagFilter} ", f" {P.tagClass} "
    score, rank, tw = f" {P.score} ", f" {P.rank} ", f" {P.taggedWith} "
    out = [n + typ for n in nodes]
    out += [n + tf + f for n, f in zip(nodes, fils, strict=True)]
    out += [n + tc + c for n, c in zip(nodes, clss, strict=True)]
    out += [n + score + s for n, t in zip(nodes, ts, strict=True) if (s := dbl(t.score)) is not None]
    out += [n + rank + integer(t.rank) for n, t in zip(nodes, ts, strict=True)]
    out += [n + m for n, (m, _) in zip(nodes, tails, strict=True)]
    out += [n + p for n, (_, p) in zip(nodes, tails, strict=True)]
    out += [f + tw + c for f, c in zip(fils, clss, strict=True)]
    return out


def _class_results(ir: _Iri, owner: str, values: Sequence[Any], prop: str) -> Iterator[str]:
    for c, v in enumerate(values or ()):
        if (lit := dbl(v)) is None:
            continue
        node = ir.below(owner, f"class/{int(c)}")
        yield f"{owner} {P.hasClassResult} {node}"
        yield f"{node} {P.type} {P.ClassResult}"
        yield f"{node} {P.forClass} {ir.class_label(c)}"
        yield f"{node} {prop} {lit}"


def hits_lines(iris: Iris, hits: Mapping[str, Any]) -> Iterator[str]:
    """``emit.hits_triples`` as statements."""
    ir = _Iri(iris)
    layers = [str(x) for x in hits.get("layers") or ()] or (
        [str(hits["layer"])] if hits.get("layer") else []
    )
    layer = str(hits.get("layer") or ",".join(layers) or "all")
    ev = ir.hits_evaluation(layer)
    yield f"{ev} {P.type} {P.HitsEvaluation}"
    yield f"{ev} {P.label} {string(f'Hits@n on {layer}')}"
    for name in layers:
        yield f"{ev} {P.evaluatedLayer} {ir.layer(name)}"
    for prop, key in ((P.topFraction, "top_fraction"), (P.accuracy, "accuracy")):
        if (lit := dbl(hits.get(key))) is not None:
            yield f"{ev} {prop} {lit}"
    yield from _class_results(ir, ev, hits.get("per_class_accuracy") or (), P.accuracy)
    for cell in hits.get("grid") or ():
        method, param, n = str(cell["method"]), float(cell["param"]), int(cell["n"])
        res = ir.hits_result(layer, method, param, n)
        prop, value = _param(method, param)
        yield f"{ev} {P.hasResult} {res}"
        yield f"{res} {P.type} {P.HitsResult}"
        yield f"{res} {P.method} {string(method)}"
        yield f"{res} {prop} {value}"
        yield f"{res} {P.n} {integer(n)}"
        for p, key in ((P.hitsTrue, "hits_true"), (P.hitsPredicted, "hits_predicted"),
                       (P.correlation, "correlation")):
            if (lit := dbl(cell.get(key))) is not None:
                yield f"{res} {p} {lit}"
        yield from _class_results(ir, res, cell.get("per_class_hits") or (), P.hitsTrue)


def explanation_lines(iris: Iris, expl: Mapping[str, Any]) -> Iterator[str]:
    """``emit.explanation_triples`` as statements (same statements, same order: mirror any
    addition to the reference here, and the equality test checks it)."""
    if expl.get("split") is None or expl.get("index") is None:
        log.info("explanation of %s has no split/index: left out of the graph", expl.get("path"))
        return
    ir = _Iri(iris)
    split, index = str(expl["split"]), int(expl["index"])
    e = ir.explanation(split, index)
    yield f"{e} {P.type} {P.Explanation}"
    yield f"{e} {P.label} {string(f'explanation of {split} image {index}')}"
    yield f"{e} {P.split} {string(split)}"
    yield f"{e} {P.imageIndex} {integer(index)}"
    if expl.get("true_class") is not None:
        yield f"{e} {P.trueClass} {ir.class_label(int(expl['true_class']))}"
    yield f"{e} {P.predictedClass} {ir.class_label(int(expl['predicted']))}"
    if (conf := dbl(expl.get("confidence"))) is not None:
        yield f"{e} {P.confidence} {conf}"
    for r, tf in enumerate(expl.get("top_filters") or (), start=1):
        node = ir.below(e, f"filter/{int(r)}")
        yield f"{e} {P.hasTopFilter} {node}"
        yield f"{node} {P.type} {P.FilterActivation}"
        yield f"{node} {P.rank} {integer(r)}"
        yield f"{node} {P.activeFilter} {ir.filter(str(tf['layer']), int(tf['filter']))}"
        if (act := dbl(tf.get("activation"))) is not None:
            yield f"{node} {P.activation} {act}"
        for c in tf.get("tags") or ():
            yield f"{node} {P.votesFor} {ir.class_label(int(c))}"
    for r, vote in enumerate(expl.get("ranking") or (), start=1):
        node = ir.below(e, f"class/{int(r)}")
        yield f"{e} {P.hasClassVote} {node}"
        yield f"{node} {P.type} {P.ClassVote}"
        yield f"{node} {P.rank} {integer(r)}"
        yield f"{node} {P.forClass} {ir.class_label(int(vote['class_index']))}"
        yield f"{node} {P.tagCount} {integer(vote.get('count', 0))}"
        if (act := dbl(vote.get("activation"))) is not None:
            yield f"{node} {P.activation} {act}"
    true_hits, pred_hits = expl.get("hits_true") or {}, expl.get("hits_predicted") or {}
    for n in sorted({int(k) for k in (*true_hits, *pred_hits)}):
        node = ir.below(e, f"hits/{int(n)}")
        yield f"{e} {P.hasOutcome} {node}"
        yield f"{node} {P.type} {P.HitOutcome}"
        yield f"{node} {P.n} {integer(n)}"
        for prop, d in ((P.isHitTrue, true_hits), (P.isHitPredicted, pred_hits)):
            if d.get(str(n)) is not None:
                yield f"{node} {prop} {boolean(d[str(n)])}"
    # explain --save: the image's kgf:SensitiveArea nodes (few per image: the reference's, converted)
    yield from triple_lines(explanation_area_triples(iris, iris.explanation(split, index), expl))


def area_lines(iris: Iris, metrics: Mapping[str, Any]) -> Iterator[str]:
    """``emit.area_triples`` as statements."""
    from kgfilters.ontology.emit import STRATEGIES

    ir = _Iri(iris)
    strategies = {k: f"<{v}>" for k, v in STRATEGIES.items()}
    for a in metrics.get("areas") or ():
        strategy = str(a["strategy"])
        if strategy not in strategies:
            raise GraphError(f"masks/metrics.json: strategy {strategy!r}: expected one of "
                             f"{', '.join(strategies)}")
        layer, i, method = str(a["layer"]), int(a["filter"]), str(a["method"])
        split, image = str(a["split"]), int(a["image"])
        node = ir.area(layer, i, strategy, method, split, image)
        yield f"{node} {P.type} {P.SensitiveArea}"
        yield f"{node} {P.areaFilter} {ir.filter(layer, i)}"
        yield f"{node} {P.strategy} {strategies[strategy]}"
        yield f"{node} {P.method} {string(method)}"
        yield f"{node} {P.split} {string(split)}"
        yield f"{node} {P.imageIndex} {integer(image)}"
        if (frac := dbl(a.get("area_fraction"))) is not None:
            yield f"{node} {P.areaFraction} {frac}"
        if a.get("mask_file"):
            yield f"{node} {P.maskFile} {string(a['mask_file'])}"
        if a.get("mask_key"):
            yield f"{node} {P.maskKey} {string(a['mask_key'])}"
        for name, value in sorted((a.get("metrics") or {}).items()):
            if (lit := dbl(value)) is None:
                continue
            mnode = ir.below(node, f"metric/{_q(str(name))}")
            yield f"{node} {P.hasMeasurement} {mnode}"
            yield f"{mnode} {P.type} {P.Measurement}"
            yield f"{mnode} {P.metricName} {string(name)}"
            yield f"{mnode} {P.value} {lit}"
