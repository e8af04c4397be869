"""``kgfilters link``, ``coarsen`` and ``query`` and the demo stage on a tiny run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rdflib import Graph
from sem_helpers import BASE, FM, fm_tagset, make_run, tags_graph

from kgfilters.cli import main
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.queries.stage import demo_stage

pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_link_then_coarsen(tmp_path: Path, capsys, wn) -> None:
    run = make_run(tmp_path / "run", tags=fm_tagset())
    code, out, _ = cli(capsys, "link", "--run", run)
    assert code == 0
    assert "Ankle boot" in out and "boot.n.01 (wordnet)" in out and "gym_shoe.n.01" in out
    concepts = json.loads((run / "concepts.json").read_text())
    assert len(concepts["links"]) == 10 and concepts["broader"]
    stage = json.loads((run / "run.json").read_text())["stages"]["link"]
    assert stage["linked"] == 10 and stage["sources"] == "wordnet"
    code, out, _ = cli(capsys, "coarsen", "--run", run)
    assert code == 0
    assert (
        "conv1:0     footwear.n.02 (3/3); shoe.n.01 (2/3)    [Sandal, Sneaker, Ankle boot]" in out
    )
    assert "clothing.n.01 (5/5); garment.n.01 (4/5)" in out
    assert "coverage: 6/7 multi-tag filters" in out and "85.7%" in out and "class-shuffle baseline" in out
    assert "enrichment: " in out
    coarse = json.loads((run / "coarse.json").read_text())
    assert coarse["conforming_filters"] == 6 and coarse["multi_tag_filters"] == 7
    # the CLI asked the graph part to emit both stages from the files just written
    code, out, _ = cli(capsys, "query", "filters-under-concept", "--run", run,
                       "--param", "concept=footwear", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("layer,filter") and "conv1,0" in out
    assert "in_store" not in json.loads((run / "run.json").read_text())["stages"]["link"]
    code, out, _ = cli(capsys, "coarsen", "--run", run, "--stop", "covering.n.02,n03051540")
    assert code == 0 and "conv1:5     shoe.n.01 (2/3)    [Dress, Sandal, Sneaker]" in out
    assert "clothing.n.01" not in out and "coverage: 6/7" in out
    code, _, err = cli(capsys, "coarsen", "--run", run, "--stop", "nothing")
    assert code == 2 and "--stop 'nothing'" in err
    code, out, _ = cli(capsys, "coarsen", "--run", run, "--no-default-stop")
    assert code == 0 and "conv1:3     artifact.n.01 (2/2)" in out
    code, out, _ = cli(capsys, "coarsen", "--run", run, "--share", "1", "--all")
    assert code == 0 and "conv1:3     -" in out


def test_link_with_mapping_and_bad_inputs(tmp_path: Path, capsys, wn) -> None:
    run = make_run(tmp_path / "run")
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"Bag": "handbag.n.01"}))
    code, out, _ = cli(capsys, "link", "--run", run, "--mapping", m)
    assert code == 0 and "bag.n.04 (mapping)" in out
    for argv, msg in [
        (("link", "--run", tmp_path / "nothing"), "no run here yet"),
        (
            ("link", "--run", run, "--mapping", tmp_path / "none.csv"),
            "--mapping .*none.csv: no such file",
        ),
        (("link", "--run", run, "--conceptnet", "--conceptnet-url", "ftp://x"), "ftp://x"),
        (("link", "--run", run, "--conceptnet-dump", tmp_path / "no.csv.gz"), "no ConceptNet dump"),
        (("coarsen", "--run", run), "no tags yet"),
        (("coarsen", "--run", run, "--share", "2"), r"argument --share: 2: expected a number in \(0, 1\]"),
    ]:
        code, _, err = cli(capsys, *argv)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1
        import re

        assert re.search(msg, err), (msg, err)


def test_link_offline_conceptnet_without_cache(tmp_path: Path, capsys, wn) -> None:
    run = make_run(tmp_path / "run")
    code, _, err = cli(capsys, "link", "--run", run, "--conceptnet", "--offline")
    assert code == 2 and "not in the ConceptNet cache" in err


def test_query_command(tmp_path: Path, capsys) -> None:
    g = Graph()
    for t in tags_graph(fm_tagset()):
        g.add(t)
    ttl = tmp_path / "graph.ttl"
    g.serialize(ttl, format="turtle")
    code, out, _ = cli(
        capsys,
        "query",
        "filters-tagged-with",
        "--graph",
        ttl,
        "--param",
        "label=Sandal",
        "--format",
        "csv",
    )
    assert code == 0 and out.splitlines() == [
        "layer,filter,score,rank",
        "conv1,0,0.5,1",
        "conv1,4,0.54,1",
        "conv1,5,0.55,2",
        "conv2,1,0.51,1",
    ]
    code, out, _ = cli(capsys, "query", "never-tagged", "--graph", ttl, "--format", "json")
    assert json.loads(out) == [{"layer": "conv1", "filter": 1}, {"layer": "conv2", "filter": 2}]
    rq = tmp_path / "mine.rq"
    rq.write_text(
        f"# question: How many tags?\nPREFIX kgf: <{KGF_IRI}>\n"
        "SELECT (COUNT(?t) AS ?n) WHERE { ?t a kgf:Tag }\n"
    )
    code, out, _ = cli(capsys, "query", rq, "--graph", ttl)
    assert code == 0 and out.split()[2] == str(len(fm_tagset().tags))
    code, out, _ = cli(capsys, "query")
    assert code == 0 and "filters-tagged-with" in out and "label:label" in out
    bad = tmp_path / "bad.ttl"
    bad.write_text("this is not turtle {")
    for argv, msg in [
        (("query", "filters-tagged-with", "--graph", ttl), "label (label) is required"),
        (
            ("query", "filters-tagged-with", "--graph", ttl, "--param", "label"),
            "expected NAME=VALUE",
        ),
        (("query", "nope", "--graph", ttl), "not in the catalog"),
        (("query", "never-tagged", "--graph", tmp_path / "none.ttl"), "no such file"),
        (("query", "never-tagged", "--graph", bad), "not readable as turtle"),
    ]:
        code, _, err = cli(capsys, *argv)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert BASE  # the fixture graph uses the documented IRIs


def test_demo_stage(tmp_path: Path, wn) -> None:
    run = make_run(tmp_path / "fashion-mnist", tags=fm_tagset())
    lines = demo_stage(run, device=torch.device("cpu"), progress=False)
    text = "\n".join(lines)
    assert "linked 10/10 classes" in text
    assert "footwear.n.02: 2 filters" in text or "shoe.n.01: 3 filters" in text
    assert "6/7 multi-tag filters share an informative concept (86%" in text
    assert (run / "coarse.json").is_file() and (run / "concepts.json").is_file()
    assert FM[0] in json.loads((run / "concepts.json").read_text())["class_names"]
