"""Deterministic IRIs under a settable base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgfilters.errors import ConfigError
from kgfilters.ontology.iris import Iris


def test_contract_iris() -> None:
    i = Iris("https://ex.org/r/")
    assert str(i.model()) == "https://ex.org/r/model"
    assert str(i.layer("features.28")) == "https://ex.org/r/layer/features.28"
    assert str(i.layer("a/b c")) == "https://ex.org/r/layer/a%2Fb%20c"
    assert str(i.filter("features.28", 7)) == "https://ex.org/r/layer/features.28/filter/7"
    assert str(i.class_label(3)) == "https://ex.org/r/class/3"
    assert str(i.tag("k-best", 5.0, "conv1", 2, 9)) == "https://ex.org/r/tag/k-best/5/conv1/2/9"
    assert str(i.tag("q-quantile", 0.1, "conv1", 2, 9)) == "https://ex.org/r/tag/q-quantile/0.1/conv1/2/9"
    assert str(i.explanation("heldout", 4)) == "https://ex.org/r/explanation/heldout/4"
    assert str(i.graph("tags")) == "https://ex.org/r/graph/tags"
    assert str(i.area("conv1", 3, "reservation", "fsagn", "heldout", 8)).startswith("https://ex.org/r/area/")
    with pytest.raises(ConfigError, match="graph stage 'foo'"):
        i.graph("foo")


def test_base_default_and_from_run_json(tmp_path: Path) -> None:
    root = tmp_path / "my run"
    root.mkdir()
    assert Iris.for_run(root).base == "https://w3id.org/kgfilters/run/my%20run/"
    (root / "run.json").write_text(json.dumps({"dataset": {}, "model": {}, "graph": {"base_iri": "https://ex.org/x/"}}))
    assert Iris.for_run(root).base == "https://ex.org/x/"
    assert Iris.for_run(root, "urn:kgf:run:1#").base == "urn:kgf:run:1#"


@pytest.mark.parametrize("bad", ["no-scheme/", "https://ex.org/no-slash", "https://ex.org/a b/"])
def test_bad_base(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="base IRI"):
        Iris.for_run(tmp_path, bad)
