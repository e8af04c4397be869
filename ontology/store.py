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
    "BULK_THRESHOLD",
    "dataset",
    "from_ox",
    "graph_triples",
    "has_store",
    "open_store",
    "replace_graph",
    "store_path",
    "to_ox",
]

log = logging.getLogger(__name__)

#: Above this many triples ``replace_graph`` uses Oxigraph's bulk loader (about twice as fast,
#: not transactional: the triples are all converted before the old graph is dropped).
BULK_THRESHOLD = 10_000

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


def replace_graph(store: ox.Store, graph_iri: str | URIRef, triples: Iterable[Triple]) -> int:
    """Replace named graph ``graph_iri`` of ``store`` by ``triples``; return the number stored.

    The triples are converted before the old graph is dropped, so an error while producing them
    leaves the graph as it was. Small graphs load in one transaction; large ones (more than
    ``BULK_THRESHOLD``) through the bulk loader.
    """
    graph = ox.NamedNode(str(graph_iri))
    quads = to_ox(triples, graph)
    try:
        if store.contains_named_graph(graph):
            store.remove_graph(graph)
        if len(quads) > BULK_THRESHOLD:
            store.bulk_extend(quads)
        else:
            store.extend(quads)
        store.add_graph(graph)
    except OSError as exc:
        raise GraphError(f"graph store: cannot write graph <{graph_iri}> ({exc})") from None
    log.info("graph <%s>: %d triples", graph_iri, len(quads))
    return len(quads)


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
