"""A run is one portable unit (issue 11): pinned IRIs, one graph writer, atomic graph replacement."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import RDF, Literal, URIRef
from rdflib.namespace import SKOS

from kgfilters.cli import main
from kgfilters.errors import GraphError
from kgfilters.ontology import journal as journal_mod
from kgfilters.ontology.build import EMITTERS, build_graph
from kgfilters.ontology.iris import Iris, default_base
from kgfilters.ontology.namespace import KGF, KGF_IRI
from kgfilters.ontology.store import KEEP_LOGS, graph_triples, open_store, replace_graph

from .conftest import write_run
from .helpers import store_graphs

REPO = Path(__file__).resolve().parents[2]


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _counts(root: Path) -> dict[str, int]:
    return {k: len(g) for k, g in store_graphs(root).items()}


def _iris_in_store(root: Path) -> set[str]:
    store = open_store(root, read_only=True)
    try:
        return {t.value for q in store for t in (q.subject, q.predicate, q.object, q.graph_name)
                if isinstance(t, ox.NamedNode)}
    finally:
        del store


# --- pinned identity -------------------------------------------------------------------------

def test_create_run_pins_the_base_once(tmp_path: Path, idx_root: Path) -> None:
    from kgfilters.pipeline import create_run

    a = tmp_path / "first"
    create_run(a, data_root=idx_root)
    base = json.loads((a / "run.json").read_text())["graph"]["base_iri"]
    assert base == default_base(a) == "https://w3id.org/kgfilters/run/first/"
    b = tmp_path / "moved"
    shutil.copytree(a, b)
    assert Iris.for_run(b).base == base  # the copy keeps its identity
    create_run(b, data_root=idx_root)  # re-creating keeps the pinned base
    assert json.loads((b / "run.json").read_text())["graph"]["base_iri"] == base
    c = tmp_path / "other"
    create_run(c, data_root=idx_root, base_iri="https://example.org/c/")
    assert Iris.for_run(c).base == "https://example.org/c/"


def test_older_run_is_pinned_on_first_write_from_its_store(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    old = write_run(tmp_path / "fm")  # no graph.base_iri: made by an older kgfilters
    with caplog.at_level(logging.WARNING, logger="kgfilters.ontology.build"):
        build_graph(old)
    assert "base IRI pinned to https://w3id.org/kgfilters/run/fm/" in caplog.text
    # an older copy: run.json without a base, the store built under the original name
    config = json.loads((old / "run.json").read_text())
    del config["graph"]
    (old / "run.json").write_text(json.dumps(config))
    copy = tmp_path / "copied"
    shutil.copytree(old, copy)
    build_graph(copy, stages=["tags"])
    assert json.loads((copy / "run.json").read_text())["graph"]["base_iri"] == (
        "https://w3id.org/kgfilters/run/fm/")
    assert not any("copied" in iri for iri in _iris_in_store(copy))
    assert len(store_graphs(copy)) == len(EMITTERS)


def test_copy_retagged_and_reexplained_keeps_its_iris(trained_run: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11, 'Done when': a copy of a finished run, re-tagged and re-explained under its new
    name, validates, holds each tag once, and has no IRI with the new name unless rebased."""
    run = trained_run
    for argv in (("tag", "--run", run, "--k", "3", "--no-progress"),
                 ("explain", "--run", run, "--index", "1", "--save", "--json")):
        assert _cli(capsys, *argv)[0] == 0, argv
    copy = tmp_path / "copy-of-the-run"
    shutil.copytree(run, copy)
    for argv in (("tag", "--run", copy, "--k", "2", "--no-progress"),
                 ("explain", "--run", copy, "--index", "2", "--save", "--json")):
        assert _cli(capsys, *argv)[0] == 0, argv
    code, out, err = _cli(capsys, "validate", "--run", copy)
    assert code == 0, out + err
    tags = json.loads((copy / "tags.json").read_text())["tags"]
    store = open_store(copy, read_only=True)
    rows = list(store.query(f"SELECT ?t (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?t a <{KGF.Tag}> }} }} "
                            "GROUP BY ?t", use_default_graph_as_union=False))
    del store
    assert len(rows) == len(tags) == 2 * 10 * 2 and {int(r[1].value) for r in rows} == {1}
    iris = _iris_in_store(copy)
    assert not any("copy-of-the-run" in i for i in iris)
    base = Iris.for_run(run).base
    assert Iris.for_run(copy).base == base and "tiny" in base
    assert {"tags", "explanations"} <= {g.removeprefix(f"{base}graph/") for g in store_graphs(copy)}
    assert all(g.startswith(base) for g in store_graphs(copy))
    # rebase was asked for: everything moves, nothing stays under the old base
    code, out, _ = _cli(capsys, "rebase", "--run", copy, "--base-iri", "https://example.org/copy-of-the-run/")
    assert code == 0 and "re-emitted under https://example.org/copy-of-the-run/" in out
    iris = _iris_in_store(copy)
    assert not any(i.startswith(base) for i in iris)
    new = {f"https://example.org/copy-of-the-run/graph/{s}" for s in EMITTERS}
    assert {str(i.graph(s)) for i in [Iris("https://example.org/copy-of-the-run/")]
            for s in ("model", "tags", "explanations", "provenance")} <= set(store_graphs(copy)) <= new
    assert _cli(capsys, "validate", "--run", copy)[0] == 0


def test_rebase_refuses_a_bad_iri_and_changes_nothing(built_run: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "fm"
    shutil.copytree(built_run, run)
    before = (run / "run.json").read_bytes(), _counts(run)
    code, _, err = _cli(capsys, "rebase", "--run", run, "--base-iri", "not-an-iri")
    assert code == 2 and "base IRI 'not-an-iri'" in err and err.count("\n") == 1
    assert ((run / "run.json").read_bytes(), _counts(run)) == before


def test_store_under_another_base_is_repaired_on_the_next_write(run_copy: Path) -> None:
    """Graphs left under another base (an older copy, a rebase killed before run.json was
    written) are dropped, and every stage is rebuilt under the run's base."""
    store = open_store(run_copy)
    replace_graph(store, "https://elsewhere.org/x/graph/tags", [(URIRef("https://elsewhere.org/x/t"),
                                                                 RDF.type, KGF.Tag)])
    del store
    report = build_graph(run_copy, stages=["hits"])
    assert sorted(report.triples) == sorted(EMITTERS)
    assert set(store_graphs(run_copy)) == {str(Iris.for_run(run_copy).graph(s)) for s in EMITTERS}


# --- one way into the store -------------------------------------------------------------------

def test_kgfilters_graph_rebuilds_a_lost_store_whole(run_copy: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    expected = _counts(run_copy)
    i = Iris.for_run(run_copy)
    assert expected[str(i.graph("concepts"))] > 0 and expected[str(i.graph("coarsening"))] > 0
    shutil.rmtree(run_copy / "graph")
    code, out, _ = _cli(capsys, "graph", "--run", run_copy)
    assert code == 0 and "concepts" in out and "coarsening" in out
    assert _counts(run_copy) == expected
    code, out, _ = _cli(capsys, "query", "filters-under-concept", "--run", run_copy,
                        "--param", "concept=footwear", "--format", "csv")
    assert code == 0 and "conv1,3" in out


def test_concepts_and_coarsening_are_emitted_from_their_files(built_run: Path) -> None:
    i = Iris.for_run(built_run)
    graphs = store_graphs(built_run)
    concepts, coarse = graphs[str(i.graph("concepts"))], graphs[str(i.graph("coarsening"))]
    boot = URIRef("http://wordnet-rdf.princeton.edu/wn30/02854739-n")
    footwear = URIRef("http://wordnet-rdf.princeton.edu/wn30/03381126-n")
    assert (i.class_label(9), KGF.denotes, boot) in concepts
    assert len(concepts) == 3 + 4 * 4 + 3 + 1  # links, concepts (type, label, notation, hiddenLabel), edges
    hidden, label = concepts.value(boot, SKOS.hiddenLabel), concepts.value(boot, SKOS.prefLabel)
    assert str(hidden) == str(label) and hidden.language is None and label.language == "en"
    node = i.coarse_concept("conv1", 3, str(footwear))
    assert (i.filter("conv1", 3), KGF.coarseConcept, footwear) in coarse
    assert coarse.value(node, KGF.support).toPython() == pytest.approx(0.75)  # 3 of 4 classes
    assert coarse.value(node, KGF.supportCount).toPython() == 3


# --- atomic replacement -----------------------------------------------------------------------

def test_a_failed_swap_leaves_the_old_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g, a = URIRef("https://ex.org/graph/x"), URIRef("https://ex.org/a")
    store = open_store(tmp_path)
    replace_graph(store, g, [(a, KGF.channelIndex, Literal(i)) for i in range(50)])

    def killed(*args: object) -> None:  # the process dies after converting, before the swap
        raise OSError("killed")

    monkeypatch.setattr(journal_mod, "_swap", killed)
    with pytest.raises(GraphError, match=r"cannot write graph <https://ex.org/graph/x> \(killed\)"):
        replace_graph(store, g, [(a, KGF.channelIndex, Literal(-1))])
    assert len(graph_triples(store, g)) == 50
    monkeypatch.undo()
    assert replace_graph(store, g, [(a, KGF.channelIndex, Literal(-1))]) == 1
    assert graph_triples(store, g) == [(a, KGF.channelIndex, Literal(-1))]


_KILLED_WRITER = """
import sys
from rdflib import Literal, URIRef
from kgfilters.ontology.namespace import KGF
from kgfilters.ontology import journal as j, store as s
st = s.open_store(sys.argv[1])
real = j._swap
def swap(*a):
    print("swapping", flush=True)
    real(*a)
j._swap = swap
s.replace_graph(st, "https://ex.org/graph/x",
                [(URIRef(f"https://ex.org/new/{i}"), KGF.rank, Literal(i)) for i in range(int(sys.argv[2]))])
print("done", flush=True)
"""


def test_a_kill_during_the_swap_leaves_old_or_new(tmp_path: Path) -> None:
    old = [(URIRef(f"https://ex.org/old/{i}"), KGF.rank, Literal(i)) for i in range(3000)]
    store = open_store(tmp_path)
    replace_graph(store, "https://ex.org/graph/x", old)
    del store
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), "20000"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "swapping"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = open_store(tmp_path)
    got = graph_triples(store, "https://ex.org/graph/x")
    olds = sum(1 for t in got if "/old/" in t[0])
    assert (olds, len(got)) in {(3000, 3000), (0, 20000)}, (olds, len(got))


# --- smaller ----------------------------------------------------------------------------------

def test_published_paths_are_relative_or_left_out(tmp_path: Path) -> None:
    root = write_run(tmp_path / "fm")
    config = json.loads((root / "run.json").read_text())
    config["stages"]["concepts"] = {"mapping": "/home/someone/mapping.csv",
                                    "figure": str(root.resolve() / "figures" / "x.png"),
                                    "files": ["/elsewhere/a.png", str(root / "masks" / "b.npz")]}
    (root / "run.json").write_text(json.dumps(config))
    build_graph(root)
    literals = {str(t) for g in store_graphs(root).values() for tr in g for t in tr
                if isinstance(t, Literal)}
    assert not any(v.startswith("/") for v in literals), sorted(v for v in literals if "/" in v)
    assert "figures/x.png" in literals and '["masks/b.npz"]' in literals
    assert "/data/fashion-mnist" not in literals  # the data root is not published


def test_graph_keeps_a_few_log_files(tmp_path: Path) -> None:
    root = write_run(tmp_path / "fm")
    for _ in range(KEEP_LOGS + 3):
        build_graph(root, stages=["provenance"])
    assert len(list((root / "graph").glob("LOG.old.*"))) <= KEEP_LOGS


def test_namespace_is_spelled_out_in_ontology_only() -> None:
    found = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in (".venv", "build") or rel.parts[0].startswith("."):
            continue
        if KGF_IRI in path.read_text(encoding="utf-8") and rel.parts[0] != "ontology":
            found.append(str(rel))
    assert found == []
