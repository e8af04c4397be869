"""``kgfilters evaluate`` end to end on a quickly trained run: the keys of evaluation.json, the
report, the graph, the contrastive method side by side, and bad input leaving the run unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kgfilters import load_run
from kgfilters.cli import main
from kgfilters.ontology.namespace import KGF_IRI

KEYS = [
    "tags.layers.conv2.tagged_share", "tags.layers.conv2.generic_filters",
    "hits.layer", "hits.n", "hits.observed", "hits.ci95", "hits.tie_rule",
    "hits.tie_policies.activation", "hits.tie_policies.random", "hits.tie_policies.pessimistic",
    "hits.random_tags.mean", "hits.random_tags.p95", "hits.random_tags.draws", "hits.constant_top_n",
    "hits_vs_accuracy.per_image.effect", "hits_vs_accuracy.per_image.ci95", "hits_vs_accuracy.per_image.p_value",
    "hits_vs_accuracy.per_class.r", "hits_vs_accuracy.per_class.ci95", "hits_vs_accuracy.per_class.p_value",
    "conformance.enrichment.observed", "conformance.enrichment.baseline_mean",
    "conformance.enrichment.p_value", "conformance.enrichment.permutations",
    "conformance.coverage.observed", "conformance.coverage.baseline_mean",
]


def _get(d: dict, key: str):  # type: ignore[no-untyped-def, type-arg]
    for part in key.split("."):
        d = d[part]
    return d


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "graph" not in p.parts}


def test_evaluate_end_to_end(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--run", str(trained_run), "--k", "3", "--no-progress"]) == 0
    assert main(["link", "--run", str(trained_run)]) == 0
    capsys.readouterr()
    code = main(["evaluate", "--run", str(trained_run), "--method", "contrastive:3", "--draws", "200",
                 "--no-ablation", "--no-fsagn", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads((trained_run / "evaluation.json").read_text())
    for key in KEYS:
        _get(data, key)
    assert data["hits"]["tie_rule"] == "activation sum" and data["hits"]["random_tags"]["draws"] == 200
    assert 0 <= data["hits"]["observed"] <= 1 and data["hits"]["n"] == 3 and data["hits"]["layer"] == "conv2"
    assert data["hits"]["ci95"][0] <= data["hits"]["observed"] <= data["hits"]["ci95"][1]
    assert data["hits_vs_accuracy"]["grid"]["cells_tried"] >= 36
    assert "contrastive k=3" in data["methods"] and "ablation" not in data
    assert "Hits@3 " in out and "random tags" in out and "tie rule: activation sum" in out
    assert "[contrastive k=3] Hits@3" in out
    md = (trained_run / "evaluation.md").read_text()
    assert "## hits" in md and "| figure | value | 95% interval |" in md and "Holm" in md
    assert (trained_run / "figures" / "evaluation-hits-cutoffs.png").stat().st_size > 1000
    assert load_run(trained_run).config["stages"]["evaluate"]["draws"] == 200
    store = load_run(trained_run).store
    rows = list(store.query(
        f"PREFIX kgf: <{KGF_IRI}> " "SELECT ?v ?b WHERE { GRAPH ?g { ?f a kgf:EvaluationFigure ; "
        "kgf:section 'hits' ; kgf:value ?v ; kgf:hasBaseline ?x ; kgf:pValue ?p ; kgf:seed ?s . "
        "?x kgf:value ?b } }"))
    assert rows and any(abs(float(r[0].value) - data["hits"]["observed"]) < 1e-12 for r in rows)
    del store


def test_evaluate_bad_input_is_one_line_and_changes_nothing(
    trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tag", "--run", str(trained_run), "--k", "3", "--no-progress"]) == 0
    capsys.readouterr()
    before = _digest(trained_run)
    for argv, needle in ((["--n", "11"], "--n 11"), (["--method", "best:3"], "--method 'best'"),
                         (["--layer", "fc1"], "--layer 'fc1'"), (["--generic-threshold", "0"], "threshold"),
                         (["--draws", "0"], "argument --draws: 0")):
        code = main(["evaluate", "--run", str(trained_run), "--no-progress", *argv])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert _digest(trained_run) == before
