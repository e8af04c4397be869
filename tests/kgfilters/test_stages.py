"""The stage registry, fingerprints and staleness, ``kgfilters status``, ``train --force``, the
weights' sha256 check, the run lock taken first and run.json updates under it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kgfilters.cli import build_parser, main
from kgfilters.errors import ModelError, RunError
from kgfilters.lock import run_lock
from kgfilters.run import RunPaths, load_run, read_json, read_run_json, record_stage
from kgfilters.stages import GRAPHS, STAGES, dependants, get_stage, require_fresh, run_status

REPO = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file of a run, the lock file left out (it holds the last writer's pid)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture()
def demo_copy(pipeline_run: Path) -> Path:
    """A private copy of a run through every stage, as ``make demo`` leaves one (built by
    ``tests/conftest.py``'s ``build_pipeline_run`` on synthetic data, so it exists on any clone)."""
    return pipeline_run


# -- the registry ---------------------------------------------------------------------------------

def test_registry_is_consistent() -> None:
    producers = {out: s.name for s in STAGES.values() for out in s.outputs}
    names = list(STAGES)
    for s in STAGES.values():
        for key in (*s.inputs, *s.outputs):
            assert hasattr(RunPaths, key), f"{s.name}: {key} is not a RunPaths path"
        for key in s.inputs:  # a stage depends on the stage that makes each of its inputs
            assert producers[key] in s.needs, (s.name, key)
        for key in s.optional:  # an optional input is made by a stage it does not need
            assert hasattr(RunPaths, key) and producers[key] not in s.needs, (s.name, key)
            assert names.index(producers[key]) < names.index(s.name)
        for need in s.needs:  # needs come first: the table is in dependency order
            assert names.index(need) < names.index(s.name)
    assert len(set(GRAPHS)) == len(GRAPHS) and GRAPHS[-1] == "provenance"
    assert dependants("train") == ("stats", "tag", "hits", "select", "sensitive", "explain",
                                   "coarsen", "evaluate")
    assert dependants("link") == ("coarsen",)
    assert get_stage("coarsening").name == "coarsen"  # a record name of older runs
    with pytest.raises(Exception, match="expected one of train, stats, tag"):
        get_stage("filtag")


def test_stage_names_are_the_commands_and_the_graph_build_uses_them() -> None:
    from kgfilters.ontology.build import AFTER_STAGE, EMITTERS
    from kgfilters.ontology.iris import STAGES as GRAPH_NAMES

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(STAGES) - set(sub.choices) <= {"evaluate"}  # evaluate: another branch's command
    assert set(AFTER_STAGE) == set(STAGES)
    assert AFTER_STAGE["tag"] == ("tags", "provenance") and AFTER_STAGE["stats"] == ("provenance",)
    assert AFTER_STAGE["sensitive"] == ("areas", "provenance")
    assert set(EMITTERS) <= set(GRAPH_NAMES) == set(GRAPHS)


def test_no_hand_built_paths_of_run_files() -> None:
    """RunPaths owns the run's file names: no other module spells them as path parts."""
    names = ['"metrics.json"', '"concepts.json"', '"coarse.json"', '"evaluation.json"', '"run.json"',
             '"tags.json"', '"hits.json"', '"model.safetensors"']
    found = []
    for part in ("kgfilters", "ontology", "queries", "tui"):
        for f in (REPO / part).rglob("*.py"):
            if f.name == "run.py" and f.parent.name == "kgfilters":
                continue
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if any(f"/ {n}" in line for n in names):
                    found.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


# -- status ---------------------------------------------------------------------------------------

def test_status_of_the_demo_run_and_a_stage_stale_after_its_input_changed(
    demo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = checksums(demo_copy)
    code, out, err = _run(capsys, "status", "--run", str(demo_copy))
    assert code == 0 and err == ""
    assert checksums(demo_copy) == before  # status writes nothing
    states = {s.name: s.state for s in run_status(demo_copy)}
    assert all(states[n] == "done" for n in STAGES), states  # the fixture run is evaluated too
    assert "  tag        done" in out

    # the tags change (k = 3 instead of 5): coarsen read the old tags and is stale now
    code, _, err = _run(capsys, "tag", "--run", str(demo_copy), "--k", "3", "--no-progress")
    assert code == 0, err
    st = run_status(demo_copy)
    assert st["tag"].state == "done" and st["coarsen"].state == "stale"
    assert st["graph"].state == "done"  # the tags graph was refreshed with the tags
    rec = read_run_json(demo_copy)["stages"]["tag"]
    assert rec["fingerprints"]["stats"] == "sha256:" + hashlib.sha256(
        (demo_copy / "stats" / "stats.safetensors").read_bytes()).hexdigest()

    # the statistics change under the tags: tag is stale by its fingerprint
    stats = demo_copy / "stats" / "stats.safetensors"
    data = bytearray(stats.read_bytes())
    data[-1] ^= 0xFF
    stats.write_bytes(bytes(data))
    st = run_status(demo_copy)
    assert st["tag"].state == "stale" and st["tag"].reason == "statistics changed since `kgfilters tag`"
    code, out, _ = _run(capsys, "status", "--run", str(demo_copy), "--json")
    rows = {r["name"]: r for r in json.loads(out)["stages"]}
    assert rows["tag"]["state"] == "stale" and rows["tag"]["command"].startswith("kgfilters tag --run")
    # evaluate read the tags too: stale (the fixture run always has evaluation.json, so the
    # "missing" case of an unevaluated run, accepted while this used /work/demo-run, is gone)
    assert (demo_copy / "evaluation.json").is_file()
    assert rows["evaluate"]["state"] == "stale"
    assert rows["evaluate"]["reason"]


def test_bit_flipped_weights_are_a_one_line_error(
    demo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = demo_copy / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"differs from run\.json's"):
        _ = load_run(demo_copy).model
    assert run_status(demo_copy)["train"].state == "stale"
    assert run_status(demo_copy)["stats"].state == "stale"  # through its need
    before = checksums(demo_copy)
    code, _, err = _run(capsys, "explain", "--run", str(demo_copy), "--index", "0", "--save")
    assert code == 2 and err.count("\n") == 1 and "--force" in err
    assert checksums(demo_copy) == before


@pytest.mark.parametrize("text", ["[]", "{}", '{"dataset": {}, "model": 3}', "nul"])
def test_run_json_of_the_wrong_shape_is_one_line(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run.json").write_text(text)
    for argv in (("status",), ("tag", "--k", "3")):
        code, out, err = _run(capsys, *argv, "--run", str(tmp_path))
        assert code == 2 and out == "" and err.count("\n") == 1 and "run.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_read_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"tags.json: no tags yet; run `kgfilters tag --run R` first"):
        read_json(tmp_path / "tags.json", what="tags", stage="tag", run="R")
    (tmp_path / "x.json").write_text("[1]")
    with pytest.raises(RunError, match=r"x\.json: expected a JSON object, found a JSON array"):
        read_json(tmp_path / "x.json", expect=dict)


# -- train --force and stale inputs ----------------------------------------------------------------

def test_train_refuses_a_trained_run_and_force_makes_tag_refuse_stale_statistics(
    trained_run: Path, idx_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "tag", "--run", str(trained_run), "--k", "3", "--no-progress")
    assert code == 0, err
    before = checksums(trained_run)
    code, out, err = _run(capsys, "train", "--run", str(trained_run), "--epochs", "1", "--no-progress")
    assert code == 2 and "already trained" in err and "--force" in err and err.count("\n") == 1
    for bad in ("0", "-1"):
        code, _, err = _run(capsys, "train", "--run", str(trained_run), "--force", "--epochs", bad)
        assert code == 2 and f"argument --epochs: {bad}: expected an integer >= 1" in err
    assert checksums(trained_run) == before

    old = read_run_json(trained_run)
    code, out, err = _run(capsys, "train", "--run", str(trained_run), "--force", "--epochs", "1",
                          "--batch-size", "64", "--no-progress", "--device", "cpu")
    assert code == 0, err
    assert "stale now (files kept): stats" in out
    new = read_run_json(trained_run)
    assert new["model"]["sha256"] != old["model"]["sha256"]
    assert new["dataset"]["root"] == old["dataset"]["root"]  # options default to the run's own
    assert new["stages"]["tag"] == old["stages"]["tag"]  # records kept; tag is stale through stats
    assert (trained_run / "tags.json").read_bytes() and (trained_run / "stats").is_dir()
    st = run_status(trained_run)
    assert st["stats"].state == "stale" and st["tag"].state == "stale"
    assert st["hits"].state == "missing"

    tags_before = (trained_run / "tags.json").read_bytes()
    code, _, err = _run(capsys, "tag", "--run", str(trained_run), "--k", "2", "--no-progress")
    assert code == 2 and err.count("\n") == 1
    assert ("statistics are stale (model changed since `kgfilters stats` (retrained)); "
            f"run `kgfilters stats --run {trained_run}`") in err
    assert (trained_run / "tags.json").read_bytes() == tags_before
    with pytest.raises(RunError, match="statistics are stale"):
        require_fresh(trained_run, "hits")

    code, _, err = _run(capsys, "tag", "--run", str(trained_run), "--k", "2", "--recompute",
                        "--no-progress")
    assert code == 0, err
    st = run_status(trained_run)
    assert st["stats"].state == "done" and st["tag"].state == "done"
    assert read_run_json(trained_run)["stages"]["stats"]["fingerprints"]["model"] == (
        "sha256:" + new["model"]["sha256"])


# -- the run lock ---------------------------------------------------------------------------------

_UPDATER = textwrap.dedent("""
    import sys
    from kgfilters.run import update_run_json
    root, tag = sys.argv[1], sys.argv[2]
    for i in range(30):
        update_run_json(root, lambda d: d.setdefault("probe", []).append(f"{tag}{i}"))
""")


def test_run_json_updates_of_two_processes_are_all_kept(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"dataset": {}, "model": {}, "stages": {}}))
    procs = [subprocess.Popen([sys.executable, "-c", _UPDATER, str(tmp_path), tag],
                              stderr=subprocess.PIPE) for tag in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    data = read_run_json(tmp_path)
    assert sorted(data["probe"]) == sorted(f"{t}{i}" for t in "ab" for i in range(30))
    assert data["generation"] == 60


def test_record_stage_keeps_fingerprints_and_rejects_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"dataset": {}, "model": {"sha256": "ab"}}))
    record_stage(tmp_path, "stats", {"images": 3})
    rec = read_run_json(tmp_path)["stages"]["stats"]
    assert rec["images"] == 3 and rec["fingerprints"] == {"model": "sha256:ab"} and rec["finished"]
    with pytest.raises(Exception, match="stage 'filtag'"):
        record_stage(tmp_path, "filtag", {})


_HOLDER = textwrap.dedent("""
    import sys, time
    from kgfilters.lock import run_lock
    with run_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_writer_waits_then_gives_up_before_writing(
    trained_run: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _run(capsys, "tag", "--run", str(trained_run), "--k", "3", "--no-progress")
    assert code == 0, err
    before = checksums(trained_run)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(trained_run)],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        monkeypatch.setenv("KGFILTERS_LOCK_TIMEOUT", "0.3")
        code, out, err = _run(capsys, "tag", "--run", str(trained_run), "--k", "2", "--no-progress")
        assert code == 2 and out == ""
        assert f"being written by another kgfilters command (pid {holder.pid}); waiting" in err
        assert err.strip().endswith(f"(pid {holder.pid}); gave up after 0.3s "
                                    "(KGFILTERS_LOCK_TIMEOUT sets the wait)")
        assert checksums(trained_run) == before
    finally:
        holder.kill()
        holder.wait()
    with run_lock(trained_run, timeout=0):  # free again once the holder is gone
        with run_lock(trained_run, timeout=0):  # and re-entrant
            pass


_STORE_HOLDER = textwrap.dedent("""
    import sys, time
    import pyoxigraph
    store = pyoxigraph.Store(sys.argv[1])
    print("held", flush=True)
    time.sleep(60)
""")


def test_tag_does_not_rewrite_tags_while_another_process_holds_the_store(
    demo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyoxigraph

    def quads() -> set[str]:
        store = pyoxigraph.Store.read_only(str(demo_copy / "graph"))
        try:
            return {str(q) for q in store}
        finally:
            del store

    dataset = quads()
    holder = subprocess.Popen([sys.executable, "-c", _STORE_HOLDER, str(demo_copy / "graph")],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        # the holder's RocksDB may compact and rotate the store's files meanwhile: the files
        # outside the store are compared byte for byte, the store by its quads afterwards
        before = {k: v for k, v in checksums(demo_copy).items() if not k.startswith("graph/")}
        code, out, err = _run(capsys, "tag", "--run", str(demo_copy), "--k", "3", "--no-progress")
        assert code == 2 and out == "" and err.count("\n") == 1
        assert "graph store is locked by another process; nothing was written" in err
        after = {k: v for k, v in checksums(demo_copy).items() if not k.startswith("graph/")}
        assert after == before
    finally:
        holder.kill()
        holder.wait()
    assert quads() == dataset


def test_tui_and_serve_notice_a_newer_run(demo_copy: Path) -> None:
    from kgfilters.stages import changed_since, generation

    seen = generation(demo_copy)
    assert changed_since(demo_copy, seen) is None
    record_stage(demo_copy, "select", {"layer": "conv2", "targets": [1]})
    line = changed_since(demo_copy, seen)
    assert line is not None and "`kgfilters select` finished" in line
    assert f"generation {seen} -> {seen + 1}" in line
    with run_lock(demo_copy):  # this process is the writer: not "another" one
        assert changed_since(demo_copy, seen) == line
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(demo_copy)],
                              stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert changed_since(demo_copy, seen) is None  # a writer is still at work
    finally:
        holder.kill()
        holder.wait()


def test_serve_says_when_the_run_changed(demo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time
    from types import SimpleNamespace

    from kgfilters.cli.serve import wait_watching

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    closed: list[bool] = []
    server = SimpleNamespace(process=proc, close=lambda: closed.append(True))
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(wait_watching(server, demo_copy,
                                                                         every=0.05)))
    waiter.start()
    out = ""
    try:
        time.sleep(0.2)
        assert "note:" not in capsys.readouterr().out  # nothing changed yet
        record_stage(demo_copy, "select", {"layer": "conv2", "targets": [1]})
        deadline = time.monotonic() + 20
        while "note:" not in out and time.monotonic() < deadline:
            time.sleep(0.05)
            out += capsys.readouterr().out
        assert "changed since it was opened (`kgfilters select` finished" in out
        assert "restart `kgfilters serve`" in out
    finally:
        proc.kill()
        waiter.join(timeout=20)
    assert closed == [True] and result and result[0] != 0


def test_a_graph_written_by_an_older_kgfilters_is_stale_until_rebuilt(
    demo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(demo_copy)["graph"].state == "done"
    path = demo_copy / "run.json"
    data = json.loads(path.read_text())
    assert set(data["graph"]["formats"]) == set(data["graph"]["emitted"])  # one per graph written
    data["graph"]["formats"].pop("tags")  # as a kgfilters before the query aids wrote it
    path.write_text(json.dumps(data))
    st = run_status(demo_copy)["graph"]
    assert st.state == "stale" and st.reason.startswith("the tags graph was written by an older kgfilters")
    code, _, err = _run(capsys, "graph", "--run", str(demo_copy), "--stage", "tags")
    assert code == 0, err
    assert run_status(demo_copy)["graph"].state == "done"
