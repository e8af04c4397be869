"""The summary view: evaluation.json figures beside their baselines, intervals and p-values; a
reader that shows what the file has and no more; the empty state."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable

from kgfilters.tui import KgfApp
from kgfilters.tui.evaluation import headlines, read_evaluation
from kgfilters.tui.summary_pane import SUMMARY_COLUMNS, summary_rows
from tests.tui.test_app_pilot import SIZE, settle, text_of

#: An evaluation.json in the shape of issue 10 (values made up; the reader only shows them).
EVALUATION = {
    "tags": {"layers": {"conv2": {"tagged_share": 0.23, "generic_filters": [11]}}},
    "hits": {"layer": "conv2", "n": 3, "observed": 0.7465, "ci95": [0.7281, 0.7662], "tie_rule": "activation sum",
             "tie_policies": {"activation": 0.7465, "random": 0.6812, "pessimistic": 0.4801},
             "random_tags": {"mean": 0.2903, "p95": 0.3811, "draws": 200, "p_value": 0.004975},
             "constant_top_n": 0.3012},
    "hits_vs_accuracy": {"per_image": {"effect": 0.12, "ci95": [0.05, 0.19], "p_value": 0.0005},
                         "per_class": {"r": 0.03, "ci95": [-0.61, 0.64], "p_value": 0.95}},
    "conformance": {"enrichment": {"observed": 0.25, "baseline_mean": 0.21, "p_value": 0.31, "permutations": 1000},
                    "coverage": {"observed": 1.0, "baseline_mean": 1.0}},
    "ablation": {"layer": "conv2", "tagged": {"own_drop": 0.182, "other_drop": 0.021},
                 "random": {"own_drop": 0.034, "other_drop": 0.019, "draws": 20}, "p_value": 0.047619},
    "fsagn": {"filters": 8, "images": 64,
              "reservation": {"soft": {"fsagn": 0.887, "random": 0.41, "zeiler": 0.62, "optimised": 0.93}}},
}


def test_headlines_beside_their_baselines() -> None:
    rows = summary_rows(headlines(EVALUATION))
    assert rows[0] == ("hits", "Hits@3 (conv2)", "0.747", "[0.728, 0.766]",
                       "random tags 0.290; 95th 0.381; constant top-n 0.301", "0.005",
                       "tie rule: activation sum; random tie-break 0.681; pessimistic 0.480")
    by_name = {r[1]: r for r in rows}
    assert by_name["hit goes with a correct prediction (per image)"][2:6] == (
        "0.120", "[0.050, 0.190]", "no association 0.000", "<0.001")
    assert by_name["Pearson r over classes"][5] == "0.950"
    assert by_name["enrichment (multi-tag filters)"][2:] == ("0.250", "", "class shuffle 0.210", "0.310",
                                                            "1000 permutations")
    assert by_name["coverage (old rule)"][4:6] == ("class shuffle 1.000", "")
    assert by_name["own-class drop, tagged filters zeroed (conv2)"][2:] == (
        "0.182", "", "random filters 0.034", "0.048", "20 random draws")
    assert by_name["reservation fidelity, soft masks"][2:5] == (
        "0.887", "", "random 0.410; Zeiler 0.620; optimised 0.930")
    assert len(rows) == 8  # occlusion and hard masks are not in the file: not shown


def test_missing_sections_and_wrong_types_are_left_out() -> None:
    assert headlines({}) == ()
    assert headlines({"hits": "broken", "ablation": {"tagged": {"own_drop": "a lot"}}}) == ()
    h = headlines({"hits": {"observed": 0.5, "ci95": [0.4], "random_tags": {"mean": True}}})
    assert len(h) == 1 and h[0].name == "Hits@n" and h[0].ci95 is None and h[0].baseline == ""
    assert headlines({"conformance": {"enrichment": {"observed": float("nan")}}}) == ()


def test_read_evaluation(tmp_path: Path) -> None:
    import pytest

    from kgfilters.errors import RunError

    assert read_evaluation(tmp_path) is None
    (tmp_path / "evaluation.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(RunError, match=r"evaluation.json: expected a JSON object, found list"):
        read_evaluation(tmp_path)
    (tmp_path / "evaluation.json").write_text("{", encoding="utf-8")
    with pytest.raises(RunError, match=r"evaluation.json: not readable as JSON"):
        read_evaluation(tmp_path)


async def test_summary_view_empty_then_filled(tagged_run: Path) -> None:
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        assert text_of(app, "#summary-status").startswith("No evaluation yet: run `kgfilters evaluate --run tagged`")
        assert not app.query_one("#summary-table").display
        (tagged_run / "evaluation.json").write_text(json.dumps(EVALUATION), encoding="utf-8")
        await pilot.press("1", "5")  # shown again: read again
        await settle(app, pilot)
        table = app.query_one("#summary-table", DataTable)
        assert [str(c.label) for c in table.columns.values()] == list(SUMMARY_COLUMNS)
        assert [tuple(table.get_row_at(i)) for i in range(table.row_count)] == summary_rows(headlines(EVALUATION))
