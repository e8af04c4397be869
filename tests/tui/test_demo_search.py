"""Concept search on the demo run (issue 12): typing ``footwear`` in the browser lists exactly the
filters under a concept so labelled, as an independent SPARQL query over the run's graph finds them
(filters tagged with a class that denotes a concept under it, and filters whose coarse concept lies
under it). On a private copy of the suite's run through every stage (``tests/conftest.py``,
``pipeline_run``: Fashion-MNIST's class names, concept links from the offline WordNet)."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from textual.widgets import Tree

from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.tui import KgfApp

UNDER = """PREFIX kgf: <%s> PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?layer ?i WHERE {
  ?top skos:prefLabel|skos:notation ?l . FILTER(CONTAINS(LCASE(STR(?l)), "%s"))
  { ?c kgf:denotes/skos:broader* ?top . ?f kgf:taggedWith ?c } UNION { ?f kgf:coarseConcept/skos:broader* ?top }
  ?f kgf:channelIndex ?i ; kgf:inLayer/kgf:layerName ?layer }"""


async def test_footwear_lists_the_filters_under_it(pipeline_run: Path) -> None:
    run = pipeline_run
    store = ox.Store.read_only(str(run / "graph"))
    want = {(r["layer"].value, int(r["i"].value))
            for r in store.query(UNDER % (KGF_IRI, "footwear"), use_default_graph_as_union=True)}
    del store
    assert want  # the run's Sandal, Sneaker and Ankle boot are footwear
    app = KgfApp(run, catalog=())
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("slash", *"footwear")
        await pilot.pause(0.3)  # the concept search starts 0.2 s after the last key
        await app.workers.wait_for_complete()
        await pilot.pause()
        tree = app.query_one("#browser-tree", Tree)
        shown = {(str(leaf.data[1]), int(leaf.data[2])) for layer in tree.root.children for leaf in layer.children}
        assert all(layer.is_expanded for layer in tree.root.children if layer.children)
    assert shown == want
