"""The fast emitters (``ontology.lines``) give exactly the reference emitters' quads (issue 13).

Compared as sets of pyoxigraph quads parsed from the text, so IRIs, datatypes, language tags and
lexical forms must all agree (``"1.0"^^xsd:double`` differs from ``"1"^^xsd:double``).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from kgfilters.errors import GraphError
from kgfilters.ontology import lines
from kgfilters.ontology.build import EMITTERS, FAST, build_graph, stage_lines
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.ontology.store import open_store, replace_graph, to_ox
from kgfilters.run import read_run_json
from tests.graph.conftest import write_run
from tests.run_checks import assert_run_unchanged

G = ox.NamedNode("https://ex.org/g")
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
#: The files the emitters read (copied from the pipeline run; its model weights are not needed).
RUN_FILES = ("run.json", "tags.json", "hits.json", "explanations", "masks/metrics.json",
             "concepts.json", "coarse.json", "evaluation.json")


def _parsed(statements: list[str]) -> list[ox.Quad]:
    return list(ox.parse("".join(f"{s} {G} .\n" for s in statements), ox.RdfFormat.N_QUADS))


def _assert_same_as_reference(root: Path) -> dict[str, int]:
    iris, config = Iris.for_run(root), read_run_json(root)
    sizes = {}
    for stage in EMITTERS:
        ref = set(to_ox(EMITTERS[stage](root, iris, config) or [], G))
        fast = set(_parsed(stage_lines(root, iris, config, stage)))
        assert fast == ref, (stage, sorted(map(str, ref - fast))[:3], sorted(map(str, fast - ref))[:3])
        sizes[stage] = len(ref)
    return sizes


def test_fast_emitters_equal_the_reference_on_the_fixture_run(tmp_path: Path) -> None:
    sizes = _assert_same_as_reference(write_run(tmp_path / "fm"))
    assert all(sizes[s] > 0 for s in FAST), sizes  # every fast emitter had something to write


def test_fast_emitters_equal_the_reference_on_a_synthetic_vgg16_run(tmp_path: Path) -> None:
    from benchmarks.bench_graph import write_synthetic_run

    root = tmp_path / "vgg"
    write_synthetic_run(root, classes=4, tags_per=2, areas=8, explanations=3)
    sizes = _assert_same_as_reference(root)
    from kgfilters.filtag import load_tags
    from kgfilters.ontology.aids import tag_aids

    n_aids = len(list(tag_aids(Iris.for_run(root), load_tags(root / "tags.json"))))
    assert n_aids > 0  # 13 layers x 4 classes x 2 tags, 8 triples a tag, and the query aids
    assert sizes["tags"] == 13 * 4 * 2 * 8 + n_aids


def test_fast_emitters_equal_the_reference_on_the_demo_run(tmp_path: Path, pipeline_run_template: Path) -> None:
    """On files the real stages wrote (``tests/conftest.py``'s run through every stage, standing in
    for ``make demo``'s run, which a clean clone lacks)."""
    root = tmp_path / "demo"
    for name in RUN_FILES:
        src, dst = pipeline_run_template / name, root / name
        assert src.exists(), f"the pipeline run lacks {name}"  # every emitter gets real input
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    sizes = _assert_same_as_reference(root)
    assert all(sizes[s] > 0 for s in EMITTERS if s != "model"), sizes  # model: needs the weights
    # the saved explanations carry sensitive areas (explain --save after sensitive), so the
    # comparison above covered the fast emitter's kgf:SensitiveArea nodes too
    iris, config = Iris.for_run(root), read_run_json(root)
    areas = [q for q in _parsed(stage_lines(root, iris, config, "explanations"))
             if q.predicate == RDF_TYPE and q.object == ox.NamedNode(f"{KGF_IRI}SensitiveArea")]
    assert areas, "no kgf:SensitiveArea in the explanations graph of the pipeline run"


@pytest.mark.parametrize(("value", "lexical"), [
    (1.0, "1.0"), (0.1, "0.1"), (1e-07, "1e-07"), (1e16, "1e+16"), (-0.0, "-0.0"), (3, "3.0"),
    (0.30000000000000004, "0.30000000000000004")])
def test_doubles_are_written_as_rdflib_writes_them(value: float, lexical: str) -> None:
    (q,) = _parsed([f"<https://ex.org/s> <https://ex.org/p> {lines.dbl(value)}"])
    assert (q.object.value, q.object.datatype.value) == (lexical, XSD + "double")


def test_literal_forms_and_escapes() -> None:
    for bad in (None, True, math.nan, math.inf, -math.inf):
        assert lines.dbl(bad) is None
    odd = 'quote " backslash \\ newline \n tab \t cr \r é \x01 end'
    s, p = "<https://ex.org/s>", "<https://ex.org/p>"
    got = [q.object for q in _parsed([f"{s} {p} {lines.string(odd)}", f"{s} {p} {lines.lang('x', 'en')}",
                                      f"{s} {p} {lines.integer(7.9)}", f"{s} {p} {lines.boolean(0)}"])]
    assert got == [ox.Literal(odd), ox.Literal("x", language="en"),
                   ox.Literal("7", datatype=ox.NamedNode(XSD + "integer")),
                   ox.Literal("false", datatype=ox.NamedNode(XSD + "boolean"))]
    with pytest.raises(AttributeError):
        _ = lines.P.notAKgfTerm


def test_build_graph_stores_the_reference_dataset(tmp_path: Path) -> None:
    """End to end: the store ``build_graph`` writes (fast path, journal) holds exactly the quads a
    store written through the rdflib reference (``replace_graph``) holds."""
    root = write_run(tmp_path / "fm")
    report = build_graph(root)
    iris, config = Iris.for_run(root), read_run_json(root)
    ref = ox.Store()
    for stage in EMITTERS:
        replace_graph(ref, iris.graph(stage), EMITTERS[stage](root, iris, config) or [])
    store = open_store(root, read_only=True)
    try:
        assert set(store) == set(ref) and len(ref) == report.total > 1000
    finally:
        del store


@pytest.mark.parametrize(("path", "change", "message"), [
    ("masks/metrics.json", lambda d: d["areas"][0].update(strategy="blur"), "strategy 'blur'"),
    ("explanations/heldout-1.json", lambda d: d.pop("predicted"), r"heldout-1\.json: malformed"),
    ("hits.json", lambda d: d["grid"][0].update(n="three"), r"hits\.json: malformed"),
])
def test_bad_input_is_a_one_line_error_and_leaves_the_run_unchanged(
        run_copy: Path, path: str, change, message: str) -> None:  # type: ignore[no-untyped-def]
    import json

    data = json.loads((run_copy / path).read_text())
    change(data)
    (run_copy / path).write_text(json.dumps(data))
    with assert_run_unchanged(run_copy), pytest.raises(GraphError, match=message) as info:
        build_graph(run_copy)
    assert "\n" not in str(info.value)


ODD = 'conv 1/é"x\\y'  # a space, a slash, non-ASCII, a quote and a backslash


def test_awkward_names_give_the_reference_quads() -> None:
    """Names from the files (layers, splits, methods, metrics, labels) are percent-encoded in IRIs
    and escaped in literals exactly as the reference does, and parse as N-Triples."""
    from kgfilters.filtag import Tag, TagSet
    from kgfilters.ontology import emit

    iris = Iris("https://ex.org/run/")
    tags = TagSet("q-quantile", 0.05, ("a", "b"), {ODD: 4}, tuple(
        Tag(ODD, i, c, "ab"[c], s, 1, "q-quantile", 0.05)
        for i, c, s in ((0, 0, 0.25), (3, 1, 1e-05), (3, 0, 1.0))))
    area = {"areas": [{"layer": ODD, "filter": 2, "strategy": "occlusion", "method": ODD,
                       "split": ODD, "image": 7, "area_fraction": 1, "mask_file": ODD,
                       "mask_key": "k", "metrics": {ODD: 0.5, "nan": float("nan")}}]}
    expl = {"split": ODD, "index": 3, "true_class": 1, "predicted": 0, "confidence": 1,
            "top_filters": [{"layer": ODD, "filter": 1, "activation": 2, "tags": [0, 0, 1]}],
            "ranking": [{"class_index": 1, "count": 2.0, "activation": None}],
            "hits_true": {"1": 0, "5": True}, "hits_predicted": {"5": False}}
    hits = {"layers": [ODD], "accuracy": 0.5, "per_class_accuracy": [1, None, 0.25],
            "grid": [{"method": ODD, "param": 0.5, "n": 2, "hits_true": 0.5,
                      "per_class_hits": [0.1]}]}
    model = dict(name=ODD, layers={ODD: 3}, class_names=[ODD, "b"], class_ids=["n1", "b"],
                 dataset={"root": f"/data/{ODD}", "kind": ODD}, sha256="ab", test_accuracy=0.5)
    for ref, fast in (
        (emit.tag_triples(iris, tags), lines.tag_lines(iris, tags)),
        (emit.area_triples(iris, area), lines.area_lines(iris, area)),
        (emit.explanation_triples(iris, expl), lines.explanation_lines(iris, expl)),
        (emit.hits_triples(iris, hits), lines.hits_lines(iris, hits)),
        (emit.model_triples(iris, **model), lines.model_lines(iris, **model)),
    ):
        want = set(to_ox(list(ref), G))
        assert set(_parsed(list(fast))) == want and len(want) > 5


def test_a_base_oxigraph_rejects_is_a_one_line_error() -> None:
    with pytest.raises(GraphError, match="not an IRI Oxigraph accepts") as info:
        list(lines.model_lines(Iris("https://ex.org/a\nb/"), name="m", layers={}, class_names=[]))
    assert "\n" not in str(info.value)
