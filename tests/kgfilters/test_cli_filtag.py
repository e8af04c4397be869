"""End-to-end FILTAG commands on a quickly trained run, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters import load_run
from kgfilters.cli import build_parser, main
from kgfilters.ontology.namespace import KGF


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "example" in text, f"`kgfilters {name} --help` has no example"


def test_train_reaches_high_accuracy_on_synthetic_data(trained_run_template: Path) -> None:
    run = load_run(trained_run_template)
    assert run.config["model"]["test_accuracy"] > 0.9  # the class squares are easy to learn
    assert not run.model.training
    assert run.config["stages"]["train"]["epochs"] == 2


def test_tag_hits_explain_end_to_end(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "tag", "--run", str(trained_run), "--k", "3", "--no-progress")
    assert code == 0 and "60 tags (k-best, k=3)" in out
    run = load_run(trained_run)
    assert run.stats.num_images == 240 and set(run.stats.layers) == {"conv1", "conv2"}
    assert len(run.tags.tags) == 2 * 10 * 3

    code, out, _ = _run(capsys, "hits", "--run", str(trained_run), "--k", "1,3", "--q", "0.25",
                        "--n", "1,2", "--no-progress")
    assert code == 0
    study = json.loads((trained_run / "hits.json").read_text())
    assert len(study["grid"]) == 3 * 2
    assert (trained_run / "figures" / "hits.png").stat().st_size > 1000
    assert (trained_run / "hits.csv").read_text().startswith("method,param,n,")

    code, out, _ = _run(capsys, "explain", "--run", str(trained_run), "--index", "3", "--json")
    e = json.loads(out)
    assert code == 0 and set(e["hits_predicted"]) == {"1", "2", "3", "5"}
    assert load_run(trained_run).hits.grid[0].method == "k-best"
    assert 0 <= e["confidence"] <= 1 and e["true_class"] is not None
    assert len(e["top_filters"]) == 7 + 13  # ceil(0.2 x 32) + ceil(0.2 x 64)
    ranks = [v["count"] for v in e["ranking"]]
    assert ranks == sorted(ranks, reverse=True)


def test_explain_an_image_file_of_any_size(trained_run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    assert _run(capsys, "tag", "--run", str(trained_run), "--no-progress")[0] == 0
    good = tmp_path / "good.png"
    img = np.zeros((28, 28), dtype=np.uint8)
    img[2:10, 1:9] = 220  # class 0's square
    Image.fromarray(img).save(good)
    code, out, _ = _run(capsys, "explain", "--run", str(trained_run), "--image", str(good))
    assert code == 0 and "predicted" in out
    # another size is resized as the model's preparation resizes: a 2x nearest upscale comes back
    # to the same 28x28 input under bilinear downsampling, so the explanation is the same
    big = tmp_path / "big.png"
    Image.fromarray(img.repeat(2, 0).repeat(2, 1)).save(big)
    code, out, _ = _run(capsys, "explain", "--run", str(trained_run), "--image", str(big), "--json")
    assert code == 0
    e_big = json.loads(out)
    code, out, _ = _run(capsys, "explain", "--run", str(trained_run), "--image", str(good), "--json")
    e_good = json.loads(out)
    assert e_big["predicted"] == e_good["predicted"]
    assert np.allclose(e_big["probabilities"], e_good["probabilities"], atol=1e-5)
    assert e_big["ranking"] == e_good["ranking"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--layers", "conv9"], "unknown layer 'conv9'; conv layers are: conv1, conv2"),
        (["stats", "--layers", "fc1"], "layer 'fc1' is a Linear, not convolutional"),
        (["tag", "--k", "40"], "k=40: expected 1 <= k <= 32"),
        (["tag", "--method", "q-quantile", "--q", "2"], "argument --q: 2: expected a number in (0, 1]"),
        (["explain", "--index", "999"], "--index 999: expected 0 <= index < 60"),
    ],
)
def test_bad_input_is_one_line(trained_run: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    if argv[0] == "explain":
        assert _run(capsys, "tag", "--run", str(trained_run), "--no-progress")[0] == 0
    code, _, err = _run(capsys, *argv, "--run", str(trained_run), "--no-progress")
    assert code == 2 and err.count("\n") == 1 and message in err


def test_train_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "train", "--run", str(tmp_path / "r"), "--data-root", str(tmp_path / "none"))
    assert code == 2 and "no such data directory" in err and err.count("\n") == 1
    assert not (tmp_path / "r" / "run.json").exists()
    code, _, err = _run(capsys, "train", "--run", str(tmp_path / "r"), "--model", "alexnot")
    assert code == 2 and "unknown model 'alexnot'" in err
    code, _, err = _run(capsys, "tag", "--run", str(tmp_path / "empty"))
    assert code == 2 and "no run here yet" in err


def test_torchrun_two_processes_equal_one(trained_run: Path, tmp_path: Path) -> None:
    """Two gloo ranks, each a shard, one all-reduce: the same statistics as one process."""
    from kgfilters.pipeline import stats_run

    single = stats_run(trained_run, device=torch.device("cpu"), progress=False)
    (trained_run / "stats" / "stats.safetensors").unlink()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "kgfilters.cli", "stats", "--run-dir", str(trained_run), "--device", "cpu", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = load_run(trained_run)
    assert run.config["stages"]["stats"]["world_size"] == 2
    for name, ls in single.layers.items():
        got = run.stats.layers[name]
        assert torch.equal(got.counts, ls.counts)
        assert torch.allclose(got.sums, ls.sums, rtol=0, atol=1e-12)


def test_demo_on_a_trained_run(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "demo", "--run", str(trained_run), "--no-progress")
    assert code == 0 and "exists; `kgfilters train --force` retrains" in out
    for name in ("tags.json", "hits.json", "hits.csv", "figures/hits.png", "stats/stats.safetensors"):
        assert (trained_run / name).is_file(), name
    saved = load_run(trained_run).explanations
    assert len(saved) >= 1 and all("ranking" in e for e in saved.values())
    stages = json.loads((trained_run / "run.json").read_text())["stages"]
    assert {"train", "stats", "tag", "hits", "explain", "select", "sensitive", "link",
            "coarsen"} <= set(stages)
    from kgfilters.stages import run_status

    states = {s.name: s.state for s in run_status(trained_run)}
    assert {n for n, st in states.items() if st != "done"} <= {"evaluate"}, states
    # the later stages: concepts and coarse concepts, then the graph, exported and validated
    assert (trained_run / "concepts.json").is_file() and (trained_run / "coarse.json").is_file()
    assert out.count("conforms to the shapes") == 2, out
    # the evaluation: headline figures beside their baselines, evaluation.json/.md written
    assert "Hits@3 " in out and "random tags" in out and "tie rule: activation sum" in out
    assert "[contrastive k=5] Hits@3" in out and "coverage:" in out and "class-shuffle baseline" in out
    assert (trained_run / "evaluation.json").is_file() and (trained_run / "evaluation.md").is_file()
    ttl = (trained_run / "exports" / "graph.ttl").read_text()
    assert "CoarseConcept" in ttl and "wordnet-rdf.princeton.edu/wn30/" in ttl


def test_the_graph_fills_as_stages_finish(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "tag", "--run", str(trained_run), "--k", "2", "--no-progress")[0] == 0
    store = load_run(trained_run).store
    n_tags = next(iter(store.query(
        f"SELECT (COUNT(?t) AS ?n) WHERE {{ GRAPH ?g {{ ?t a <{KGF.Tag}> }} }}")))[0]
    assert int(n_tags.value) == 2 * 10 * 2
    del store
    code, out, _ = _run(capsys, "explain", "--run", str(trained_run), "--index", "1", "--save", "--json")
    assert code == 0 and json.loads(out)["index"] == 1  # stdout stays pure JSON
    store = load_run(trained_run).store
    ask = store.query(f"ASK {{ GRAPH ?g {{ ?e a <{KGF.Explanation}> }} }}")
    assert bool(ask)


def test_an_untrained_run_has_no_model(tmp_path: Path, idx_root: Path) -> None:
    from kgfilters.errors import RunError
    from kgfilters.pipeline import create_run

    create_run(tmp_path / "r", data_root=idx_root)
    with pytest.raises(RunError, match=r"weights missing; run `kgfilters train --run .*` first"):
        _ = load_run(tmp_path / "r").model


def test_graph_and_query_commands_start_without_torch() -> None:
    """--help and the graph-side modules do not import torch (2-3 s): only computing does."""
    import subprocess
    import sys

    code = ("import sys\nfrom kgfilters.cli import build_parser\nbuild_parser()\n"
            "import kgfilters, kgfilters.queries.catalog, kgfilters.ontology.build, kgfilters.ontology.store\n"
            "kgfilters.KgfError\nprint(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
            "import kgfilters.run as r\nprint(kgfilters.load_run is r.load_run and kgfilters.Run is r.Run)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "True"]  # the package's API is still there, imported on first use
