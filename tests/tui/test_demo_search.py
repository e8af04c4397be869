"""Concept search on the demo run (issue 12): typing ``footwear`` in the browser lists exactly the
filters under a concept so labelled, as an independent SPARQL query over the run's graph finds them
(filters tagged with a class that denotes a concept under it, and filters whose coarse concept lies
under it). On a /tmp copy of /work/demo-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from textual.widgets import Tree

from kgfilters.tui import KgfApp

DEMO = Path("/work/demo-run")
UNDER = """PREFIX kgf: <https://w3id.org/kgfilters#> PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?layer ?i WHERE {
  ?top skos:prefLabel|skos:notation ?l . FILTER(CONTAINS(LCASE(STR(?l)), "%s"))
  { ?c kgf:denotes/skos:broader* ?top . ?f kgf:taggedWith ?c } UNION { ?f kgf:coarseConcept/skos:broader* ?top }
  ?f kgf:channelIndex ?i ; kgf:inLayer/kgf:layerName ?layer }"""


async def test_footwear_lists_the_filters_under_it(tmp_path: Path) -> None:
    if not (DEMO / "graph").is_dir() or not (DEMO / "concepts.json").is_file():
        pytest.skip("no demo run with concepts at /work/demo-run (make demo)")
    run = tmp_path / "demo"
    shutil.copytree(DEMO, run)
    store = ox.Store.read_only(str(run / "graph"))
    want = {(r["layer"].value, int(r["i"].value))
            for r in store.query(UNDER % "footwear", use_default_graph_as_union=True)}
    del store
    assert want  # the demo's Sandal, Sneaker and Ankle boot are footwear
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
