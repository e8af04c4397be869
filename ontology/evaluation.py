"""The ``evaluation`` named graph from evaluation.json: one ``kgf:EvaluationFigure`` per figure
with its value, interval, baselines, p-value, null model and seed, linked to what it evaluates
and, through PROV-O, to the ``evaluate`` activity that generated it. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rdflib import RDF, RDFS, Literal, URIRef
from rdflib.namespace import PROV

from kgfilters.ontology.emit import KGF, dbl, integer
from kgfilters.ontology.iris import Iris, quote
from kgfilters.ontology.store import Triple

__all__ = ["evaluation_triples"]


def _target(iris: Iris, evaluates: Any) -> URIRef | None:
    text = str(evaluates or "")
    if text.startswith("layer:"):
        return iris.layer(text[len("layer:"):])
    if text in ("tags", "model"):
        return iris.model()
    return None


def evaluation_triples(iris: Iris, data: Mapping[str, Any]) -> Iterator[Triple]:
    """Triples of one evaluation.json object (its ``figures`` list; sections merged from other
    modules without a list of their own are flattened the way evaluation.md shows them)."""
    from kgfilters.evaluate.figure import Figure, figures_from_dict

    ev, act = iris.evaluation(), iris.activity("evaluate")
    yield ev, RDF.type, KGF.Evaluation
    yield ev, RDF.type, PROV.Entity
    yield ev, RDFS.label, Literal("evaluation")  # not the run's path: copies keep their triples
    yield ev, PROV.wasGeneratedBy, act
    yield act, PROV.used, iris.model()
    figs = [Figure.from_dict(f) for f in data.get("figures") or ()]
    listed = {f.section for f in figs}
    for key in ("ablation", "fsagn"):
        if isinstance(data.get(key), Mapping) and key not in listed:
            figs += figures_from_dict(key, data[key])
    for f in figs:
        node = iris.evaluation_figure(f.section, f.name)
        yield ev, KGF.hasFigure, node
        yield node, RDF.type, KGF.EvaluationFigure
        yield node, RDF.type, PROV.Entity
        yield node, RDFS.label, Literal(f.name)
        yield node, KGF.section, Literal(f.section or "figure")
        yield node, PROV.wasGeneratedBy, act
        if (v := dbl(f.value)) is not None:
            yield node, KGF.value, v
        if f.ci95 is not None:
            for prop, x in ((KGF.ciLow, f.ci95[0]), (KGF.ciHigh, f.ci95[1])):
                if (lit := dbl(x)) is not None:
                    yield node, prop, lit
        if (p := dbl(f.p_value)) is not None:
            yield node, KGF.pValue, p
        if f.null_model:
            yield node, KGF.nullModel, Literal(str(f.null_model))
        if f.seed is not None:
            yield node, KGF.seed, integer(f.seed)
        if (target := _target(iris, f.evaluates)) is not None:
            yield node, KGF.evaluates, target
        for name, value in f.baselines.items():
            b = URIRef(f"{node}/baseline/{quote(name)}")
            yield node, KGF.hasBaseline, b
            yield b, RDF.type, KGF.Baseline
            yield b, RDFS.label, Literal(str(name))
            if (bv := dbl(value)) is not None:
                yield b, KGF.value, bv
