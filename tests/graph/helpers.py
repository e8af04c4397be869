"""Helpers shared by the graph tests."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, URIRef

from kgfilters.ontology.store import from_ox, open_store


def store_graphs(root: Path) -> dict[str, Graph]:
    """Every named graph of the run's store as an rdflib Graph, by graph IRI."""
    store = open_store(root, read_only=True)
    out: dict[str, Graph] = {}
    for q in store:
        key = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else ""
        out.setdefault(key, Graph(identifier=URIRef(key) if key else None)).add(
            (from_ox(q.subject), from_ox(q.predicate), from_ox(q.object))
        )
    del store
    return out


def union(graphs: dict[str, Graph]) -> Graph:
    g = Graph()
    for part in graphs.values():
        for t in part:
            g.add(t)
    return g


def sorted_nt(root: Path, graph_iri: str) -> list[str]:
    """The N-Triples lines of one named graph, sorted."""
    store = open_store(root, read_only=True)
    quads = store.quads_for_pattern(None, None, None, ox.NamedNode(graph_iri))
    data = ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in quads],
                        format=ox.RdfFormat.N_TRIPLES) or b""
    del store
    return sorted(data.decode("utf-8").splitlines())
