from __future__ import annotations

import pytest
import torch

from kgfilters.errors import ConfigError, RunError
from kgfilters.filtag import class_ranks, k_best, load_tags, q_quantile, save_tags, tag_layers

Z = torch.tensor(
    [
        [0.9, 0.1, 0.5, 0.3],  # class 0
        [0.2, 0.8, 0.8, 0.1],  # class 1 (tie between filters 1 and 2)
    ],
    dtype=torch.float64,
)


def test_class_ranks_known_answer_with_stable_ties() -> None:
    assert class_ranks(Z).tolist() == [[1, 4, 2, 3], [3, 1, 2, 4]]


def test_k_best_known_answer() -> None:
    assert k_best(Z, 2).tolist() == [[True, False, True, False], [False, True, True, False]]
    assert k_best(Z, 1).sum(1).tolist() == [1, 1]


def test_q_quantile_known_answer() -> None:
    # class 0 scores sorted 0.1 0.3 0.5 0.9; the 0.5 quantile (linear) is 0.4 -> filters 0 and 2
    # class 1 sorted 0.1 0.2 0.8 0.8; 0.5 quantile 0.5 -> filters 1 and 2
    assert q_quantile(Z, 0.5).tolist() == [[True, False, True, False], [False, True, True, False]]
    # q = 0.25: 0.75 quantile of class 0 is 0.6 -> only filter 0; class 1: 0.8 -> the tied pair
    assert q_quantile(Z, 0.25).tolist() == [[True, False, False, False], [False, True, True, False]]
    assert q_quantile(Z, 1.0).all()


@pytest.mark.parametrize("k", [0, 5, -1])
def test_k_outside_layer_is_a_one_line_error(k: int) -> None:
    with pytest.raises(ConfigError, match=rf"k={k}: expected 1 <= k <= 4"):
        k_best(Z, k)


@pytest.mark.parametrize("q", [0.0, 1.5, -0.1])
def test_q_outside_range_is_an_error(q: float) -> None:
    with pytest.raises(ConfigError, match="expected 0 < q <= 1"):
        q_quantile(Z, q)


def test_tag_layers_scores_ranks_and_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tags = tag_layers({"conv": Z}, ("cat", "dog"), method="k-best", param=2)
    assert [(t.filter, t.class_index, t.rank) for t in tags.tags] == [(0, 0, 1), (2, 0, 2), (1, 1, 1), (2, 1, 2)]
    assert tags.tags[0].score == pytest.approx(0.9) and tags.tags[0].label == "cat"
    assert tags.matrix("conv").tolist() == k_best(Z, 2).tolist()
    path = save_tags(tags, tmp_path / "tags.json")
    assert load_tags(path) == tags


def test_tag_layers_rejects_a_class_without_images() -> None:
    z = Z.clone()
    z[1] = torch.nan
    with pytest.raises(RunError, match="class\\(es\\) dog"):
        tag_layers({"conv": z}, ("cat", "dog"), method="k-best", param=1)


def test_unknown_method_and_malformed_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="method 'best'"):
        tag_layers({"conv": Z}, ("cat", "dog"), method="best", param=1)
    bad = tmp_path / "tags.json"
    bad.write_text('{"method": "k-best"}')
    with pytest.raises(RunError, match="malformed tags file"):
        load_tags(bad)
    with pytest.raises(RunError, match="no tags yet"):
        load_tags(tmp_path / "none.json")


def test_loaded_tags_are_the_dataclass_and_bad_entries_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import json

    from kgfilters.filtag import Tag

    entry = {"layer": "conv", "filter": 2, "class_index": 1, "label": "dog", "score": 0.25, "rank": 3,
             "method": "k-best", "param": 2.0}
    doc = {"method": "k-best", "k": 2, "class_names": ["cat", "dog"], "layers": {"conv": 3}, "tags": [entry]}
    path = tmp_path / "tags.json"
    path.write_text(json.dumps(doc))
    (tag,) = load_tags(path).tags
    assert tag == Tag(**entry) and hash(tag) == hash(Tag(**entry)) and dataclasses.asdict(tag) == entry
    with pytest.raises(dataclasses.FrozenInstanceError):
        tag.score = 1.0  # type: ignore[misc]
    for bad in ({k: v for k, v in entry.items() if k != "rank"}, {**entry, "extra": 1}, ["conv", 2]):
        path.write_text(json.dumps({**doc, "tags": [entry, bad]}))
        with pytest.raises(RunError, match="malformed tags file"):
            load_tags(path)


def test_generic_filters_known_answer() -> None:
    from kgfilters.filtag import generic_filters

    # 5 classes, 4 filters tagged by 5, 4, 3 and 0 classes
    m = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    assert generic_filters(m).tolist() == [True, True, False, False]  # 0.8 * 5 = 4 classes
    assert generic_filters(m, 1.0).tolist() == [True, False, False, False]
    assert generic_filters(m, 0.5).tolist() == [True, True, True, False]
    with pytest.raises(ConfigError, match="generic threshold"):
        generic_filters(m, 0.0)


def test_contrastive_scores_and_tags_known_answer() -> None:
    from kgfilters.filtag import contrastive, contrastive_scores, tag_matrix

    # filter 0 fires for everything (generic under k-best), filter 1 for class 0 alone, filter 2 for class 1
    z = torch.tensor([[0.9, 0.6, 0.1], [0.9, 0.1, 0.5], [0.9, 0.1, 0.1]], dtype=torch.float64)
    s = contrastive_scores(z)
    assert s[:, 0].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert s[0, 1] == pytest.approx(0.6 - 0.1) and s[1, 2] == pytest.approx(0.5 - 0.1)
    assert k_best(z, 1)[:, 0].all()  # the paper's k-best tags the generic filter for every class
    c = contrastive(z, 1)
    assert c[0].tolist() == [False, True, False] and c[1].tolist() == [False, False, True]
    assert torch.equal(tag_matrix(z, "contrastive", 1), c)
    with pytest.raises(ConfigError, match=r"k=1\.5"):
        tag_matrix(z, "contrastive", 1.5)


def test_contrastive_tags_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kgfilters.filtag import load_tags, save_tags, tag_layers

    z = torch.rand(4, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tags = tag_layers({"conv": z}, ["a", "b", "c", "d"], method="contrastive", param=2)
    assert all(t.method == "contrastive" and t.rank in (1, 2) for t in tags.tags) and len(tags.tags) == 8
    path = save_tags(tags, tmp_path / "tags.json")
    assert '"k": 2' in path.read_text()
    assert load_tags(path) == tags
