"""Large graph replacement through the roll-forward journal: a writer killed between any two steps
leaves, for whoever opens the store next, the old graph or the new one (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Literal, URIRef

from kgfilters.errors import GraphError
from kgfilters.ontology import journal as journal_mod
from kgfilters.ontology.namespace import KGF
from kgfilters.ontology.store import graph_triples, journal_dir, open_store, pending, replace_graph

G = "https://ex.org/graph/x"
OLD = [(URIRef(f"https://ex.org/old/{i}"), KGF.rank, Literal(i)) for i in range(300)]
NEW = [(URIRef(f"https://ex.org/new/{i}"), KGF.rank, Literal(i)) for i in range(500)]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store holding OLD in G; every replacement goes through the journal (threshold 0)."""
    monkeypatch.setattr(journal_mod, "JOURNAL_ABOVE", 0)
    store = open_store(tmp_path)
    replace_graph(store, G, OLD, journal=journal_dir(tmp_path))
    del store
    return tmp_path


def _state(root: Path, *, read_only: bool = False) -> tuple[int, int]:
    """(old triples, all triples) of G as the next opener sees it."""
    store = open_store(root, read_only=read_only)
    try:
        got = graph_triples(store, G)
    finally:
        del store
    return sum(1 for t in got if "/old/" in t[0]), len(got)


def _killed_at(root: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Re-emit NEW over OLD with the process 'killed' (an exception) at ``step``."""
    def die(*args: object, **kwargs: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(journal_mod, step, die)
    store = open_store(root)
    with pytest.raises(GraphError, match=r"cannot write graph <https://ex.org/graph/x> \(killed\)"):
        replace_graph(store, G, NEW, journal=journal_dir(root))
    del store
    monkeypatch.undo()


def test_journal_replaces_and_leaves_no_entry(root: Path) -> None:
    store = open_store(root)
    assert replace_graph(store, G, NEW, journal=journal_dir(root)) == 500
    del store
    assert _state(root) == (0, 500)
    assert list(journal_dir(root).iterdir()) == []


def test_killed_before_the_commit_keeps_the_old_graph(root: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _killed_at(root, monkeypatch, "_commit")
    (journal_dir(root) / ".abc.nq.0.nq.tmp").write_text("half a file")  # a kill mid-write
    assert not pending(root)
    assert _state(root) == (300, 300)
    assert list(journal_dir(root).iterdir()) == []  # the stray temporary file is gone


@pytest.mark.parametrize("step", ["_apply", "_load"])  # after the commit; after the drop too
def test_killed_after_the_commit_is_finished_by_the_next_open(
        root: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    _killed_at(root, monkeypatch, step)
    assert pending(root)
    store = ox.Store.read_only(str(root / "graph"))  # the raw store, before any recovery
    raw = sum(1 for _ in store.quads_for_pattern(None, None, None, ox.NamedNode(G)))
    del store
    assert raw == (300 if step == "_apply" else 0)
    assert _state(root, read_only=True) == (0, 500)  # a reader finishes it when nobody writes
    assert not pending(root)


def test_killed_mid_bulk_load_is_finished_by_the_next_open(root: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = journal_mod._load

    def half(store: ox.Store, entry: Path, graph: ox.NamedNode) -> None:
        lines = entry.read_bytes().splitlines(keepends=True)
        store.bulk_load(b"".join(lines[: len(lines) // 2]), ox.RdfFormat.N_QUADS)
        store.flush()
        raise OSError("killed")

    monkeypatch.setattr(journal_mod, "_load", half)
    store = open_store(root)
    with pytest.raises(GraphError, match="killed"):
        replace_graph(store, G, NEW, journal=journal_dir(root))
    del store
    monkeypatch.setattr(journal_mod, "_load", real)
    assert _state(root) == (0, 500)


def test_sigkill_during_the_journaled_swap(root: Path) -> None:
    """A real SIGKILL right after the drop: the next opener finds the new graph complete."""
    code = f"""
import os, signal, sys
from rdflib import Literal, URIRef
from kgfilters.ontology import journal as j, store as s
from kgfilters.ontology.namespace import KGF
j.JOURNAL_ABOVE = 0
def load(*a):
    os.kill(os.getpid(), signal.SIGKILL)
j._load = load
st = s.open_store(sys.argv[1])
s.replace_graph(st, {G!r}, [(URIRef(f"https://ex.org/new/{{i}}"), KGF.rank, Literal(i))
                            for i in range(500)], journal=s.journal_dir(sys.argv[1]))
"""
    proc = subprocess.run([sys.executable, "-c", code, str(root)], timeout=60)
    assert proc.returncode == -9
    assert pending(root)
    assert _state(root) == (0, 500)


def test_a_damaged_journal_entry_is_a_one_line_error(root: Path) -> None:
    bad = journal_dir(root) / "0123.nq"
    bad.write_text("<a> <b> <c> <g> .\n")
    with pytest.raises(GraphError, match=r"0123\.nq: not a graph journal entry") as info:
        open_store(root)
    assert "\n" not in str(info.value)
    assert bad.read_text() == "<a> <b> <c> <g> .\n"


def test_unchanged_graph_is_not_rewritten(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise AssertionError("rewrote an unchanged graph")

    monkeypatch.setattr(journal_mod, "_commit", boom)
    monkeypatch.setattr(journal_mod, "_swap", boom)
    store = open_store(root)
    assert replace_graph(store, G, list(reversed(OLD)), journal=journal_dir(root)) == 300
    del store
