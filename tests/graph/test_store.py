"""The persistent store: replacement, locking, read-only opening."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import RDF, Literal, URIRef

from kgfilters.errors import GraphError
from kgfilters.ontology.namespace import KGF
from kgfilters.ontology.store import graph_triples, open_store, replace_graph

G = URIRef("https://ex.org/graph/x")
A = URIRef("https://ex.org/a")


def test_replace_graph_counts_and_replaces(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert replace_graph(store, G, [(A, RDF.type, KGF.Filter), (A, KGF.channelIndex, Literal(3)),
                                    (A, RDF.type, KGF.Filter)]) == 2
    assert replace_graph(store, G, [(A, KGF.channelIndex, Literal(4))]) == 1
    assert graph_triples(store, G) == [(A, KGF.channelIndex, Literal(4))]

    def failing():  # type: ignore[no-untyped-def]
        yield (A, RDF.type, KGF.Layer)
        raise ValueError("emitter broke")

    with pytest.raises(ValueError, match="emitter broke"):
        replace_graph(store, G, failing())
    assert graph_triples(store, G) == [(A, KGF.channelIndex, Literal(4))]
    del store
    ro = open_store(tmp_path, read_only=True)
    assert len(graph_triples(ro, G)) == 1


def test_read_only_without_graph(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="no graph yet"):
        open_store(tmp_path, read_only=True)


def test_locked_by_another_process(tmp_path: Path) -> None:
    open_store(tmp_path)  # create it, then let go
    code = ("import sys, pyoxigraph as ox; s = ox.Store(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "graph")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(GraphError, match="locked by another process") as info:
            open_store(tmp_path)
        assert "\n" not in str(info.value)
        assert open_store(tmp_path, read_only=True) is not None  # readers still may
    finally:
        holder.communicate("", timeout=30)
    assert open_store(tmp_path) is not None


def test_replace_graph_with_blank_nodes_and_awkward_literals(tmp_path: Path) -> None:
    from rdflib import BNode

    store = open_store(tmp_path)
    b = BNode("x1")
    odd = Literal('quote " backslash \\ newline \n tab \t é', lang="en")
    assert replace_graph(store, G, [(b, RDF.type, KGF.Filter), (A, KGF.layerName, odd)]) == 2
    assert replace_graph(store, G, [(b, RDF.type, KGF.Layer), (A, KGF.layerName, odd)]) == 2
    got = graph_triples(store, G)
    assert len(got) == 2 and (A, KGF.layerName, odd) in got
    assert [t[2] for t in got if t[1] == RDF.type] == [KGF.Layer]
    assert replace_graph(store, G, []) == 0 and graph_triples(store, G) == []
