"""Replacing named graphs of the run's store at bulk-load speed, atomically (issue 13).

``write_graphs(store, {graph: statements})`` replaces each named graph by its statements
(``"<s> <p> <o>"`` strings, as ``ontology.lines`` writes them). Per call:

1. statements are de-duplicated; a graph whose quads are all already stored (same count, each
   quad found) is not written;
2. a small graph (old + new at most ``JOURNAL_ABOVE`` quads, or any without a journal) becomes the
   new one in ONE SPARQL update (``_swap``: one Oxigraph transaction, only the difference);
3. the large ones go together through ONE roll-forward journal entry, in one of two modes chosen
   by measured cost (``_plan``):

   - ``graph`` mode: the entry holds the new graphs; applying it drops them (one update, which
     Oxigraph runs quad by quad: ~50 us a quad) and bulk-loads the file;
   - ``store`` mode, chosen when re-loading what is kept costs less than deleting what is
     replaced: the WHOLE new store (every other graph streamed out of the store by Oxigraph's
     dump, plus the new graphs) is bulk-loaded. With ``aside=True`` (``build_graph``: a caller
     that drops its handle afterwards) into a new store directory beside the journal, the kept
     graphs by a second loader at the same time as the new ones (``swap.load_aside``), which
     then replaces ``graph/`` by two renames (``finish_swaps``); no file of N-Quads is
     written and the new store needs no compaction. Otherwise the entry is a file of the whole
     store's N-Quads, and applying it clears the store in place (``Store.clear``: no per-quad
     deletes) and bulk-loads it.

Commit points are renames. ``graph`` mode and in-place ``store`` mode: the entry
(``<run>/graph.journal/<hash>.nq``: a ``# graph <g> ...`` or ``# store <g> ...`` header naming
the graphs, then N-Quads) is written, fsync'ed and renamed into place; a kill after it leaves the
entry, which the next ``open_store`` applies again (drop or clear first makes that idempotent).
Aside: the finished, closed new store directory ``.<hash>.store.tmp`` is renamed to
``<hash>.store``; whoever opens the store next (the writer itself, after dropping its handle)
moves ``graph/`` away and the new directory in (``finish_swaps``; a kill between the two renames
is finished the same way). A kill before a commit leaves the store as it was (a stray ``.*.tmp``
file or directory is removed on the next open). So whoever opens the store next finds each graph
old or new, never empty or half-written; a reader that opens while a live writer applies an entry
is refused (``open_store``) rather than shown a half-loaded store, and a reader that had the old
store open keeps reading the old files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyoxigraph as ox

from kgfilters.atomic import atomic_path
from kgfilters.errors import GraphError
from kgfilters.ontology.swap import finish_swaps, swap_pending
from kgfilters.ontology.swap import fsync_dir as _fsync_dir
from kgfilters.ontology.swap import load_aside as _load_aside

__all__ = ["DROP_US", "DUMP_US", "JOURNAL_ABOVE", "LOAD_US", "finish_swaps", "journal_dir", "pending",
           "recover", "replacement_mode", "swap_pending", "write_graphs"]

log = logging.getLogger(__name__)

#: Graphs with at most this many quads (old + new) are replaced in one Oxigraph transaction
#: (``_swap``); larger ones through the journal, whose bulk load is several times faster than
#: Oxigraph's transactional write (docs/benchmarks.md).
JOURNAL_ABOVE = 20_000

#: Measured costs per quad on the shared 2-core machine (load about 2-4; docs/benchmarks.md,
#: "ImageNet scale"): dropping a graph (Oxigraph deletes quad by quad in a transaction), dumping a
#: graph as N-Triples (``Store.dump``), bulk-loading N-Quads. Only their ratios matter (``_plan``).
DROP_US, DUMP_US, LOAD_US = 50.0, 8.0, 16.0

_NQ = ox.RdfFormat.N_QUADS
_CHUNK = 100_000  # statements encoded at a time (bounds the text held besides the statements)


def journal_dir(run_root: str | os.PathLike[str]) -> Path:
    """``<run>/graph.journal``: committed graph replacements not yet applied to the store (each an
    N-Quads file); empty or absent when the store is complete."""
    from kgfilters.run import RunPaths

    graph = RunPaths(Path(run_root)).graph
    return graph.with_name(graph.name + ".journal")


def pending(run_root: str | os.PathLike[str]) -> bool:
    """Whether a writer left committed graph replacements to apply (killed, or applying now)."""
    journal = journal_dir(run_root)
    return journal.is_dir() and (any(journal.glob("*.nq")) or any(journal.glob("*.store")))


def _nquads(statements: Sequence[str], graph: ox.NamedNode) -> Iterator[bytes]:
    """``statements`` as N-Quads lines in ``graph``, encoded, in chunks."""
    tail = f" {graph} .\n"
    for start in range(0, len(statements), _CHUNK):
        part = statements[start:start + _CHUNK]
        yield (tail.join(part) + tail).encode("utf-8")


def _quads(statements: Sequence[str], graph: ox.NamedNode) -> Iterator[ox.Quad]:
    """``statements`` parsed into pyoxigraph quads of ``graph`` (lazily, chunk by chunk)."""
    for chunk in _nquads(statements, graph):
        yield from ox.parse(chunk, _NQ)


def _count(store: ox.Store, graph: ox.NamedNode) -> int:
    """Number of quads in ``graph`` (counted inside Oxigraph: no Python objects)."""
    rows = store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}")
    return int(next(iter(rows))[0].value)  # type: ignore[index, arg-type]


def _has_bnodes(quads: Iterable[ox.Quad]) -> bool:
    return any(isinstance(t, ox.BlankNode) for q in quads for t in (q.subject, q.object))


def _unchanged(store: ox.Store, graph: ox.NamedNode, statements: Sequence[str], n_old: int) -> bool:
    """Whether ``graph`` holds exactly ``statements`` (distinct): same count and each one stored;
    stops at the first missing quad. A statement with a blank node counts as changed (its label
    need not be the store's)."""
    if not statements or n_old != len(statements):
        return False
    for q in _quads(statements, graph):
        if isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) or q not in store:
            return False
    return True


def _nt(quads: Iterable[ox.Quad]) -> str:
    """Quads as the triples of a SPARQL ``... DATA`` block (N-Triples terms, escaped by Oxigraph)."""
    return " ".join(f"{q.subject} {q.predicate} {q.object} ." for q in quads)


def _swap(store: ox.Store, graph: ox.NamedNode, old: set[ox.Quad], new: list[ox.Quad]) -> None:
    """Turn ``graph`` from ``old`` into ``new`` in ONE SPARQL update, which Oxigraph applies as
    one transaction: a reader, or a store left by a killed process, sees the old graph or the new
    one, never neither. Only the difference is written; graphs with blank nodes (which
    ``DELETE DATA`` cannot name) are dropped and re-inserted in the same update."""
    ops = [f"CREATE SILENT GRAPH {graph}"]
    if _has_bnodes(old) or _has_bnodes(new):
        ops.append(f"DROP SILENT GRAPH {graph}")
        ops.append(f"CREATE SILENT GRAPH {graph}")
        removed, added = [], new
    else:
        fresh = set(new)
        removed = [q for q in old if q not in fresh]
        added = [q for q in new if q not in old]
    if removed:
        ops.append(f"DELETE DATA {{ GRAPH {graph} {{ {_nt(removed)} }} }}")
    if added:
        ops.append(f"INSERT DATA {{ GRAPH {graph} {{ {_nt(added)} }} }}")
    store.update(" ;\n".join(ops))


def _plan(store: ox.Store, n_old: Mapping[ox.NamedNode, int]) -> str:
    """``"store"`` when re-loading the whole store costs less than dropping the replaced graphs'
    ``n_old`` quads one by one (``DROP_US`` against ``DUMP_US + LOAD_US`` a kept quad), else
    ``"graph"``."""
    dropped = sum(n_old.values())
    kept = len(store) - dropped
    return "store" if dropped and kept * (DUMP_US + LOAD_US) < dropped * DROP_US else "graph"


def replacement_mode(store: ox.Store, graphs: Iterable[str]) -> str:
    """The mode (``store`` or ``graph``, see ``_plan``) a journaled replacement of ``graphs``
    would take now (for benchmarks and logs)."""
    nodes = [ox.NamedNode(str(g)) for g in graphs]
    return _plan(store, {g: _count(store, g) for g in nodes})


def _entry(journal: Path, header: str) -> Path:
    return journal / (hashlib.sha256(header.encode("utf-8")).hexdigest()[:32] + ".nq")


def _commit(journal: Path, mode: str, new: Mapping[ox.NamedNode, Sequence[str]],
            store: ox.Store | None = None) -> Path:
    """Write the journal entry replacing the graphs of ``new`` (``mode`` ``graph``), or the whole
    store by them and every other graph of ``store`` (``mode`` ``store``); its rename into place
    commits it."""
    keep: list[ox.NamedNode] = []
    if mode == "store":
        assert store is not None
        keep = [g for g in store.named_graphs() if g not in new]  # type: ignore[misc]
    names = [*new, *keep]
    header = f"# {mode} " + " ".join(str(g) for g in names) + "\n"
    target = _entry(journal, header)
    with atomic_path(target, suffix=".nq") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("utf-8"))
            if store is not None:
                for text in _kept_nquads(store, keep):
                    fh.write(text)
            for g, statements in new.items():
                for chunk in _nquads(statements, g):
                    fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(journal)
    return target


def _kept_nquads(store: ox.Store, keep: Sequence[ox.NamedNode]) -> Iterator[bytes]:
    """The default graph and the named graphs ``keep`` of ``store`` as N-Quads, graph by graph
    (``Store.dump`` as N-Triples, the graph name added to each line: N-Triples escapes newlines,
    so every line ends with " .\\n")."""
    for g in [ox.DefaultGraph(), *keep]:
        text = store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=g)
        yield text.replace(b" .\n", f" {g} .\n".encode()) if isinstance(g, ox.NamedNode) else text


def _build_aside(store: ox.Store, journal: Path, new: Mapping[ox.NamedNode, Sequence[str]]) -> Path:
    """Store mode beside the store: bulk-load the new graphs and, by a second loader at the same
    time, every other graph of ``store`` (dumped graph by graph) into a new store directory in
    ``journal``, close it, and commit it by renaming it to ``<hash>.store``; returns
    that path. ``store`` is left as it was (``finish_swaps`` puts the new one in its place once it
    is closed)."""
    keep = [g for g in store.named_graphs() if g not in new]
    names = [*new, *keep]
    header = "# store " + " ".join(str(g) for g in names) + "\n"
    target = _entry(journal, header).with_suffix(".store")
    tmp = journal / f".{target.name}.tmp"
    journal.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        fresh = (chunk for g, statements in new.items() for chunk in _nquads(statements, g))
        _load_aside(tmp, names, fresh, kept=_kept_nquads(store, keep))
        os.rename(tmp, target)  # the commit point
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(journal)
    return target


def _header(entry: Path) -> tuple[str, list[ox.NamedNode]]:
    """(mode, graphs) of a journal entry; GraphError for anything else."""
    with open(entry, "rb") as fh:
        line = fh.readline().decode("utf-8", "replace").strip()
    mode, _, rest = line[2:].partition(" ") if line.startswith("# ") else ("", "", "")
    names = rest.split()
    if mode not in ("graph", "store") or not all(n.startswith("<") and n.endswith(">") for n in names):
        raise GraphError(f"{entry}: not a graph journal entry (first line {line[:80]!r}, "
                         "expected '# graph <IRI> ...' or '# store <IRI> ...')")
    if mode == "graph" and not names:
        raise GraphError(f"{entry}: graph journal entry names no graph (first line {line[:80]!r})")
    return mode, [ox.NamedNode(n[1:-1]) for n in names]


def _apply(store: ox.Store, entry: Path) -> None:
    """Apply one committed journal entry: drop its graphs (``graph``) or clear the store
    (``store``), bulk-load the file, delete it."""
    mode, graphs = _header(entry)
    if mode == "store":
        store.clear()
    else:
        store.update(" ;\n".join(f"DROP SILENT GRAPH {g}" for g in graphs))
    _load(store, entry, graphs)
    entry.unlink()


def _load(store: ox.Store, entry: Path, graphs: list[ox.NamedNode]) -> None:
    """Bulk-load a journal entry (not transactional: a kill may leave part of it loaded, which the
    next ``_apply`` drops or clears first) and flush it to disk."""
    store.bulk_load(path=str(entry), format=_NQ, lenient=True)  # parsed, or written by Oxigraph
    for g in graphs:
        store.add_graph(g)  # an empty new graph still exists
    store.flush()


def recover(store: ox.Store, journal: Path) -> int:
    """Finish the graph replacements committed in ``journal`` (a writer killed after its commit
    point) and delete uncommitted temporary files; returns how many were finished."""
    if not journal.is_dir():
        return 0
    for stray in journal.glob(".*.tmp"):  # uncommitted entries and stores, old stores moved away
        if stray.is_dir():
            shutil.rmtree(stray, ignore_errors=True)
        else:
            stray.unlink(missing_ok=True)
    done = 0
    for entry in sorted(journal.glob("*.nq")):
        log.warning("%s: finishing a graph replacement interrupted by a killed writer", entry)
        _apply(store, entry)
        done += 1
    return done


def write_graphs(store: ox.Store, graphs: Mapping[str, Sequence[str]], *,
                 journal: Path | None = None, check: bool = True,
                 aside: bool = False) -> dict[str, int]:
    """Replace each named graph of ``graphs`` ({graph IRI: statements ``"<s> <p> <o>"``}) in
    ``store``; return {graph IRI: distinct quads stored}. See the module docstring for the steps
    and the guarantees. A statement Oxigraph cannot parse is a GraphError and writes nothing of
    its graph: small graphs are parsed before their update; large ones before the commit, unless
    ``check`` is False (statements well-formed by construction: ``ontology.lines`` and terms
    written by pyoxigraph; parsing 520,000 of them costs about 1.8 s).

    aside: in store mode, build the new store in a directory of its own (``swap_pending`` then
    says so); ``store`` is left unchanged and the caller must drop it and open the store again
    (``open_store`` moves the new one in place first). Without it, store mode rewrites ``store``
    in place and the caller's handle stays valid."""
    counts: dict[str, int] = {}
    large: dict[ox.NamedNode, list[str]] = {}
    n_old: dict[ox.NamedNode, int] = {}
    name = ", ".join(f"<{g}>" for g in graphs)
    try:
        for iri, statements in graphs.items():
            name = f"<{iri}>"
            g = ox.NamedNode(str(iri))
            new = list(dict.fromkeys(statements))
            counts[iri] = len(new)
            old_count = _count(store, g)
            if _unchanged(store, g, new, old_count):
                log.info("graph %s: unchanged (%d triples)", name, len(new))
                continue
            if journal is not None and old_count + len(new) > JOURNAL_ABOVE:
                if check:  # a bad line found by the bulk loader would stop the entry's apply
                    for _ in _quads(new, g):
                        pass
                large[g], n_old[g] = new, old_count
                continue
            old = set(store.quads_for_pattern(None, None, None, g))
            _swap(store, g, old, list(_quads(new, g)))
            log.info("graph %s: %d triples", name, len(new))
        if large:
            assert journal is not None
            name = ", ".join(f"<{g.value}>" for g in large)
            mode = _plan(store, n_old)
            if mode == "store" and aside:
                _build_aside(store, journal, large)
            else:
                _apply(store, _commit(journal, mode, large, store if mode == "store" else None))
            log.info("graphs %s: %d triples through the journal (%s mode%s)", name,
                     sum(len(v) for v in large.values()), mode,
                     ", built aside" if mode == "store" and aside else "")
    except (OSError, RuntimeError, SyntaxError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphError(f"graph store: cannot write graph {name} ({msg})") from None
    return counts
