"""The ConceptNet assertions dump: streamed, filtered by relation and language, indexed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kgfilters.errors import DataError
from kgfilters.queries.dump import DumpIndex, iter_dump
from kgfilters.queries.linking import link_conceptnet

ROWS = [
    ("/r/IsA", "/c/en/sandal/n", "/c/en/shoe/n", 2.0),
    ("/r/IsA", "/c/en/sandal/n/wn/artifact", "/c/en/footwear/n", 1.0),
    ("/r/IsA", "/c/en/shoe/n", "/c/en/footwear/n", 3.0),
    ("/r/IsA", "/c/de/sandale/n", "/c/de/schuh/n", 1.0),  # not English
    ("/r/IsA", "/c/en/sandal", "/c/fr/chaussure", 1.0),  # end not English
    ("/r/RelatedTo", "/c/en/sandal", "/c/en/beach", 1.0),  # relation not chosen
    ("/r/PartOf", "/c/en/sole/n", "/c/en/shoe/n", 1.5),
    ("/r/IsA", "/c/en/sneaker/n", "/c/en/shoe/n", 0.2),  # below min_weight
]


def write_dump(path: Path, rows=ROWS, *, bad: str | None = None) -> Path:
    lines = [
        f"/a/[{r}/,{s}/,{e}/]\t{r}\t{s}\t{e}\t"
        + json.dumps({"dataset": "/d/wordnet/3.1", "weight": w})
        for r, s, e, w in rows
    ]
    if bad is not None:
        lines.insert(2, bad)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_iter_dump_filters(tmp_path: Path) -> None:
    p = write_dump(tmp_path / "conceptnet-assertions-5.7.0.csv.gz")
    got = [(e.rel, e.start, e.end, e.weight) for e in iter_dump(p, relations=("IsA", "PartOf"))]
    assert got == [
        ("IsA", "/c/en/sandal/n", "/c/en/shoe/n", 2.0),
        ("IsA", "/c/en/sandal/n/wn/artifact", "/c/en/footwear/n", 1.0),
        ("IsA", "/c/en/shoe/n", "/c/en/footwear/n", 3.0),
        ("PartOf", "/c/en/sole/n", "/c/en/shoe/n", 1.5),
        ("IsA", "/c/en/sneaker/n", "/c/en/shoe/n", 0.2),
    ]
    assert len(list(iter_dump(p, relations=("IsA",), min_weight=1.0))) == 3


def test_index_answers_like_the_api(tmp_path: Path, wn) -> None:
    idx = DumpIndex(write_dump(tmp_path / "d.csv.gz"))
    assert idx.size == 5
    assert {e.end for e in idx.edges("/c/en/sandal", "IsA")} == {"/c/en/shoe/n", "/c/en/footwear/n"}
    assert idx.edges("/c/en/sandal/n", "PartOf") == [] and idx.edges("/c/en/hat", "IsA") == []
    links = link_conceptnet(("Sandal", "Sneaker"), idx, wn=wn)
    cn = "http://conceptnet.io/c/en/"
    assert (cn + "sandal", cn + "shoe") in links.broader and (
        cn + "shoe",
        cn + "footwear",
    ) in links.broader
    assert [lk.label for lk in links.links] == ["Sandal", "Sneaker"]
    assert (cn + "sneaker", cn + "shoe") not in links.broader  # weight 0.2 < 1.0


def test_bad_dumps(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no ConceptNet dump"):
        list(iter_dump(tmp_path / "missing.csv.gz"))
    with pytest.raises(DataError, match=r"d.csv.gz:3: expected 5 tab-separated fields, got 2"):
        list(iter_dump(write_dump(tmp_path / "d.csv.gz", bad="a\tb")))
    with pytest.raises(DataError, match=r":3: malformed JSON"):
        list(
            iter_dump(
                write_dump(tmp_path / "e.csv.gz", bad="/a/x\t/r/IsA\t/c/en/a\t/c/en/b\t{oops")
            )
        )
    (tmp_path / "f.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="unreadable ConceptNet dump"):
        list(iter_dump(tmp_path / "f.csv.gz"))
