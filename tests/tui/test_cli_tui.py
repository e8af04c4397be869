"""`kgfilters tui`: arguments, one-line errors, and the TUI's explanation equals `explain --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgfilters.cli import main
from kgfilters.explain import explanation_to_json
from kgfilters.tui import KgfApp
from kgfilters.tui.explain_pane import ExplainPane
from tests.tui.conftest import loaded


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tui", "--help"])
    assert exc.value.code == 0 and "example: kgfilters tui runs/fashion-mnist" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["RUNDIR"], ["--run", "RUNDIR"], ["RUNDIR", "--run", "RUNDIR"]])
def test_run_dir_positional_or_option(argv: list[str], tagged_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    monkeypatch.setattr(KgfApp, "run", lambda self: opened.append(self.view.root))
    assert main(["tui", *(str(tagged_run) if a == "RUNDIR" else a for a in argv)]) == 0
    assert opened == [tagged_run]


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tui", str(tmp_path / "a"), "--run", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give the run directory once" in err
    assert main(["tui", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run here yet" in err


async def test_tui_explanation_equals_explain_json(tagged_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--run", str(tagged_run), "--index", "4", "--json", "--device", "cpu"]) == 0
    cli = json.loads(capsys.readouterr().out)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        pane = app.query_one(ExplainPane)
        pane.start(index=4)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.explanation is not None
        assert json.loads(json.dumps(explanation_to_json(pane.explanation))) == cli
