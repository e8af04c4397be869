"""The run's persistent RDF store (Oxigraph, in ``<run>/graph/``) and rdflib views of it.

One process at a time may open the store for writing (Oxigraph takes a lock); any number may open
it read-only. A pyoxigraph ``Store`` has no ``close``: drop the last reference (``del store``) to
release the lock before opening it again in the same process.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Dataset, Literal, URIRef

from kgfilters.atomic import atomic_path
from kgfilters.errors import GraphError
from kgfilters.run import RunPaths

__all__ = [
    "KEEP_LOGS",
    "dataset",
    "drop_graphs",
    "from_ox",
    "graph_triples",
    "has_store",
    "journal_dir",
    "open_store",
    "pending",
    "prune_logs",
    "recover",
    "replace_graph",
    "store_path",
    "to_ox",
]

log = logging.getLogger(__name__)

#: How many old Oxigraph log files (``graph/LOG.old.*``) ``prune_logs`` keeps.
KEEP_LOGS = 3

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

Triple = tuple[URIRef | BNode, URIRef, URIRef | BNode | Literal]


def store_path(run_root: str | os.PathLike[str]) -> Path:
    """``<run>/graph``: the directory of the run's Oxigraph store."""
    return RunPaths(Path(run_root)).graph


def has_store(run_root: str | os.PathLike[str]) -> bool:
    """Whether the run has a graph store yet."""
    return (store_path(run_root) / "CURRENT").is_file()


def open_store(run_root: str | os.PathLike[str], *, read_only: bool = False) -> ox.Store:
    """Open the run's persistent store (created on first write).

    read_only: open without the write lock (several readers may share the store); GraphError when
    no graph was built yet. A store locked by another writer gives a one-line GraphError.
    """
    path = store_path(run_root)
    if read_only and not has_store(run_root):
        raise GraphError(f"{path}: no graph yet; run `kgfilters graph --run {run_root}` first")
    try:
        if read_only:
            if pending(run_root):
                _recover_if_free(run_root)
            return ox.Store.read_only(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        store = ox.Store(str(path))
        recover(store, journal_dir(run_root))
        return store
    except (OSError, RuntimeError) as exc:  # pyoxigraph raises RuntimeError for a damaged store
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in msg.lower():
            raise GraphError(
                f"{path}: the graph store is locked by another process (or an open Store in this "
                "one); wait for it to finish and try again"
            ) from None
        raise GraphError(f"{path}: cannot open the graph store ({msg})") from None


def _recover_if_free(run_root: str | os.PathLike[str]) -> None:
    """Finish a killed writer's committed replacements before a reader opens the store, unless a
    live writer holds it (that writer finishes them itself)."""
    try:
        store = ox.Store(str(store_path(run_root)))
    except (OSError, RuntimeError):  # locked by a live writer
        return
    try:
        recover(store, journal_dir(run_root))
    finally:
        del store


def _converter() -> Callable[[object], ox.NamedNode | ox.BlankNode | ox.Literal]:
    """rdflib -> pyoxigraph term conversion with a cache (emission converts millions of terms;
    IRIs and small literals repeat)."""
    cache: dict[object, ox.NamedNode | ox.BlankNode | ox.Literal] = {}
    named, literal = ox.NamedNode, ox.Literal

    def term(t: object) -> ox.NamedNode | ox.BlankNode | ox.Literal:
        node = cache.get(t) if type(t) is URIRef else None
        if node is not None:
            return node
        if isinstance(t, URIRef):
            node = cache[t] = named(t)
        elif isinstance(t, Literal):
            if t.language:
                node = literal(str(t), language=t.language)
            elif t.datatype:
                node = literal(str(t), datatype=term(t.datatype))  # type: ignore[arg-type]
            else:
                node = literal(str(t))
        elif isinstance(t, BNode):
            node = ox.BlankNode(str(t))
        else:
            raise GraphError(f"cannot store RDF term {t!r} of type {type(t).__name__}")
        return node

    return term


def to_ox(triples: Iterable[Triple], graph: ox.NamedNode | ox.DefaultGraph) -> list[ox.Quad]:
    """rdflib triples -> pyoxigraph quads in ``graph`` (duplicates removed, order kept)."""
    term, quad = _converter(), ox.Quad
    return list(dict.fromkeys(quad(term(s), term(p), term(o), graph) for s, p, o in triples))


def from_ox(term: ox.NamedNode | ox.BlankNode | ox.Literal) -> URIRef | BNode | Literal:
    """pyoxigraph term -> rdflib term (xsd:string literals become plain, as rdflib parses them)."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    dt = term.datatype.value
    return Literal(term.value) if dt == _XSD_STRING else Literal(term.value, datatype=URIRef(dt))


def _nt(quads: Iterable[ox.Quad]) -> str:
    """Quads as the triples of a SPARQL ``... DATA`` block (N-Triples terms, escaped by Oxigraph)."""
    return " ".join(f"{q.subject} {q.predicate} {q.object} ." for q in quads)


def _swap(store: ox.Store, graph: ox.NamedNode, old: set[ox.Quad], new: list[ox.Quad]) -> None:
    """Turn ``graph`` from ``old`` into ``new`` in ONE SPARQL update, which Oxigraph applies as
    one transaction: a reader, or a store left by a killed process, sees the old graph or the new
    one, never neither. Only the difference is written (re-emitting an unchanged stage writes
    nothing); graphs with blank nodes (which ``DELETE DATA`` cannot name) are dropped and
    re-inserted in the same update."""
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


#: Graphs with at most this many quads (old + new) are replaced in one Oxigraph transaction
#: (``_swap``); larger ones through the journal (``_swap_journaled``), whose bulk load is several
#: times faster than Oxigraph's transactional write (docs/benchmarks.md).
JOURNAL_ABOVE = 20_000


def journal_dir(run_root: str | os.PathLike[str]) -> Path:
    """``<run>/graph.journal``: committed graph replacements not yet applied to the store (each an
    N-Quads file); empty or absent when the store is complete."""
    graph = store_path(run_root)
    return graph.with_name(graph.name + ".journal")


def _entry(journal: Path, graph: ox.NamedNode) -> Path:
    return journal / (hashlib.sha256(graph.value.encode("utf-8")).hexdigest()[:32] + ".nq")


def _swap_journaled(store: ox.Store, graph: ox.NamedNode, new: list[ox.Quad], journal: Path) -> None:
    """Replace ``graph`` by ``new`` through a roll-forward journal, at bulk-load speed.

    1. the new graph is written to ``journal/<hash>.nq`` (N-Quads, a ``# graph <g>`` header,
       fsync) and renamed into place: this rename is the commit point;
    2. ``_apply``: the old graph is dropped (one transaction), the file is bulk-loaded into the
       store, the store flushed and the file deleted.
    A kill before the rename leaves the old graph (and at most a stray temporary file); a kill
    after it leaves the journal entry, which the next ``open_store`` applies again (dropping first
    makes that idempotent), so whoever opens the store next finds the old graph or the new one.
    """
    _apply(store, _commit(journal, graph, new))


def _commit(journal: Path, graph: ox.NamedNode, new: list[ox.Quad]) -> Path:
    """Write the journal entry of ``graph`` := ``new``; its rename into place commits it."""
    target = _entry(journal, graph)
    with atomic_path(target, suffix=".nq") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(f"# graph {graph}\n".encode())
            ox.serialize(new, fh, ox.RdfFormat.N_QUADS)
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(journal)
    return target


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)


def _apply(store: ox.Store, entry: Path) -> None:
    """Apply one committed journal entry: drop its graph, bulk-load the file, delete it."""
    with open(entry, "rb") as fh:
        header = fh.readline().decode("utf-8").strip()
    if not (header.startswith("# graph <") and header.endswith(">")):
        raise GraphError(f"{entry}: not a graph journal entry (first line {header[:80]!r}, "
                         "expected '# graph <IRI>')")
    graph = ox.NamedNode(header[len("# graph <"):-1])
    store.update(f"DROP SILENT GRAPH {graph}")
    _load(store, entry, graph)
    entry.unlink()


def _load(store: ox.Store, entry: Path, graph: ox.NamedNode) -> None:
    """Bulk-load a journal entry (not transactional: a kill may leave part of it loaded, which the
    next ``_apply`` drops first) and flush it to disk."""
    store.bulk_load(path=str(entry), format=ox.RdfFormat.N_QUADS)
    store.add_graph(graph)  # an empty new graph still exists
    store.flush()


def recover(store: ox.Store, journal: Path) -> int:
    """Finish the graph replacements committed in ``journal`` (a writer killed after its commit
    point) and delete uncommitted temporary files; returns how many were finished."""
    if not journal.is_dir():
        return 0
    for stray in journal.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    done = 0
    for entry in sorted(journal.glob("*.nq")):
        log.warning("%s: finishing a graph replacement interrupted by a killed writer", entry)
        _apply(store, entry)
        done += 1
    return done


def pending(run_root: str | os.PathLike[str]) -> bool:
    """Whether a killed writer left committed graph replacements to finish."""
    journal = journal_dir(run_root)
    return journal.is_dir() and any(journal.glob("*.nq"))


def replace_graph(store: ox.Store, graph_iri: str | URIRef, triples: Iterable[Triple], *,
                  journal: Path | None = None) -> int:
    """Replace named graph ``graph_iri`` of ``store`` by ``triples``; return the number stored.

    Atomic: the triples are converted first (an error while producing them leaves the graph as it
    was); an unchanged graph is not written at all; then a small graph (or any, without
    ``journal``) is turned into the new one in a single transaction (``_swap``), a large one
    through the roll-forward journal ``journal`` (``_swap_journaled``: bulk-load speed). Either
    way a kill at any point leaves the old graph or the new one (for the journal: once the next
    ``open_store`` has finished the replacement), never an empty or half-written graph.
    """
    graph = ox.NamedNode(str(graph_iri))
    quads = to_ox(triples, graph)
    try:
        n_old = _count(store, graph)  # counted inside Oxigraph: no Python objects
        old: set[ox.Quad] | None = None
        if quads and n_old == len(quads) and not _has_bnodes(quads):
            old = set(store.quads_for_pattern(None, None, None, graph))
            if old.issuperset(quads):
                log.info("graph <%s>: unchanged (%d triples)", graph_iri, len(quads))
                return len(quads)
        if journal is not None and n_old + len(quads) > JOURNAL_ABOVE:
            _swap_journaled(store, graph, quads, journal)
        else:
            if old is None:
                old = set(store.quads_for_pattern(None, None, None, graph))
            _swap(store, graph, old, quads)
    except (OSError, RuntimeError, SyntaxError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphError(f"graph store: cannot write graph <{graph_iri}> ({msg})") from None
    log.info("graph <%s>: %d triples", graph_iri, len(quads))
    return len(quads)


def _count(store: ox.Store, graph: ox.NamedNode) -> int:
    """Number of quads in ``graph``."""
    rows = store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}")
    return int(next(iter(rows))[0].value)  # type: ignore[index, arg-type]


def _has_bnodes(quads: Iterable[ox.Quad]) -> bool:
    return any(isinstance(t, ox.BlankNode) for q in quads for t in (q.subject, q.object))


def drop_graphs(store: ox.Store, graphs: Iterable[ox.NamedNode | str]) -> int:
    """Drop ``graphs`` from ``store`` in one transaction; returns how many there were."""
    names = [g if isinstance(g, ox.NamedNode) else ox.NamedNode(str(g)) for g in graphs]
    if names:
        try:
            store.update(" ;\n".join(f"DROP SILENT GRAPH {g}" for g in names))
        except (OSError, RuntimeError) as exc:
            raise GraphError(f"graph store: cannot drop graphs ({exc})") from None
    return len(names)


def prune_logs(run_root: str | os.PathLike[str], *, keep: int = KEEP_LOGS) -> int:
    """Delete all but the newest ``keep`` Oxigraph (RocksDB) ``LOG.old.*`` files of the store;
    each write leaves one of about 140 KB. Returns how many were deleted."""
    logs = sorted(store_path(run_root).glob("LOG.old.*"), key=lambda p: p.stat().st_mtime)
    gone = 0
    for path in logs[: max(0, len(logs) - keep)]:
        try:
            path.unlink()
            gone += 1
        except OSError as exc:  # another process may be pruning too
            log.debug("%s: not deleted (%s)", path, exc)
    return gone


def graph_triples(store: ox.Store, graph_iri: str | URIRef) -> list[Triple]:
    """The triples of one named graph, as rdflib terms."""
    graph = ox.NamedNode(str(graph_iri))
    return [
        (from_ox(q.subject), from_ox(q.predicate), from_ox(q.object))  # type: ignore[misc]
        for q in store.quads_for_pattern(None, None, None, graph)
    ]


def dataset(run_root: str | os.PathLike[str], *, read_only: bool = True) -> Dataset:
    """An rdflib ``Dataset`` over the run's store (oxrdflib), named graphs as rdflib graphs.

    read_only (default): a reader's view that does not block writers of the store; read a named
    graph with ``ds.get_context(iri)`` (``ds.graph(iri)`` creates it, which needs a writable store).
    """
    from oxrdflib import OxigraphStore

    return Dataset(store=OxigraphStore(store=open_store(run_root, read_only=read_only)))
