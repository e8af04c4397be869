"""The ``explain`` stage's optional input: the trained generators that make a saved explanation's
sensitive areas. Retraining, adding or removing them makes the saved explanations stale (``kgfilters
status`` says why and names ``explain --resave``); a run without them explains and is done; a stale
``sensitive`` stage is refused like any stale input; ``--resave`` re-makes every saved explanation
(the areas then equal the new generators' output) and bad input leaves the run byte-identical.

On private copies of the suite's runs (``tests/conftest.py``): ``pipeline_run`` (every stage, with
saved explanations that carry areas) and ``trained_run`` (trained only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from kgfilters.cli import main
from kgfilters.run import RunPaths, read_run_json, update_run_json
from kgfilters.stages import STAGES, fingerprint, run_status
from tests.run_checks import assert_run_unchanged

#: ``sensitive`` at its smallest (a few seconds): a generator trained for 2 steps on 16 images.
QUICK = ("--steps", "2", "--train-images", "16", "--images", "2", "--baseline", "none", "--no-progress",
         "--device", "cpu")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _status_line(capsys: pytest.CaptureFixture[str], run: Path, stage: str) -> str:
    code, out, _ = _run(capsys, "status", "--run", str(run))
    assert code == 0
    return next(line for line in out.splitlines() if line.strip().startswith(stage + " "))


def _covered(run: Path) -> list[str]:
    """``--filter LAYER:INDEX`` values of every filter the run's reservation generator covers."""
    meta = json.loads((RunPaths(run).generators / "conv2_reservation.json").read_text())
    return [f"{meta['layer']}:{f}" for f in meta["filters"]]


def _areas(path: Path) -> dict[tuple[str, int, str], float]:
    saved = json.loads(path.read_text())
    return {(a["layer"], a["filter"], a["strategy"]): a["area"] for a in saved["sensitive_areas"]}


def test_retrained_generators_make_saved_explanations_stale_until_resaved(
    pipeline_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, paths = pipeline_run, RunPaths(pipeline_run)
    rec = read_run_json(run)["stages"]["explain"]
    assert rec["fingerprints"]["generators"] == fingerprint(paths, "generators", read_run_json(run))
    assert run_status(run)["explain"].state == "done"
    saved = sorted(paths.explanations.glob("*.json"))
    assert len(saved) >= 2 and any(_areas(f) for f in saved)  # the fixture's carry areas
    before = {f.name: _areas(f) for f in saved}

    # retrain the generators (another seed, the same filters): the saved areas are stale now
    filters = [a for f in _covered(run) for a in ("--filter", f)]
    code, _, err = _run(capsys, "sensitive", "--run", str(run), *filters, "--seed", "1", *QUICK)
    assert code == 0, err
    st = run_status(run)
    assert st["sensitive"].state == "done"
    assert st["explain"].state == "stale"
    assert st["explain"].reason == "trained generators changed since `kgfilters explain`"
    assert st["explain"].command == f"kgfilters explain --run {run} --resave"
    line = _status_line(capsys, run, "explain")
    assert "stale" in line and "(trained generators changed since `kgfilters explain`)" in line
    assert line.endswith(f"-> kgfilters explain --run {run} --resave")
    assert st["graph"].state == "done"  # the graph holds the files as they are (the areas graph refreshed)

    # saving one explanation again does not make the others fresh
    first = saved[0]
    index = json.loads(first.read_text())["index"]
    code, _, err = _run(capsys, "explain", "--run", str(run), "--index", str(index), "--save",
                        "--device", "cpu")
    assert code == 0, err
    st = run_status(run)["explain"]
    others = len(saved) - 1
    assert st.state == "stale" and st.reason == (
        f"{others} other saved explanation{'s were' if others > 1 else ' was'} made before it "
        "(trained generators changed since `kgfilters explain`)")

    # --resave re-makes every one: fresh, the areas those of the new generators, the graph follows
    code, out, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code == 0, err
    assert f"{len(saved)} explanations re-saved; graph updated" in out
    st = run_status(run)
    assert st["explain"].state == "done" and st["graph"].state == "done"
    config = read_run_json(run)
    assert config["stages"]["explain"]["fingerprints"]["generators"] == fingerprint(
        paths, "generators", config)
    assert config["graph"]["emitted"]["explanations"] == fingerprint(paths, "explanations", config)
    from kgfilters.pipeline import explain_run

    changed = 0
    for f in saved:
        data = json.loads(f.read_text())
        e = explain_run(run, device=torch.device("cpu"), index=data["index"], areas=True)
        want = {(a.layer, a.filter, a.strategy): a.area for a in e.areas.masks}
        assert _areas(f) == pytest.approx(want, abs=1e-6)
        changed += _areas(f) != pytest.approx(before[f.name], abs=1e-6)
    assert changed  # the new generators' areas differ from the old ones somewhere


def test_a_run_without_generators_explains_and_their_appearance_and_removal_make_it_stale(
    trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, paths = trained_run, RunPaths(trained_run)
    code, _, err = _run(capsys, "tag", "--run", str(run), "--no-progress", "--device", "cpu")
    assert code == 0, err
    code, _, err = _run(capsys, "explain", "--run", str(run), "--index", "0", "--save", "--device", "cpu")
    assert code == 0, err
    saved = json.loads((paths.explanations / "heldout-0.json").read_text())
    assert saved["sensitive_areas"] == []  # no generator: no area, none guessed
    assert read_run_json(run)["stages"]["explain"]["fingerprints"]["generators"] is None
    st = run_status(run)
    assert st["explain"].state == "done" and st["explain"].note == "without trained generators"
    assert st["sensitive"].state == "missing"
    assert "done" in (line := _status_line(capsys, run, "explain")) and "(without trained generators)" in line

    code, _, err = _run(capsys, "sensitive", "--run", str(run), "--filter", "conv2:0", "--filter",
                        "conv2:1", *QUICK)
    assert code == 0, err
    st = run_status(run)["explain"]
    assert st.state == "stale" and st.reason == (
        "trained generators appeared since `kgfilters explain` (`kgfilters sensitive`)")
    code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code == 0, err
    assert run_status(run)["explain"].state == "done"
    assert {k[:2] for k in _areas(paths.explanations / "heldout-0.json")} <= {("conv2", 0), ("conv2", 1)}

    shutil.rmtree(paths.generators)
    st = run_status(run)
    assert st["explain"].state == "stale"
    assert st["explain"].reason == "trained generators were removed since `kgfilters explain`"
    assert st["sensitive"].state == "missing"  # its generators are part of its outputs
    code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code == 0, err  # an absent optional input never makes the stage unrunnable
    assert run_status(run)["explain"].state == "done"
    assert _areas(paths.explanations / "heldout-0.json") == {}


def test_stale_sensitive_areas_are_refused_like_any_stale_input(
    pipeline_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = pipeline_run

    def old_model(data: dict) -> None:
        data["stages"]["sensitive"]["fingerprints"]["model"] = "sha256:" + "0" * 64

    update_run_json(run, old_model)  # as if the model had changed since `kgfilters sensitive`
    st = run_status(run)
    assert st["sensitive"].state == "stale" and st["explain"].state == "stale"
    assert st["explain"].reason == "sensitive areas are stale"
    want = ("sensitive areas are stale (model changed since `kgfilters sensitive`); "
            f"run `kgfilters sensitive --run {run}`")
    for argv in (("--index", "0", "--save"), ("--resave",), ("--index", "0", "--areas")):
        with assert_run_unchanged(run):
            code, _, err = _run(capsys, "explain", "--run", str(run), *argv, "--device", "cpu")
        assert code != 0 and want in err and len(err.strip().splitlines()) == 1, err
    # an explanation that reads no generator (printed, no areas) is not refused
    with assert_run_unchanged(run):
        code, out, err = _run(capsys, "explain", "--run", str(run), "--index", "0", "--device", "cpu")
    assert code == 0 and "held-out image 0" in out, err
    # without generators the stale stage no longer matters: explain runs
    shutil.rmtree(RunPaths(run).generators)
    code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code == 0, err


def test_a_record_from_before_generators_counted_is_stale_when_the_run_has_them(pipeline_run: Path) -> None:
    def drop(data: dict) -> None:
        del data["stages"]["explain"]["fingerprints"]["generators"]

    update_run_json(pipeline_run, drop)
    st = run_status(pipeline_run)["explain"]
    assert st.state == "stale" and st.reason == (
        "trained generators are not in the record of `kgfilters explain` (made by an older kgfilters)")


@pytest.mark.parametrize("case", ["none saved", "image gone", "not an explanation", "split"])
def test_bad_resave_is_one_line_and_leaves_the_run_unchanged(
    pipeline_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    run, paths = pipeline_run, RunPaths(pipeline_run)
    if case == "none saved":
        shutil.rmtree(paths.explanations)
        message = f"{paths.explanations}: no saved explanations to re-save; save one with `kgfilters explain"
    elif case == "image gone":
        (paths.explanations / "file-shoe-0badc0de.json").write_text(
            json.dumps({"split": None, "index": None, "path": str(tmp_path / "shoe.png")}))
        message = f"its image file {tmp_path / 'shoe.png'} is gone; restore it or delete file-shoe-0badc0de.json"
    elif case == "not an explanation":
        (paths.explanations / "zz.json").write_text("[1, 2]")
        message = "zz.json: expected a JSON object, found a JSON array"
    else:
        (paths.explanations / "zz.json").write_text(json.dumps({"split": "train", "index": 3, "path": None}))
        message = "zz.json: not a saved explanation (expected 'path': an image file, or 'split': 'heldout'"
    with assert_run_unchanged(run):
        code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--index", "0")
    assert code == 2 and "not allowed with argument" in err


def test_the_registry_says_how_to_make_explanations_and_retrain() -> None:
    assert STAGES["explain"].optional == ("generators",)
    assert "generators" in STAGES["sensitive"].outputs and "sensitive" not in STAGES["explain"].needs
    assert STAGES["explain"].command("R") == "kgfilters explain --run R --index 0 --save"
    assert STAGES["explain"].command("R", stale=True) == "kgfilters explain --run R --resave"
    assert STAGES["train"].command("R", stale=True) == "kgfilters train --run R --force"
    assert STAGES["tag"].command("R", stale=True) == "kgfilters tag --run R"


def test_saving_one_explanation_beside_unrecorded_ones_keeps_the_stage_stale(
    pipeline_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Explanations saved by an older kgfilters (no record: ``done (files present, no record in
    run.json)``) may lack their areas: saving one more does not vouch for them."""
    run = pipeline_run

    def forget(data: dict) -> None:
        del data["stages"]["explain"]

    update_run_json(run, forget)
    st = run_status(run)["explain"]
    assert st.state == "done" and st.reason == "files present, no record in run.json"
    others = len(list(RunPaths(run).explanations.glob("*.json"))) - 1
    code, _, err = _run(capsys, "explain", "--run", str(run), "--index", "0", "--save", "--device", "cpu")
    assert code == 0, err
    st = run_status(run)["explain"]
    assert st.state == "stale" and st.reason == (
        f"{others} other saved explanation{'s were' if others > 1 else ' was'} made before it "
        "(no record of what they were made from)")
    code, _, err = _run(capsys, "explain", "--run", str(run), "--resave", "--device", "cpu")
    assert code == 0, err
    assert run_status(run)["explain"].state == "done"
