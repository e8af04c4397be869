"""The TUI shows the same figures as the CLI for the same item (issue 6, 'Done when')."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgfilters.cli import main
from kgfilters.ontology.build import build_graph
from kgfilters.tui.runview import RunView


def test_filter_tags_equal_the_catalog_query(tagged_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_graph(tagged_run)  # the real graph stage, not a hand-made store
    view = RunView.open(tagged_run)
    checked = 0
    for layer in ("conv1", "conv2"):
        for row in view.filters(layer):
            if not row.tags:
                continue
            code = main(["query", "tags-of-filter", "--run", str(tagged_run), "--param", f"layer={layer}",
                         "--param", f"filter={row.index}", "--format", "json"])
            out = capsys.readouterr().out
            assert code == 0
            rows = json.loads(out)
            rows = rows["rows"] if isinstance(rows, dict) else rows
            got = sorted((r["class"], round(float(r["score"]), 9), int(r["rank"])) for r in rows)
            shown = sorted((t.label, round(t.score, 9), t.rank) for t in row.tags)
            assert got == shown, (layer, row.index)
            checked += 1
    assert checked == len({(t.layer, t.filter) for t in view.run.tags.tags}) > 0  # every tagged filter
