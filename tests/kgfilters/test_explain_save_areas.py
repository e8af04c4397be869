"""``explain --save`` keeps where the separating filters look: the saved explanation's areas are the
run's trained generator's output for that image, in the file and, as ``kgf:SensitiveArea`` nodes of
the image, in the rebuilt graph (a SPARQL query); a bad ``--save`` leaves the run byte-identical,
and the exported graph still conforms to the shapes. On a /tmp copy of the demo run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
import torch

from kgfilters.cli import main
from kgfilters.explain_text import contrast
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.fidelity import mask_fidelity
from kgfilters.fsagn.fit import generate_masks
from kgfilters.fsagn.outputs import load_generator
from kgfilters.run import load_run
from tests.run_checks import assert_run_unchanged

DEMO = Path("/work/demo-run")
#: A held-out image of the demo run whose separating filters include both filters the demo trained
#: generators for (conv2:25 and conv2:27) and some that no generator covers.
INDEX = 13
AREAS = """PREFIX kgf: <https://w3id.org/kgfilters#> PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?index ?strategy ?frac ?split ?image ?metric ?value WHERE {
  ?e a kgf:Explanation ; kgf:imageIndex %d .
  ?a a kgf:SensitiveArea ; dcterms:isPartOf ?e ; kgf:areaFilter ?f ; kgf:strategy ?strategy ;
     kgf:method "fsagn" ; kgf:areaFraction ?frac ; kgf:split ?split ; kgf:imageIndex ?image ;
     kgf:hasMeasurement [ kgf:metricName ?metric ; kgf:value ?value ] .
  ?f kgf:channelIndex ?index ; kgf:inLayer/kgf:layerName "conv2" }"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DEMO / "masks" / "generators").is_dir():
        pytest.skip("no demo run with trained generators at /work/demo-run (make demo)")
    dst = tmp_path_factory.mktemp("save-areas") / "demo"
    shutil.copytree(DEMO, dst)
    return dst


def _direct(root: Path) -> dict[int, dict[str, float]]:
    """The reservation generator's masks of held-out image INDEX by a direct pass, with the FSAGN
    stage's fidelity figures of each, for the separating filters it covers: {filter: figures}."""
    run = load_run(root)
    gen, meta = load_generator(root / "masks" / "generators" / "conv2_reservation.safetensors")
    img = run.splits.heldout[INDEX][0][None]
    bb = Backbone.of(run.model, run.spec, "conv2", tuple(meta["filters"]))
    masks = generate_masks(bb, gen, img)  # (1, K, 28, 28)
    figures = mask_fidelity(bb, img, masks, "reservation")
    from kgfilters.explain import explain_image

    sep = {f.filter for f, _ in contrast(explain_image(run, index=INDEX)).separating if f.layer == "conv2"}
    return {f: {k: float(v[0, j]) for k, v in figures.items()} for j, f in enumerate(meta["filters"]) if f in sep}


def test_saved_areas_in_the_file_and_the_graph_equal_the_generator_output(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kgfilters.ontology.build import build_graph

    assert main(["explain", "--run", str(demo), "--index", str(INDEX), "--save"]) == 0
    out = capsys.readouterr().out
    assert "conv2:25 reservation:" in out and "no trained generator for" in out
    want = _direct(demo)
    assert sorted(want) == [25, 27]
    saved = json.loads((demo / "explanations" / f"heldout-{INDEX}.json").read_text())
    got = {a["filter"]: a for a in saved["sensitive_areas"]}
    assert sorted(got) == [25, 27] and {a["strategy"] for a in got.values()} == {"reservation"}
    for f, figures in want.items():
        assert got[f]["area"] == pytest.approx(figures["area_fraction"], abs=1e-6)
        assert got[f]["metrics"] == pytest.approx(figures, abs=1e-6)
    assert saved["no_generator"] and ["conv2", 25] not in saved["no_generator"]

    build_graph(demo)  # the whole store rebuilt from the run's files
    store = ox.Store.read_only(str(demo / "graph"))
    rows = [{k: r[k].value for k in ("index", "strategy", "frac", "split", "image", "metric", "value")}
            for r in store.query(AREAS % INDEX, use_default_graph_as_union=True)]
    del store
    assert {int(r["index"]) for r in rows} == {25, 27}
    for r in rows:
        f = int(r["index"])
        assert r["strategy"].endswith("#Reservation") and r["split"] == "heldout" and int(r["image"]) == INDEX
        assert float(r["frac"]) == pytest.approx(want[f]["area_fraction"], abs=1e-6)
        assert float(r["value"]) == pytest.approx(want[f][r["metric"]], abs=1e-6)
    assert {(int(r["index"]), r["metric"]) for r in rows} == {(f, m) for f in want for m in want[f]}


def test_the_exported_graph_with_explanation_areas_conforms(demo: Path, tmp_path: Path) -> None:
    from kgfilters.ontology.validate import load_file, validate_graph

    if not (demo / "explanations" / f"heldout-{INDEX}.json").is_file():
        assert main(["explain", "--run", str(demo), "--index", str(INDEX), "--save"]) == 0
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
    (["--index", str(INDEX), "--layers", "conv9"], "conv9"),
])
def test_a_bad_save_leaves_the_run_byte_identical(
    demo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capsys.readouterr()
    with assert_run_unchanged(demo):
        assert main(["explain", "--run", str(demo), "--save", *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_an_unreadable_generator_fails_the_save_in_one_line_with_the_run_unchanged(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo, run)
    weights = run / "masks" / "generators" / "conv2_reservation.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    with assert_run_unchanged(run):
        assert main(["explain", "--run", str(run), "--index", str(INDEX), "--save"]) != 0
    err = capsys.readouterr().err.strip()
    assert "conv2_reservation.safetensors: not a readable FSAGN generator" in err and len(err.splitlines()) == 1


def test_the_python_api_saves_the_same_areas(demo: Path, tmp_path: Path) -> None:
    from kgfilters.pipeline import explain_run

    run = tmp_path / "run"
    shutil.copytree(demo, run)
    e = explain_run(run, device=torch.device("cpu"), index=INDEX, save=True)
    assert e.areas is not None and [m.filter for m in e.areas.masks] == [
        f.filter for f, _ in contrast(e).separating if (f.layer, f.filter) in {("conv2", 25), ("conv2", 27)}]
    saved = json.loads((run / "explanations" / f"heldout-{INDEX}.json").read_text())
    want = _direct(run)
    assert {a["filter"]: a["area"] for a in saved["sensitive_areas"]} == pytest.approx(
        {f: w["area_fraction"] for f, w in want.items()}, abs=1e-6)
    assert explain_run(run, device=torch.device("cpu"), index=INDEX).areas is None  # not saving: not asked
