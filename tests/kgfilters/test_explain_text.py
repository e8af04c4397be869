"""The explanation in words: known answers on hand-built explanations, and the CLI's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgfilters.explain import Explanation, FilterActivation
from kgfilters.explain_text import contrast, explanation_sentences, generic_marks, percent

NAMES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat")


def _e(probs: tuple[float, ...], true: int | None, filters: list[tuple[str, int, float, tuple[int, ...]]]
       ) -> Explanation:
    top = tuple(FilterActivation(*f) for f in filters)
    pred = max(range(len(probs)), key=lambda c: probs[c])
    return Explanation("heldout", 7, None, true, pred, probs[pred], probs, top, (), None, {1: True}, None)


# conv2:5 is tagged by all five classes (generic at 80%), conv2:9 by four of five (generic too).
FILTERS = [
    ("conv1", 23, 0.99, (0, 1, 2, 3, 4)),
    ("conv1", 4, 0.40, (3,)),
    ("conv2", 9, 0.95, (0, 1, 3, 4)),
    ("conv2", 27, 0.90, (3,)),
    ("conv2", 48, 0.30, (3, 4)),
    ("conv2", 2, 0.70, (4, 2)),
    ("conv2", 11, 0.60, (3, 4, 0)),
]


def test_misclassified_names_both_classes_probabilities_and_separating_filters() -> None:
    e = _e((0.01, 0.0, 0.03, 0.18, 0.78), 3, FILTERS)  # a Dress predicted as Coat
    c = contrast(e)
    assert (c.predicted, c.other, c.other_is_true, c.runner_up) == (4, 3, True, 3)
    # Coat on 23, 9, 48, 2, 11 = 5; Dress on 23, 4, 9, 27, 48, 11 = 6; both on 23, 9, 48, 11 = 4
    assert (c.active, c.predicted_count, c.other_count, c.both) == (7, 5, 6, 4)
    assert [(f.layer, f.filter, k) for f, k in c.separating] == [("conv2", 27, 3), ("conv2", 2, 4), ("conv1", 4, 3)]
    assert [(f.layer, f.filter) for f in c.generic] == [("conv1", 23), ("conv2", 9)]
    s = explanation_sentences(e, NAMES)
    assert s[0] == "Predicted Coat (78%), true class Dress (runner-up, 18%)."
    assert s[1] == "Of the image's 7 most active filters, 5 are tagged Coat and 6 Dress; 4 carry both."
    assert s[2] == ("The 3 filters that separate them, most active first: conv2:27 (Dress), conv2:2 (Coat), "
                    "conv1:4 (Dress).")
    assert s[3].startswith("Left out as generic (tagged with at least 80% of the classes")
    assert s[3].endswith(": conv1:23, conv2:9.")


def test_correct_image_compares_with_the_runner_up() -> None:
    e = _e((0.02, 0.0, 0.06, 0.90, 0.02), 3, FILTERS)
    c = contrast(e)
    assert (c.predicted, c.other, c.other_is_true, c.runner_up) == (3, 2, False, 2)
    s = explanation_sentences(e, NAMES, shown=1)
    assert s[0] == "Predicted Dress (90%), which is the true class; runner-up Pullover (6.0%)."
    assert s[1] == "Of the image's 7 most active filters, 6 are tagged Dress and 2 Pullover; 1 carries both."
    # one class only, generic 23 and 9 left out: 27 (0.90), 2 (0.70), 11 (0.60), 4 (0.40), 48 (0.30)
    assert [(f.filter, k) for f, k in c.separating] == [(27, 3), (2, 2), (11, 3), (4, 3), (48, 3)]
    assert s[2] == "The 5 filters that separate them, most active first: conv2:27 (Dress) and 4 more."


def test_true_class_below_the_runner_up_and_a_file_image() -> None:
    e = _e((0.05, 0.0, 0.25, 0.0004, 0.6996), 3, FILTERS)
    assert explanation_sentences(e, NAMES)[0] == (
        "Predicted Coat (70%), true class Dress (<0.1%); the runner-up is Pullover (25%).")
    f = _e((0.05, 0.0, 0.25, 0.0004, 0.6996), None, FILTERS)
    assert explanation_sentences(f, NAMES)[0] == "Predicted Coat (70%); runner-up Pullover (25%)."


def test_no_separating_and_no_active_filters() -> None:
    e = _e((0.1, 0.0, 0.0, 0.2, 0.7), 3, [("conv2", 11, 0.6, (3, 4, 0)), ("conv2", 1, 0.5, (1,))])
    s = explanation_sentences(e, NAMES)
    assert s[2] == "No active filter separates them: none carries the tag of Coat or Dress without the other."
    assert len(s) == 3  # nothing generic
    assert explanation_sentences(_e((0.2, 0.0, 0.0, 0.1, 0.7), 3, []), NAMES)[1].startswith("No filter")


def test_generic_threshold_is_the_shared_rule() -> None:
    e = _e((0.1, 0.0, 0.0, 0.2, 0.7), 3, FILTERS)
    assert generic_marks(e) == {("conv1", 23), ("conv2", 9)}
    assert generic_marks(e, 1.0) == {("conv1", 23)}
    assert generic_marks(e, 0.6) == {("conv1", 23), ("conv2", 9), ("conv2", 11)}


@pytest.mark.parametrize(("p", "text"), [(0.7612, "76%"), (0.042, "4.2%"), (0.0004, "<0.1%"), (0.9999, ">99.9%"),
                                         (0.995, "99.5%"), (0.1, "10%")])
def test_percent(p: float, text: str) -> None:
    assert percent(p) == text


def test_cli_explain_starts_with_the_sentences(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kgfilters import load_run
    from kgfilters.cli import main
    from kgfilters.explain import explain_image

    assert main(["tag", "--run", str(trained_run), "--k", "3", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["explain", "--run", str(trained_run), "--index", "3"]) == 0
    out = capsys.readouterr().out
    e = explain_image(load_run(trained_run), index=3)
    names = load_run(trained_run).class_names
    lines = out.splitlines()
    assert lines[0] == "held-out image 3:"
    assert [s.strip() for s in lines[1:1 + len(explanation_sentences(e, names))]] == list(
        explanation_sentences(e, names))
    assert "ties broken by their summed activation" in out
