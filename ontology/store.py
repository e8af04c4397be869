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
from kgfilters.run import RunPaths

__all__ = [
    "KEEP_LOGS",
    "dataset",
    "drop_graphs",
    "from_ox",
    "graph_triples",
    "has_store",
    "open_store",
    "prune_logs",
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
            return ox.Store.read_only(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return ox.Store(str(path))
    except (OSError, RuntimeError) as exc:  # pyoxigraph raises RuntimeError for a damaged store
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in msg.lower():
            raise GraphError(
                f"{path}: the graph store is locked by another process (or an open Store in this "
                "one); wait for it to finish and try again"
            ) from None
        raise GraphError(f"{path}: cannot open the graph store ({msg})") from None


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
    if any(isinstance(t, ox.BlankNode) for q in (*old, *new) for t in (q.subject, q.object)):
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


def replace_graph(store: ox.Store, graph_iri: str | URIRef, triples: Iterable[Triple]) -> int:
    """Replace named graph ``graph_iri`` of ``store`` by ``triples``; return the number stored.

    Atomic: the triples are converted first (an error while producing them leaves the graph as it
    was), then the old graph is turned into the new one in a single transaction (``_swap``), so a
    kill at any point leaves the old graph or the new one, never an empty or half-written graph.
    Cost: only the difference is written; a full replacement of a large graph pays Oxigraph's
    transactional write (slower than its non-transactional bulk loader, see docs/benchmarks.md).
    """
    graph = ox.NamedNode(str(graph_iri))
    quads = to_ox(triples, graph)
    try:
        old = set(store.quads_for_pattern(None, None, None, graph))
        _swap(store, graph, old, quads)
    except (OSError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphError(f"graph store: cannot write graph <{graph_iri}> ({msg})") from None
    log.info("graph <%s>: %d triples", graph_iri, len(quads))
    return len(quads)


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
