"""``explain --save`` keeps where the separating filters look: the saved explanation's areas are the
run's trained generator's output for that image, in the file and, as ``kgf:SensitiveArea`` nodes of
the image, in the rebuilt graph (a SPARQL query); a bad ``--save`` leaves the run byte-identical,
and the exported graph still conforms to the shapes.

On private copies of the suite's run through every stage (``tests/conftest.py``,
``pipeline_run_template``). The held-out image is found, not assumed: the first whose separating
filters include both a filter a trained generator covers and one none covers; the layer and the
strategy come from the generators' metadata (``masks/generators/*.json``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
import torch

from kgfilters.cli import main
from kgfilters.explain import explain_image
from kgfilters.explain_text import contrast
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fidelity import mask_fidelity
from kgfilters.fsagn.fit import generate_masks
from kgfilters.fsagn.outputs import load_generator
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.run import load_run
from tests.run_checks import assert_run_unchanged

#: How many held-out images are searched for one with covered and uncovered separating filters.
SEARCH = 32
#: The order ``explain --save`` tries the strategies in (FSAGN 2.1: keep the area, then remove it).
ORDER = ("reservation", "occlusion")
AREAS = """PREFIX kgf: <%s> PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?index ?strategy ?frac ?split ?image ?metric ?value WHERE {
  ?e a kgf:Explanation ; kgf:imageIndex %d .
  ?a a kgf:SensitiveArea ; dcterms:isPartOf ?e ; kgf:areaFilter ?f ; kgf:strategy ?strategy ;
     kgf:method "fsagn" ; kgf:areaFraction ?frac ; kgf:split ?split ; kgf:imageIndex ?image ;
     kgf:hasMeasurement [ kgf:metricName ?metric ; kgf:value ?value ] .
  ?f kgf:channelIndex ?index ; kgf:inLayer/kgf:layerName "%s" }"""


@dataclass(frozen=True)
class Case:
    """The chosen held-out image ``index``: its separating filters (most active first) in
    ``layer``, the ones a generator covers (``covered``, each with the strategy used: the first of
    ``ORDER`` whose generator covers it) and the ones none covers (``uncovered``)."""

    index: int
    layer: str
    separating: tuple[int, ...]
    covered: dict[int, str]
    uncovered: tuple[tuple[str, int], ...]

    def generator(self, strategy: str) -> str:
        return f"{self.layer}_{strategy}.safetensors"


def _generators(root: Path) -> dict[tuple[str, str], tuple[int, ...]]:
    """(layer, strategy) -> filters, read from the generators' metadata files."""
    out = {}
    for meta in sorted((root / "masks" / "generators").glob("*.json")):
        d = json.loads(meta.read_text())
        assert meta.with_suffix(".safetensors").is_file(), meta
        out[(d["layer"], d["strategy"])] = tuple(int(f) for f in d["filters"])
    return out


def _find_case(root: Path) -> Case:
    gens = _generators(root)
    assert gens, f"{root}: the pipeline run has no trained generators"
    run = load_run(root)
    for index in range(SEARCH):
        sep = [(f.layer, f.filter) for f, _ in contrast(explain_image(run, index=index)).separating]
        covered = {}
        for layer, f in sep:
            s = next((s for s in ORDER if f in gens.get((layer, s), ())), None)
            if s is not None:
                covered.setdefault((layer, f), s)
        uncovered = tuple(x for x in sep if x not in covered)
        layers = {layer for layer, _ in covered}
        if len(layers) == 1 and uncovered:
            (layer,) = layers
            return Case(index, layer, tuple(f for lay, f in sep if lay == layer),
                        {f: s for (_, f), s in covered.items()}, uncovered)
    raise AssertionError(f"none of the first {SEARCH} held-out images has separating filters both covered "
                         f"and not covered by the trained generators {sorted(gens)}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, pipeline_run_template: Path) -> Path:
    dst = tmp_path_factory.mktemp("save-areas") / "run"
    shutil.copytree(pipeline_run_template, dst)
    return dst


@pytest.fixture(scope="module")
def case(demo: Path) -> Case:
    return _find_case(demo)


def _direct(root: Path, case: Case) -> dict[int, dict[str, float]]:
    """The covering generators' masks of the case's image by a direct pass, with the FSAGN stage's
    fidelity figures of each, for the separating filters they cover: {filter: figures}."""
    run = load_run(root)
    img = run.splits.heldout[case.index][0][None]
    out: dict[int, dict[str, float]] = {}
    for strategy in dict.fromkeys(case.covered.values()):
        gen, meta = load_generator(root / "masks" / "generators" / case.generator(strategy))
        assert meta["layer"] == case.layer and meta["strategy"] == strategy
        bb = Backbone.of(run.model, run.spec, case.layer, tuple(meta["filters"]),
                         feature_layer=meta.get("feature_layer"))
        masks = generate_masks(bb, gen, img)  # (1, K, H, W)
        figures = mask_fidelity(bb, img, masks, strategy)
        for j, f in enumerate(meta["filters"]):
            if case.covered.get(f) == strategy:
                out[f] = {k: float(v[0, j]) for k, v in figures.items()}
    return out


def test_saved_areas_in_the_file_and_the_graph_equal_the_generator_output(
    demo: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    from kgfilters.ontology.build import build_graph

    capsys.readouterr()
    assert main(["explain", "--run", str(demo), "--index", str(case.index), "--save"]) == 0
    out = capsys.readouterr().out
    for f, s in case.covered.items():
        assert f"{case.layer}:{f} {s}:" in out
    missing = ", ".join(f"{lay}:{f}" for lay, f in case.uncovered)
    assert f"no trained generator for {missing} (" in out
    want = _direct(demo, case)
    assert sorted(want) == sorted(case.covered)
    saved = json.loads((demo / "explanations" / f"heldout-{case.index}.json").read_text())
    got = {a["filter"]: a for a in saved["sensitive_areas"]}
    assert [a["filter"] for a in saved["sensitive_areas"]] == [f for f in case.separating if f in case.covered]
    assert {f: a["strategy"] for f, a in got.items()} == case.covered
    assert {(a["layer"], a["method"]) for a in got.values()} == {(case.layer, "fsagn")}
    for f, figures in want.items():
        assert got[f]["generator"] == f"masks/generators/{case.generator(case.covered[f])}"
        assert got[f]["area"] == pytest.approx(figures["area_fraction"], abs=1e-6)
        assert got[f]["metrics"] == pytest.approx(figures, abs=1e-6)
    assert [tuple(x) for x in saved["no_generator"]] == list(case.uncovered)

    build_graph(demo)  # the whole store rebuilt from the run's files
    store = ox.Store.read_only(str(demo / "graph"))
    rows = [{k: r[k].value for k in ("index", "strategy", "frac", "split", "image", "metric", "value")}
            for r in store.query(AREAS % (KGF_IRI, case.index, case.layer), use_default_graph_as_union=True)]
    del store
    assert {int(r["index"]) for r in rows} == set(case.covered)
    for r in rows:
        f = int(r["index"])
        assert r["strategy"] == f"{KGF_IRI}{case.covered[f].capitalize()}"
        assert r["split"] == "heldout" and int(r["image"]) == case.index
        assert float(r["frac"]) == pytest.approx(want[f]["area_fraction"], abs=1e-6)
        assert float(r["value"]) == pytest.approx(want[f][r["metric"]], abs=1e-6)
    assert {(int(r["index"]), r["metric"]) for r in rows} == {(f, m) for f in want for m in want[f]}


def test_the_exported_graph_with_explanation_areas_conforms(demo: Path, case: Case, tmp_path: Path) -> None:
    from kgfilters.ontology.validate import load_file, validate_graph

    if not (demo / "explanations" / f"heldout-{case.index}.json").is_file():
        assert main(["explain", "--run", str(demo), "--index", str(case.index), "--save"]) == 0
    ttl = tmp_path / "graph.ttl"
    assert main(["export", "--run", str(demo), "-o", str(ttl)]) == 0
    data = load_file(ttl)
    report = validate_graph(data)
    assert report.conforms, report.violations[:3]
    # the shapes do check these areas: one claiming a second explanation is a violation
    from rdflib import URIRef
    from rdflib.namespace import DCTERMS

    area = next(s for s in data.subjects(DCTERMS.isPartOf, None))
    data.add((area, DCTERMS.isPartOf, URIRef("https://example.org/not-an-explanation")))
    assert not validate_graph(data).conforms


@pytest.mark.parametrize("argv, message", [
    (["--index", "100000"], "--index 100000: expected 0 <= index <"),
    (["--image", "/nonexistent/shoe.png"], "/nonexistent/shoe.png: not a readable image"),
    (["--index", "{index}", "--layers", "conv9"], "conv9"),
])
def test_a_bad_save_leaves_the_run_byte_identical(
    demo: Path, case: Case, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(index=case.index) for a in argv]
    capsys.readouterr()
    with assert_run_unchanged(demo):
        assert main(["explain", "--run", str(demo), "--save", *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_an_unreadable_generator_fails_the_save_in_one_line_with_the_run_unchanged(
    demo: Path, case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo, run)
    name = case.generator(next(iter(case.covered.values())))
    weights = run / "masks" / "generators" / name
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    with assert_run_unchanged(run):
        assert main(["explain", "--run", str(run), "--index", str(case.index), "--save"]) != 0
    err = capsys.readouterr().err.strip()
    assert f"{name}: not a readable FSAGN generator" in err and len(err.splitlines()) == 1


def test_the_python_api_saves_the_same_areas(demo: Path, case: Case, tmp_path: Path) -> None:
    from kgfilters.pipeline import explain_run

    run = tmp_path / "run"
    shutil.copytree(demo, run)
    e = explain_run(run, device=torch.device("cpu"), index=case.index, save=True)
    assert e.areas is not None and [m.filter for m in e.areas.masks] == [
        f.filter for f, _ in contrast(e).separating if f.layer == case.layer and f.filter in case.covered]
    assert e.areas.missing == case.uncovered
    saved = json.loads((run / "explanations" / f"heldout-{case.index}.json").read_text())
    want = _direct(run, case)
    assert {a["filter"]: a["area"] for a in saved["sensitive_areas"]} == pytest.approx(
        {f: w["area_fraction"] for f, w in want.items()}, abs=1e-6)
    assert explain_run(run, device=torch.device("cpu"), index=case.index).areas is None  # not asked
