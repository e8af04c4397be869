"""The run's persistent RDF store (Oxigraph, in ``<run>/graph/``) and rdflib views of it.

One process at a time may open the store for writing (Oxigraph takes a lock); any number may open
it read-only. A pyoxigraph ``Store`` has no ``close``: drop the last reference (``del store``) to
release the lock before opening it again in the same process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Dataset, Literal, URIRef

from kgfilters.errors import GraphError
from kgfilters.ontology.journal import (
    JOURNAL_ABOVE,
    finish_swaps,
    journal_dir,
    pending,
    recover,
    swap_pending,
    write_graphs,
)
from kgfilters.run import RunPaths

__all__ = [
    "JOURNAL_ABOVE",
    "KEEP_LOGS",
    "dataset",
    "drop_graphs",
    "finish_swaps",
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
    "swap_pending",
    "to_ox",
    "write_graphs",
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
    journal = journal_dir(run_root)
    try:
        if read_only:
            if pending(run_root) and not _recover_if_free(run_root):
                raise GraphError(
                    f"{path}: the graph store is being rewritten by another process (a committed "
                    f"replacement in {journal}); try again when it has finished"
                )
            if not has_store(run_root):
                raise GraphError(f"{path}: no graph yet; run `kgfilters graph --run {run_root}` first")
            return ox.Store.read_only(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            finish_swaps(path, journal)  # a new store committed beside this one: move it in
            store = ox.Store(str(path))
            if not swap_pending(journal):
                recover(store, journal)
                return store
            del store  # a writer committed a new store just before this open: take that one
        raise GraphError(f"{path}: the graph store keeps being replaced by another process; "
                         "try again when it has finished")
    except (OSError, RuntimeError) as exc:  # pyoxigraph raises RuntimeError for a damaged store
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in msg.lower():
            raise GraphError(
                f"{path}: the graph store is locked by another process (or an open Store in this "
                "one); wait for it to finish and try again"
            ) from None
        raise GraphError(f"{path}: cannot open the graph store ({msg})") from None


def _recover_if_free(run_root: str | os.PathLike[str]) -> bool:
    """Finish a killed writer's committed replacements before a reader opens the store; False
    when a live writer holds the store (it is applying them: the reader must not look now)."""
    path, journal = store_path(run_root), journal_dir(run_root)
    try:
        finish_swaps(path, journal)
        store = ox.Store(str(path))
    except (OSError, RuntimeError):  # locked by a live writer
        return False
    try:
        recover(store, journal)
    finally:
        del store
    return True


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


def replace_graph(store: ox.Store, graph_iri: str | URIRef, triples: Iterable[Triple], *,
                  journal: Path | None = None) -> int:
    """Replace named graph ``graph_iri`` of ``store`` by ``triples``; return the number stored.

    The rdflib entry point of ``journal.write_graphs`` (``build_graph`` writes statements from
    ``ontology.lines`` directly). Atomic: the triples are converted first (an error while
    producing them leaves the graph as it was); an unchanged graph is not written at all; a small
    graph (or any, without ``journal``) is replaced in a single transaction, a large one through
    the roll-forward journal ``journal`` (bulk-load speed). Either way a kill at any point leaves
    the old graph or the new one (for the journal: once the next ``open_store`` has finished the
    replacement), never an empty or half-written graph.
    """
    quads = to_ox(triples, ox.DefaultGraph())
    statements = [f"{q.subject} {q.predicate} {q.object}" for q in quads]
    return write_graphs(store, {str(graph_iri): statements}, journal=journal)[str(graph_iri)]


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
