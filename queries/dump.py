"""The ConceptNet assertions dump (``conceptnet-assertions-5.7.0.csv.gz``), streamed.

Each line is tab-separated: edge URI, relation (``/r/IsA``), start node, end node, JSON info
(with ``weight``). ``iter_dump`` streams the English edges of the chosen relations without
holding the file; ``DumpIndex`` keeps them by start concept and answers ``edges(node, rel)``
like the API client, so linking can run from the dump with no network at all.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from kgfilters.errors import DataError
from kgfilters.queries.conceptnet import DEFAULT_RELATIONS, CnEdge, strip_sense

__all__ = ["DumpIndex", "iter_dump"]

log = logging.getLogger(__name__)


def iter_dump(
    path: str | os.PathLike[str],
    *,
    relations: Iterable[str] = DEFAULT_RELATIONS,
    lang: str = "en",
    min_weight: float = 0.0,
) -> Iterator[CnEdge]:
    """Stream the edges of ``relations`` whose start and end are in ``lang`` from a dump file
    (gzip or plain text). DataError naming the file and line for a line that is not 5 fields."""
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"{p}: no ConceptNet dump here; expected conceptnet-assertions-5.7.0.csv.gz"
        )
    rels = {f"/r/{r}" for r in relations}
    prefix = f"/c/{lang}/"
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 5:
                    raise DataError(f"{p}:{n}: expected 5 tab-separated fields, got {len(fields)}")
                _, rel, start, end, info = fields
                if rel not in rels or not start.startswith(prefix) or not end.startswith(prefix):
                    continue
                try:
                    weight = float(json.loads(info).get("weight", 1.0))
                except (ValueError, AttributeError) as exc:
                    raise DataError(f"{p}:{n}: malformed JSON info ({exc})") from None
                if weight >= min_weight:
                    yield CnEdge(rel[3:], start, end, weight)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: unreadable ConceptNet dump ({type(exc).__name__}: {exc})") from None


class DumpIndex:
    """The dump's edges by (start concept, relation), built by one streamed pass."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        relations: Iterable[str] = DEFAULT_RELATIONS,
        lang: str = "en",
        min_weight: float = 0.0,
    ) -> None:
        self._by: dict[tuple[str, str], list[CnEdge]] = defaultdict(list)
        count = 0
        for e in iter_dump(path, relations=relations, lang=lang, min_weight=min_weight):
            self._by[(strip_sense(e.start), e.rel)].append(e)
            count += 1
        self.size = count
        log.info("ConceptNet dump %s: %d edges indexed", path, count)

    def edges(self, node: str, rel: str) -> list[CnEdge]:
        """Edges ``node --rel--> *`` (node at term level, as the API's ``start=`` matches)."""
        return list(self._by.get((strip_sense(node), rel), ()))
