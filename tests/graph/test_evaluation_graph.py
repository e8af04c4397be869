"""The ``evaluation`` named graph and contrastive tags in the graph: emitted triples conform to
the shapes, and a bad value is caught by them."""

from __future__ import annotations

import torch
from rdflib import Graph, Literal

from kgfilters.evaluate.figure import Figure
from kgfilters.filtag import tag_layers
from kgfilters.ontology.emit import model_triples, tag_triples
from kgfilters.ontology.evaluation import evaluation_triples
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF
from kgfilters.ontology.validate import validate_graph

IRIS = Iris("https://example.org/run/")


def _graph(triples) -> Graph:  # type: ignore[no-untyped-def]
    g = Graph()
    for t in triples:
        g.add(t)
    return g


def _evaluation() -> dict:  # type: ignore[type-arg]
    figs = [Figure("Hits@3", 0.75, (0.73, 0.77), {"random tags": 0.29, "random tags p95": 0.38}, 0.005,
                   "random tags", 0, "layer:conv2", "hits"),
            Figure("conformance: enrichment", 0.31, None, {"class shuffle": 0.03}, 0.008, "class shuffle",
                   20, "tags", "conformance")]
    return {"run": "runs/fm", "figures": [f.to_dict() for f in figs],
            "ablation": {"layer": "conv2", "tagged": {"own_drop": 0.2, "other_drop": 0.01}, "p_value": 0.01}}


def test_evaluation_graph_has_every_figure_and_conforms() -> None:
    g = _graph(evaluation_triples(IRIS, _evaluation()))
    figs = set(g.subjects(predicate=None, object=KGF.EvaluationFigure))
    assert len(figs) == 2 + 3  # two listed; the merged ablation section's two drops and its p-value
    hits = IRIS.evaluation_figure("hits", "Hits@3")
    assert g.value(hits, KGF.value).toPython() == 0.75 and g.value(hits, KGF.ciLow).toPython() == 0.73
    assert g.value(hits, KGF.pValue).toPython() == 0.005 and g.value(hits, KGF.seed).toPython() == 0
    assert g.value(hits, KGF.evaluates) == IRIS.layer("conv2")
    assert len(list(g.objects(hits, KGF.hasBaseline))) == 2
    report = validate_graph(g)
    assert report.conforms, report.violations


def test_a_p_value_out_of_range_violates_the_shapes() -> None:
    g = _graph(evaluation_triples(IRIS, _evaluation()))
    hits = IRIS.evaluation_figure("hits", "Hits@3")
    g.set((hits, KGF.pValue, Literal(1.5)))
    assert not validate_graph(g).conforms


def test_contrastive_tags_emit_k_and_conform() -> None:
    z = torch.rand(3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tags = tag_layers({"conv1": z}, ["a", "b", "c"], method="contrastive", param=2)
    g = _graph([*model_triples(IRIS, name="fsagn-mnist", layers={"conv1": 6}, class_names=["a", "b", "c"]),
                *tag_triples(IRIS, tags)])
    assert set(g.objects(None, KGF.method)) == {Literal("contrastive")}
    assert len(list(g.objects(None, KGF.k))) == 6
    report = validate_graph(g)
    assert report.conforms, report.violations
