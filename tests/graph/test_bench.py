"""The benchmark script runs end to end at a small scale and prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_graph.py"


@pytest.mark.slow
def test_bench_graph_small() -> None:
    r = subprocess.run([sys.executable, str(BENCH), "--small", "--reps", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["inputs"]["filters"] == 4224 and out["triples"] > 50_000
    assert set(out["export_s"]) == {"ttl", "nt", "nq", "trig", "jsonld", "xml"}
    q = out["queries"]["own/explanation_of_image"]
    assert q["oxigraph_rows"] == q["rdflib_rows"] == 10
    assert "machine" in out
    # ImageNet classes linked through their wnids, coarsened: every catalog query has rows to find
    assert out["concepts"]["linked"] == 50 and out["coarsening"]["coarse_concepts"] > 0
    cat = {k: v for k, v in out["queries"].items() if k.startswith("catalog/")}
    assert len(cat) == out["catalog_queries"] >= 13
    for name, v in cat.items():
        assert "oxigraph_first_page_ms" in v and "oxigraph_ms" in v, name
    # the catalog's binding on Oxigraph (terms inlined) and the VALUES text on rdflib find the same
    # rows (rdflib reads the export made before the tags graph was re-emitted with other tags, so
    # only queries that do not read the tags graph are compared)
    for name in ("explanation", "sensitive-areas", "filters-under-concept"):
        v = cat[f"catalog/{name}"]
        assert v["oxigraph_rows"] == v["rdflib_rows"], name
    for name in ("co-tagged-classes", "polysemantic", "coarse-concepts", "filters-under-concept",
                 "top-filters", "filters-tagged-with"):
        assert cat[f"catalog/{name}"]["oxigraph_rows"] > 0, name
    assert out["queries"]["own/tags_per_layer"]["oxigraph_rows"] == 13


@pytest.mark.slow
def test_bench_graph_reemit_only_on_a_kept_run(tmp_path: Path) -> None:
    """``--only reemit --run COPY`` re-measures the re-emission on a kept run: each way of writing
    leaves the tags graph of the run's current tags.json, every other graph kept."""
    import pyoxigraph as ox

    from kgfilters.ontology.build import stage_lines
    from kgfilters.ontology.iris import Iris
    from kgfilters.run import read_run_json

    run = tmp_path / "kept"
    r = subprocess.run([sys.executable, str(BENCH), "--small", "--keep", str(run), "--graph-only"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    built = json.loads(r.stdout)
    r = subprocess.run([sys.executable, str(BENCH), "--only", "reemit", "--run", str(run)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)["reemit_tags"]
    assert out["mode"] == "store" and out["triples"] > 30_000  # other tags: other aids
    for key in ("reemit_s", "reemit_in_place_s", "fresh_s", "fresh_after_drop_s", "fresh_cpu_s"):
        assert out[key] > 0, key
    assert out["reemit_over_fresh"] == pytest.approx(out["reemit_s"] / out["fresh_s"], abs=0.02)
    store = ox.Store.read_only(str(run / "graph"))
    iris = Iris.for_run(run)
    tags = set(stage_lines(run, iris, read_run_json(run), "tags"))
    got = {f"{q.subject} {q.predicate} {q.object}"
           for q in store.quads_for_pattern(None, None, None, ox.NamedNode(str(iris.graph("tags"))))}
    assert got == tags  # the graph of the rewritten tags.json, no quad of an earlier one
    assert len(store) == built["triples"] - built["triples_per_graph"]["tags"] + len(tags)
    assert not list((run / "graph.journal").iterdir())


def test_bench_graph_reemit_only_needs_a_run(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(BENCH), "--only", "reemit", "--run", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--only reemit needs --run DIR" in r.stderr
