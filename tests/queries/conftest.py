"""Fixtures of the semantics tests: WordNet and HTTP caches in a private directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sem_helpers import FM


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test builds WordNet and HTTP caches in a private directory, never in ~/.cache."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("kgf-cache")
    mp.setenv("KGFILTERS_CACHE", str(cache))
    yield cache
    mp.undo()


@pytest.fixture(scope="session")
def wn(private_cache: Path):
    from kgfilters.queries.wordnet import load_wordnet

    return load_wordnet()


@pytest.fixture(scope="session")
def fm_links(wn):
    from kgfilters.queries.linking import link_wordnet

    return link_wordnet(FM, wn=wn)
