"""The graph commands: help, happy paths, and one-line errors (exit status 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kgfilters.cli import main
from kgfilters.ontology.build import demo_stage, emit_stage

from .conftest import write_run

COMMANDS = ["graph", "export", "validate", "serve", "push"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "example" in capsys.readouterr().out


def test_graph_then_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_run(tmp_path / "fm")
    assert main(["graph", "--run", str(root)]) == 0
    out = capsys.readouterr().out
    tags = len(emit_stage(root, "tags"))  # 480 tag triples and the query aids derived from them
    assert tags > 480 and f"tags: {tags} triples" in out and f"{root}/graph" in out
    assert main(["export", "--run", str(root), "-f", "trig", "-o", str(tmp_path / "g.trig")]) == 0
    assert (tmp_path / "g.trig").stat().st_size > 0
    assert main(["graph", "--run", str(root), "--stage", "tags", "--base-iri", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("kgfilters graph: error: base IRI 'nope': expected an absolute IRI "
                           "ending in '/' or '#', e.g. https://example.org/runs/fm/")


@pytest.mark.parametrize(("argv", "match"), [
    (["export", "-f", "owl"], "format 'owl': expected one of"),
    (["push", "--endpoint", "localhost:1/store"], "expected an http:// or https:// URL"),
    (["serve", "--port", "1"], "no graph yet"),
])
def test_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                         match: str) -> None:
    root = write_run(tmp_path / "fm")
    if argv[0] != "serve":
        assert main(["graph", "--run", str(root)]) == 0
    capsys.readouterr()
    assert main([*argv, "--run", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_locked_store_is_one_line(built_run: Path, run_copy: Path) -> None:
    code = ("import sys, pyoxigraph as ox; s = ox.Store(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_copy / "graph")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        r = subprocess.run([sys.executable, "-m", "kgfilters.cli", "graph", "--run", str(run_copy)],
                           capture_output=True, text=True, timeout=120)
    finally:
        holder.communicate("", timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "locked by another process" in r.stderr


def test_demo_stage(tmp_path: Path) -> None:
    root = write_run(tmp_path / "fm")
    lines = demo_stage(root, device=torch.device("cpu"), progress=False)
    assert lines[0].startswith("graph: ")
    assert sum("conforms to the shapes" in line for line in lines) == 2
    assert (root / "exports" / "graph.ttl").is_file()
    assert (root / "exports" / "graph.jsonld").is_file()
