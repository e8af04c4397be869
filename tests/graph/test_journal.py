"""Large graph replacement through the roll-forward journal: a writer killed between any two steps
leaves, for whoever opens the store next, the old graph or the new one (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
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


# --- store mode: the whole store cleared and bulk-loaded again (no per-quad deletes) ----------

KEEP = "https://ex.org/graph/keep"
EMPTY = "https://ex.org/graph/empty"
KEPT = [(URIRef(f"https://ex.org/keep/{i}"), KGF.rank, Literal(f"kept {i}", lang="en"))
        for i in range(200)]
DEFAULT = ox.Quad(ox.NamedNode("https://ex.org/d"), ox.NamedNode(str(KGF.rank)), ox.Literal("0.5e0",
                  datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#double")), ox.DefaultGraph())


@pytest.fixture
def full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OLD in G, KEPT in KEEP, a default-graph quad and an empty named graph; every replacement
    goes through the journal, in store mode whenever something is dropped."""
    monkeypatch.setattr(journal_mod, "JOURNAL_ABOVE", 0)
    monkeypatch.setattr(journal_mod, "DROP_US", 1e9)
    store = open_store(tmp_path)
    replace_graph(store, G, OLD, journal=journal_dir(tmp_path))  # nothing dropped: graph mode
    replace_graph(store, KEEP, KEPT, journal=journal_dir(tmp_path))
    store.add(DEFAULT)
    store.add_graph(ox.NamedNode(EMPTY))
    del store
    return tmp_path


def _rest(root: Path) -> tuple[int, bool, bool]:
    """(KEPT triples still in KEEP, default quad kept, empty graph kept) as the next opener sees."""
    store = open_store(root, read_only=True)
    try:
        kept = set(graph_triples(store, KEEP)) == set(KEPT)
        return (kept, DEFAULT in store, ox.NamedNode(EMPTY) in set(store.named_graphs()))
    finally:
        del store


def test_store_mode_replaces_the_graph_and_keeps_the_rest(full: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    import logging

    store = open_store(full)
    with caplog.at_level(logging.INFO, logger="kgfilters.ontology.journal"):
        assert replace_graph(store, G, NEW, journal=journal_dir(full)) == 500
    del store
    assert "(store mode)" in caplog.text
    assert _state(full) == (0, 500) and _rest(full) == (True, True, True)
    assert list(journal_dir(full).iterdir()) == []


def _die_after_load(real):  # type: ignore[no-untyped-def]
    def load(*args: object) -> None:
        real(*args)
        raise OSError("killed")
    return load


@pytest.mark.parametrize("step", ["_commit", "_apply", "_load", "after_load", "half_load"])
def test_store_mode_killed_at_each_step_leaves_old_or_new(
        full: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Killed before the commit: the old graph; after it (before the clear, after the clear, mid
    bulk load, after the load but before the entry is deleted): the next open finishes the new
    one; every other graph, the default graph and an empty graph survive either way."""
    if step == "after_load":
        monkeypatch.setattr(journal_mod, "_load", _die_after_load(journal_mod._load))
    elif step == "half_load":
        def half(store: ox.Store, entry: Path, graphs: list[ox.NamedNode]) -> None:
            lines = entry.read_bytes().splitlines(keepends=True)
            store.bulk_load(b"".join(lines[1: len(lines) // 2]), ox.RdfFormat.N_QUADS)
            store.flush()
            raise OSError("killed")
        monkeypatch.setattr(journal_mod, "_load", half)
    else:
        monkeypatch.setattr(journal_mod, step, lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    store = open_store(full)
    with pytest.raises(GraphError, match=r"cannot write graph <https://ex.org/graph/x> \(killed\)"):
        replace_graph(store, G, NEW, journal=journal_dir(full))
    del store
    monkeypatch.undo()
    if step == "_load":  # killed right after the clear: the raw store is empty, the entry holds all
        raw = ox.Store.read_only(str(full / "graph"))
        assert len(raw) == 0
        del raw
    assert pending(full) == (step != "_commit")
    assert _state(full) == ((300, 300) if step == "_commit" else (0, 500))
    assert _rest(full) == (True, True, True)
    assert not pending(full)


def test_sigkill_after_the_clear_is_finished_by_the_next_open(full: Path) -> None:
    """A real SIGKILL after ``Store.clear`` (the store holds nothing): the next opener gets the new
    graph and everything else back from the journal entry."""
    code = f"""
import os, signal, sys
from rdflib import Literal, URIRef
from kgfilters.ontology import journal as j, store as s
from kgfilters.ontology.namespace import KGF
j.JOURNAL_ABOVE, j.DROP_US = 0, 1e9
def load(*a):
    os.kill(os.getpid(), signal.SIGKILL)
j._load = load
st = s.open_store(sys.argv[1])
s.replace_graph(st, {G!r}, [(URIRef(f"https://ex.org/new/{{i}}"), KGF.rank, Literal(i))
                            for i in range(500)], journal=s.journal_dir(sys.argv[1]))
"""
    proc = subprocess.run([sys.executable, "-c", code, str(full)], timeout=60)
    assert proc.returncode == -9 and pending(full)
    assert _state(full) == (0, 500) and _rest(full) == (True, True, True)


def test_a_reader_is_refused_while_a_live_writer_applies_an_entry(root: Path) -> None:
    store = open_store(root)  # the live writer (holds the store's lock)
    entry = journal_mod._commit(journal_dir(root), "graph",
                                {ox.NamedNode(G): [f"<https://ex.org/new/{i}> <{KGF.rank}> \"{i}\""
                                                   for i in range(5)]})
    with pytest.raises(GraphError, match="being rewritten by another process") as info:
        open_store(root, read_only=True)
    assert "\n" not in str(info.value) and entry.is_file()
    del store  # the writer went away without applying it: the next reader finishes it
    assert _state(root, read_only=True) == (0, 5)


@pytest.mark.parametrize(("kept", "dropped", "mode"), [
    (1000, 600, "store"),   # 1000 x (8 + 16) = 24,000 us to dump and reload < 600 x 50 = 30,000
    (1000, 400, "graph"),   # 24,000 > 400 x 50 = 20,000: dropping is cheaper
    (1000, 0, "graph"),     # nothing to drop (a fresh graph)
])
def test_the_plan_weighs_dropping_against_reloading(tmp_path: Path, kept: int, dropped: int,
                                                    mode: str) -> None:
    store = ox.Store()
    store.bulk_extend(ox.Quad(ox.NamedNode(f"https://ex.org/{i}"), ox.NamedNode(str(KGF.rank)),
                              ox.Literal(str(i)), ox.NamedNode(G if i < dropped else KEEP))
                      for i in range(kept + dropped))
    assert journal_mod._plan(store, {ox.NamedNode(G): dropped}) == mode


# --- store mode built aside: a new store directory, moved in place by rename ------------------

def _aside(root: Path) -> dict[str, int]:
    """Replace G by NEW in store mode, built aside; the handle is dropped as ``build_graph`` does."""
    store = open_store(root)
    statements = [f"<https://ex.org/new/{i}> <{KGF.rank}> \"{i}\"^^<http://www.w3.org/2001/XMLSchema#integer>"
                  for i in range(500)]
    try:
        return journal_mod.write_graphs(store, {G: statements}, journal=journal_dir(root), aside=True)
    finally:
        del store


def _journal_left(root: Path) -> list[str]:
    return sorted(p.name for p in journal_dir(root).iterdir())


def test_aside_builds_a_new_store_and_the_next_open_moves_it_in(full: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="kgfilters.ontology.journal"):
        assert _aside(full) == {G: 500}
    assert "(store mode, built aside)" in caplog.text
    (entry,) = journal_dir(full).glob("*.store")  # committed, not yet in place
    assert (entry / "CURRENT").is_file() and pending(full)
    old = ox.Store.read_only(str(full / "graph"))  # the old store is untouched until the swap
    assert sum(1 for _ in old.quads_for_pattern(None, None, None, ox.NamedNode(G))) == 300
    del old
    assert _state(full) == (0, 500) and _rest(full) == (True, True, True)
    assert _journal_left(full) == [] and not pending(full)


def test_aside_keeps_the_handle_valid_until_dropped_and_refuses_readers(full: Path) -> None:
    """After the commit the writer still holds the old store (its handle reads the old graph);
    a reader is refused rather than shown either, and the writer's next open takes the new one."""
    store = open_store(full)
    lines = [f"<https://ex.org/new/{i}> <{KGF.rank}> \"{i}\"" for i in range(500)]
    journal_mod.write_graphs(store, {G: lines}, journal=journal_dir(full), aside=True)
    assert journal_mod.swap_pending(journal_dir(full))
    assert len(graph_triples(store, G)) == 300  # the handle still reads the old store
    with pytest.raises(GraphError, match="being rewritten by another process") as info:
        open_store(full, read_only=True)
    assert "\n" not in str(info.value)
    with pytest.raises(GraphError, match="locked by another process"):  # nor moved under it
        open_store(full)
    store = None  # dropped: the lock is released
    assert _state(full) == (0, 500) and _rest(full) == (True, True, True)


def test_a_reader_keeps_reading_the_old_store_after_the_swap(full: Path) -> None:
    reader = open_store(full, read_only=True)
    _aside(full)
    assert _state(full) == (0, 500)  # the next opener moved the new store in
    got = graph_triples(reader, G)  # the reader's open files are the old store's
    assert len(got) == 300 and all("/old/" in t[0] for t in got)
    del reader


@pytest.mark.parametrize("step", ["_load_aside", "half_load", "kept_dump"])
def test_aside_failing_before_the_commit_leaves_the_store_as_it_was(
        full: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """A failure while the new store is built (the load, mid-load, the dump of the kept graphs)
    leaves the old store, no journal entry and no stray directory."""
    if step == "half_load":
        real = journal_mod._load_aside

        def half(path: Path, graphs: object, chunks: object, kept: object = ()) -> None:
            real(path, [], [next(iter(chunks))])  # type: ignore[call-overload]
            raise OSError("killed")
        monkeypatch.setattr(journal_mod, "_load_aside", half)
    elif step == "kept_dump":
        def boom(*args: object) -> None:
            raise OSError("killed")
            yield b""  # a generator, like the real one
        monkeypatch.setattr(journal_mod, "_kept_nquads", boom)
    else:
        monkeypatch.setattr(journal_mod, step, lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(GraphError, match=r"cannot write graph <https://ex.org/graph/x> \(killed\)"):
        _aside(full)
    assert _journal_left(full) == [] and not pending(full)
    monkeypatch.undo()
    assert _state(full) == (300, 300) and _rest(full) == (True, True, True)


def test_aside_killed_between_the_two_renames_is_finished_by_the_next_open(full: Path) -> None:
    store = open_store(full)
    lines = [f"<https://ex.org/new/{i}> <{KGF.rank}> \"{i}\"" for i in range(500)]
    journal_mod.write_graphs(store, {G: lines}, journal=journal_dir(full), aside=True)
    del store
    (entry,) = journal_dir(full).glob("*.store")
    (full / "graph").rename(journal_dir(full) / f".{entry.stem}.old.tmp")  # the first rename only
    assert not (full / "graph").exists() and pending(full)
    assert _state(full, read_only=True) == (0, 500) and _rest(full) == (True, True, True)
    assert _journal_left(full) == []


def test_aside_swap_keeps_the_store_directory_permissions(full: Path) -> None:
    (full / "graph").chmod(0o700)
    _aside(full)
    assert _state(full) == (0, 500)
    assert (full / "graph").stat().st_mode & 0o777 == 0o700


_SIGKILL_ASIDE = """
import os, signal, sys
from kgfilters.ontology import journal as j, store as s
j.JOURNAL_ABOVE, j.DROP_US = 0, 1e9
where = sys.argv[2]
real_load = j._load_aside
def load(path, graphs, chunks, kept=()):
    if where == "mid_load":  # half the new store written, then killed
        real_load(path, [], [next(iter(chunks))])
        os.kill(os.getpid(), signal.SIGKILL)
    real_load(path, graphs, chunks, kept)
j._load_aside = load
st = s.open_store(sys.argv[1])
lines = [f"<https://ex.org/new/{i}> <https://w3id.org/kgfilters/ontology#rank> \\"{i}\\"" for i in range(500)]
s.write_graphs(st, {sys.argv[3]: lines}, journal=s.journal_dir(sys.argv[1]), aside=True)
if where == "after_commit":  # committed, the handle never dropped
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(("where", "expect"), [("mid_load", (300, 300)), ("after_commit", (0, 500))])
def test_sigkill_during_the_aside_replacement(full: Path, where: str,
                                              expect: tuple[int, int]) -> None:
    """A real SIGKILL mid-way through building the new store leaves the old one (the stray
    directory is removed by the next open); one after the commit leaves the new one."""
    proc = subprocess.run([sys.executable, "-c", _SIGKILL_ASIDE, str(full), where, G], timeout=60)
    assert proc.returncode == -9
    strays = list(journal_dir(full).glob(".*.tmp"))
    assert pending(full) == (where == "after_commit") and bool(strays) == (where == "mid_load")
    assert _state(full) == expect and _rest(full) == (True, True, True)
    assert _journal_left(full) == []


def test_stream_reads_chunks_as_one_file() -> None:
    from kgfilters.ontology.swap import Stream

    s = Stream([b"ab", b"", b"cde", b"f"])
    assert [s.read(2), s.read(2), s.read(-1), s.read(5), s.read(5)] == [b"ab", b"cd", b"e", b"f", b""]


def test_load_aside_loads_the_kept_graphs_beside_and_raises_either_loads_error(
        tmp_path: Path) -> None:
    """The new graphs' chunks and the kept graphs' texts (loaded by a thread at the same time)
    end in one store; an error of the kept graphs' thread is raised once both loads stopped."""
    from kgfilters.ontology.swap import load_aside

    def nq(graph: str, n: int) -> bytes:
        return b"".join(f"<https://ex.org/{graph}/{i}> <{KGF.rank}> \"{i}\" <https://ex.org/g/{graph}> .\n"
                        .encode() for i in range(n))
    empty = ox.NamedNode("https://ex.org/g/empty")
    load_aside(tmp_path / "a", [empty], iter([nq("new", 300)]), kept=[nq("k1", 200), nq("k2", 100)])
    got = ox.Store.read_only(str(tmp_path / "a"))
    assert {str(g): _n(got, g) for g in got.named_graphs()} == {
        "<https://ex.org/g/new>": 300, "<https://ex.org/g/k1>": 200, "<https://ex.org/g/k2>": 100,
        "<https://ex.org/g/empty>": 0}
    del got

    def failing() -> Iterator[bytes]:
        yield nq("k1", 10)
        raise OSError("disk gone")
    with pytest.raises(OSError, match="disk gone"):
        load_aside(tmp_path / "b", [], iter([nq("new", 10)]), kept=failing())
    with pytest.raises(SyntaxError):  # the new graphs' error, the kept graphs' thread joined first
        load_aside(tmp_path / "c", [], iter([b"not n-quads\n"]), kept=[nq("k1", 10)])


def _n(store: ox.Store, g: ox.NamedNode) -> int:
    return sum(1 for _ in store.quads_for_pattern(None, None, None, g))
