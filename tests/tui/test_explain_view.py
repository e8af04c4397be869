"""The explain view: the explanation in words, the vote table with named columns, generic filters
marked and hidden with h, and the run's evaluation figures beside their baselines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from textual.widgets import DataTable, Input

from kgfilters.explain import explain_image
from kgfilters.explain_text import contrast, explanation_sentences, filter_name, generic_marks, percent
from kgfilters.run import load_run
from kgfilters.tui import KgfApp
from kgfilters.tui.explain_pane import VOTE_COLUMNS, ExplainPane, vote_rows
from tests.tui.test_app_pilot import SIZE, settle, text_of


class Relabelled:
    """A held-out split whose image ``index`` carries label ``label`` (to explain a misclassified
    image with a model that gets every tiny image right)."""

    def __init__(self, base, index: int, label: int) -> None:  # type: ignore[no-untyped-def]
        self.base, self.index, self.label = base, index, label

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        img, y = self.base[i]
        return img, (self.label if i == self.index else y)


def _assert_sentences(shown: str, e, names: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    c = contrast(e)
    flat = " ".join(shown.split())
    for s in explanation_sentences(e, names):
        assert " ".join(s.split()) in flat
    assert f"Predicted {names[e.predicted]} ({percent(e.confidence)})" in flat
    runner = percent(e.probabilities[c.runner_up])
    assert f"({runner})" in flat or f"runner-up, {runner}" in flat
    assert c.separating, "the tiny run's explanations have separating filters"
    for f, k in c.separating[:3]:
        assert f"{filter_name(f)} ({names[k]})" in flat


async def goto(app: KgfApp, pilot, index: int) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("g")
    app.screen.query_one(Input).value = str(index)
    await pilot.press("enter")
    await settle(app, pilot)


async def test_sentences_for_a_correct_and_a_misclassified_image(tagged_run: Path) -> None:
    run = load_run(tagged_run)
    names = run.class_names
    # the first image whose predicted class and runner-up are separated by some filter
    index = next(i for i in range(60) if contrast(explain_image(run, index=i)).separating)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await goto(app, pilot, index)
        e = app.query_one(ExplainPane).explanation
        assert e == explain_image(run, index=index) and e.correct
        shown = text_of(app, "#explain-summary")
        _assert_sentences(shown, e, names)
        assert f"Predicted {names[e.predicted]} ({percent(e.confidence)}), which is the true class; runner-up " \
               f"{names[contrast(e).runner_up]}" in shown

        # the same image relabelled with its runner-up: now the model's answer is wrong
        runner = contrast(e).runner_up
        splits = app.view.run.splits
        app.view.run.__dict__["splits"] = dataclasses.replace(
            splits, heldout=Relabelled(splits.heldout, index, runner))
        await goto(app, pilot, index)
        e = app.query_one(ExplainPane).explanation
        assert e is not None and e.index == index and e.true_class == runner and e.correct is False
        shown = text_of(app, "#explain-summary")
        _assert_sentences(shown, e, names)
        assert (f"Predicted {names[e.predicted]} ({percent(e.confidence)}), true class {names[runner]} "
                f"(runner-up, {percent(e.probabilities[runner])}).") in " ".join(shown.split())
        assert "MISCLASSIFIED" in shown


async def test_vote_table_headers_and_hiding_generic_filters(tagged_run: Path) -> None:
    run = load_run(tagged_run)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        e = app.query_one(ExplainPane).explanation
        votes = app.query_one("#explain-votes", DataTable)
        assert [str(c.label) for c in votes.columns.values()] == list(VOTE_COLUMNS)
        assert [votes.get_row_at(i) for i in range(votes.row_count)] == [list(r) for r in vote_rows(e, run.class_names)]
        assert votes.get_row_at(0)[2] == str(e.ranking[0].count)
        table = app.query_one("#explain-filters", DataTable)
        generic = generic_marks(e)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert len(rows) == len(e.top_filters)
        assert {(r[0], int(r[1])) for r in rows if r[3] == "generic"} == generic
        await pilot.press("h")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert len(rows) == len(e.top_filters) - len(generic)
        assert not any(r[3] == "generic" for r in rows)
        await pilot.press("h")
        assert table.row_count == len(e.top_filters)


async def test_baseline_line_from_evaluation_json(tagged_run: Path) -> None:
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        assert "run `kgfilters evaluate --run" in text_of(app, "#explain-baseline")
    (tagged_run / "evaluation.json").write_text(json.dumps({"hits": {
        "layer": "conv2", "n": 3, "observed": 0.7465, "ci95": [0.728, 0.766], "tie_rule": "activation sum",
        "tie_policies": {"activation": 0.7465, "random": 0.68, "pessimistic": 0.48},
        "random_tags": {"mean": 0.29, "p95": 0.38, "draws": 200}}}), encoding="utf-8")
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        assert text_of(app, "#explain-baseline") == (
            "Over all held-out images: Hits@3 (conv2) 0.747 [0.728, 0.766] (random tags 0.290; 95th 0.380; "
            "tie rule: activation sum; random tie-break 0.680; pessimistic 0.480)")


async def test_open_an_image_file_of_another_size(tagged_run: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    run = load_run(tagged_run)
    img, _ = run.splits.heldout[4]
    big = tmp_path / "big.png"
    Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8).repeat(3, 0).repeat(3, 1)).save(big)
    app = KgfApp(tagged_run, catalog=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("o")
        app.screen.query_one(Input).value = str(big)
        await pilot.press("enter")
        await settle(app, pilot)
        e = app.query_one(ExplainPane).explanation
        assert e is not None and e.path == str(big)  # 84x84 explained, not refused
        assert e == explain_image(run, image=str(big))
        assert "red" not in str(app.query_one("#explain-status").content)
