"""Emission: what each stage writes, determinism, per-stage replacement, tolerance and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import XSD, Literal, URIRef
from rdflib.namespace import PROV, RDF, SKOS

from kgfilters import load_run
from kgfilters.errors import ConfigError, GraphError
from kgfilters.ontology.build import EMITTERS, build_graph, emit_stage
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF

from .conftest import SHA, write_run
from .helpers import sorted_nt, store_graphs

D = XSD.double


def graph(root: Path, stage: str):  # type: ignore[no-untyped-def]
    return store_graphs(root)[str(Iris.for_run(root).graph(stage))]


def test_model_graph(built_run: Path) -> None:
    g, i = graph(built_run, "model"), Iris.for_run(built_run)
    assert len(set(g.subjects(RDF.type, KGF.Filter))) == 32 + 64
    assert set(g.objects(i.model(), KGF.hasLayer)) == {i.layer("conv1"), i.layer("conv2")}
    assert (i.layer("conv2"), KGF.filterCount, Literal(64)) in g
    assert (i.layer("conv2"), KGF.layerOrder, Literal(1)) in g
    assert (i.filter("conv2", 63), KGF.inLayer, i.layer("conv2")) in g
    assert (i.filter("conv2", 63), KGF.channelIndex, Literal(63)) in g
    assert (i.class_label(0), SKOS.prefLabel, Literal("T-shirt/top", lang="en")) in g
    assert (i.class_label(9), SKOS.notation, Literal(9)) in g
    assert (i.model(), KGF.weightsSha256, Literal(SHA)) in g


def test_tags_graph_matches_tags_json(built_run: Path) -> None:
    g, i = graph(built_run, "tags"), Iris.for_run(built_run)
    tags = load_run(built_run).tags
    assert len(set(g.subjects(RDF.type, KGF.Tag))) == len(tags.tags) == 3 * 10 * 2
    t = tags.tags[7]
    node = i.tag("k-best", 3, t.layer, t.filter, t.class_index)
    assert (node, KGF.score, Literal(t.score, datatype=D)) in g
    assert (node, KGF.rank, Literal(t.rank)) in g
    assert (node, KGF.k, Literal(3)) in g
    assert (i.filter(t.layer, t.filter), KGF.taggedWith, i.class_label(t.class_index)) in g


def test_results_graphs(built_run: Path) -> None:
    i = Iris.for_run(built_run)
    hits = graph(built_run, "hits")
    r1 = i.hits_result("conv1,conv2", "k-best", 3, 1)
    assert (r1, KGF.correlation, Literal(0.4, datatype=D)) in hits
    assert hits.value(i.hits_result("conv1,conv2", "k-best", 3, 2), KGF.correlation) is None  # null
    q_cell = i.hits_result("conv1,conv2", "q-quantile", 0.05, 1)
    assert (q_cell, KGF.q, Literal(0.05, datatype=D)) in hits
    ev = i.hits_evaluation("conv1,conv2")
    assert len(set(hits.objects(ev, KGF.hasClassResult))) == 10
    assert set(hits.objects(ev, KGF.evaluatedLayer)) == {i.layer("conv1"), i.layer("conv2")}
    ex = graph(built_run, "explanations")
    assert (i.explanation("heldout", 1), KGF.trueClass, i.class_label(6)) in ex
    assert ex.value(i.explanation("heldout", 2), KGF.trueClass) is None
    outcome = URIRef(f"{i.explanation('heldout', 1)}/hits/1")
    assert (outcome, KGF.isHitTrue, Literal(False)) in ex
    areas = graph(built_run, "areas")
    a = i.area("conv2", 13, "occlusion", "fsagn", "heldout", 1)
    assert (a, KGF.strategy, KGF.Occlusion) in areas
    assert (a, KGF.areaFilter, i.filter("conv2", 13)) in areas
    assert (a, KGF.maskFile, Literal("masks/conv2-13.npz")) in areas
    assert len(set(areas.subjects(RDF.type, KGF.SensitiveArea))) == 16
    prov = graph(built_run, "provenance")
    train = i.activity("train")
    assert (train, RDF.type, PROV.Activity) in prov
    assert (i.model(), PROV.wasGeneratedBy, train) in prov
    ended = Literal("2026-11-22T04:07:06Z", datatype=XSD.dateTime)
    assert prov.value(train, PROV.endedAtTime) == ended
    assert (i.parameter("train", "lr"), KGF.parameterValue, Literal(0.001, datatype=D)) in prov
    assert prov.value(i.parameter("tag", "note"), KGF.parameterValue) is None  # None left out


def test_two_emissions_identical(tmp_path: Path) -> None:
    a, b = write_run(tmp_path / "a" / "fm"), write_run(tmp_path / "b" / "fm")
    build_graph(a)
    build_graph(b)
    build_graph(b)  # re-running changes nothing
    for stage in EMITTERS:
        g = str(Iris.for_run(a).graph(stage))
        lines = sorted_nt(a, g)
        assert lines, stage
        assert lines == sorted_nt(b, g), stage


def test_rerun_replaces_only_its_graph(run_copy: Path) -> None:
    i = Iris.for_run(run_copy)
    before = store_graphs(run_copy)
    tags = json.loads((run_copy / "tags.json").read_text())
    tags["tags"] = tags["tags"][:5]
    (run_copy / "tags.json").write_text(json.dumps(tags))
    report = build_graph(run_copy, stages=["tags"])
    from kgfilters.filtag import load_tags
    from kgfilters.ontology.aids import tag_aids

    n_aids = len(list(tag_aids(i, load_tags(run_copy / "tags.json"))))  # in the same graph
    assert n_aids > 0 and report.triples == {"tags": 5 * 8 + n_aids}
    after = store_graphs(run_copy)
    assert len(after[str(i.graph("tags"))]) == 40 + n_aids
    for stage in ("model", "hits", "concepts", "coarsening", "provenance"):
        key = str(i.graph(stage))
        assert set(after[key]) == set(before[key]), stage


def test_missing_parts_give_empty_graphs(tmp_path: Path) -> None:
    root = write_run(tmp_path / "fm")
    for name in ("tags.json", "hits.json", "masks/metrics.json"):
        (root / name).unlink()
    report = build_graph(root)
    assert report.triples["tags"] == report.triples["hits"] == report.triples["areas"] == 0
    assert report.triples["model"] > 0 and report.triples["explanations"] > 0


def test_base_iri_is_kept_and_rewrites_the_store(run_copy: Path) -> None:
    report = build_graph(run_copy, base_iri="https://example.org/fm/")
    assert report.base == "https://example.org/fm/"
    assert json.loads((run_copy / "run.json").read_text())["graph"]["base_iri"] == report.base
    keys = set(store_graphs(run_copy))
    assert keys == {f"https://example.org/fm/graph/{s}" for s in EMITTERS}
    assert build_graph(run_copy, stages=["tags"]).base == "https://example.org/fm/"


def test_load_run_graph_is_a_dataset(built_run: Path) -> None:
    ds = load_run(built_run).graph
    i = Iris.for_run(built_run)
    assert (i.filter("conv1", 0), KGF.inLayer, i.layer("conv1")) in ds.get_context(i.graph("model"))
    res = ds.query("SELECT (COUNT(?f) AS ?n) WHERE { GRAPH ?g { ?f a kgf:Filter } }",
                   initNs={"kgf": KGF._NS})
    assert int(next(iter(res))[0]) == 96


@pytest.mark.parametrize(("name", "text", "match"), [
    ("hits.json", "{not json", "hits.json: not valid JSON"),
    ("hits.json", json.dumps({"layer": "conv2", "grid": [{"method": "k-best"}]}),
     "hits.json: malformed"),
    ("masks/metrics.json", json.dumps({"areas": [{"layer": "conv1", "filter": 0, "strategy": "blur",
                                                  "method": "fsagn", "split": "x", "image": 0}]}),
     "strategy 'blur'"),
])
def test_bad_input_is_one_line_and_keeps_the_store(run_copy: Path, name: str, text: str,
                                                   match: str) -> None:
    before = store_graphs(run_copy)
    (run_copy / name).write_text(text)
    with pytest.raises(GraphError, match=match) as info:
        build_graph(run_copy)
    assert "\n" not in str(info.value)
    assert {k: set(v) for k, v in store_graphs(run_copy).items()} == {
        k: set(v) for k, v in before.items()}


def test_unknown_stage(built_run: Path) -> None:
    with pytest.raises(ConfigError, match="graph stage 'concept'"):
        build_graph(built_run, stages=["concept"])
    with pytest.raises(ConfigError, match="expected one of"):
        emit_stage(built_run, "nope")


def test_refresh_after_a_stage(tmp_path: Path) -> None:
    from kgfilters.ontology.build import refresh_graph

    root = write_run(tmp_path / "fm")
    report = refresh_graph(root, "tag")
    assert list(report.triples) == ["model", "tags", "provenance"]
    assert list(refresh_graph(root, "hits").triples) == ["hits", "provenance"]
    assert list(refresh_graph(root, "something-new").triples) == ["provenance"]
