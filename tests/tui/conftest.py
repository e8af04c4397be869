"""Fixtures of the TUI tests: a tagged tiny run (built from scratch), masks in the FSAGN
metrics.json format, and a tiny knowledge graph in a persistent pyoxigraph store."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rdflib.namespace import SKOS

from kgfilters.ontology.namespace import KGF_IRI

BASE = "https://example.org/run/"
CN = "http://conceptnet.io/c/en/"

#: A small graph made by the real emitters (``kgfilters.ontology.emit``) from run files in their
#: formats: layer conv2 with two filters and two classes; conv2:0 tagged with classes 0 and 1,
#: coarse concept "garment" (under "clothing") for conv2:0 (support 2) and conv2:1 (support 1).
CLASS_NAMES = ("zero", "one")
TAGS_JSON = {"method": "k-best", "k": 2, "class_names": list(CLASS_NAMES), "layers": {"conv2": 2},
             "tags": [{"layer": "conv2", "filter": 0, "class_index": c, "label": CLASS_NAMES[c],
                       "score": 0.5, "rank": 1 + c, "method": "k-best", "param": 2} for c in (0, 1)]}
CONCEPTS_JSON = {
    "class_names": list(CLASS_NAMES),
    "links": [{"class_index": 0, "label": "zero", "concept": f"{CN}shirt", "source": "mapping", "term": "shirt"},
              {"class_index": 1, "label": "one", "concept": f"{CN}trousers", "source": "mapping",
               "term": "trousers"}],
    "concepts": [{"iri": f"{CN}garment", "label": "garment", "notation": "/c/en/garment", "source": "conceptnet"},
                 {"iri": f"{CN}clothing", "label": "clothing", "notation": "/c/en/clothing",
                  "source": "conceptnet"}],
    "broader": [[f"{CN}shirt", f"{CN}garment"], [f"{CN}trousers", f"{CN}garment"], [f"{CN}garment", f"{CN}clothing"]],
    "related": [],
}
COARSE_JSON = {"share": 0.5, "stop": [], "filters": [
    {"layer": "conv2", "filter": 0, "classes": [0, 1],
     "concepts": [{"concept": f"{CN}garment", "label": "garment", "support": 2, "classes": [0, 1]}]},
    {"layer": "conv2", "filter": 1, "classes": [0],
     "concepts": [{"concept": f"{CN}garment", "label": "garment", "support": 1, "classes": [0]}]},
]}


def _graphs() -> dict[str, list]:
    from kgfilters.ontology import emit
    from kgfilters.ontology.iris import Iris

    iris = Iris(BASE)
    tags = _tagset(TAGS_JSON)
    return {
        "model": list(emit.model_triples(iris, name="fsagn-mnist", layers={"conv2": 2}, class_names=CLASS_NAMES)),
        "tags": list(emit.tag_triples(iris, tags)),
        "concepts": list(emit.concept_triples(iris, CONCEPTS_JSON)),
        "coarsening": list(emit.coarsening_triples(iris, COARSE_JSON)),
    }


def _tagset(obj: dict):  # type: ignore[no-untyped-def]
    import json
    import tempfile

    from kgfilters.filtag import load_tags

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "tags.json"
        path.write_text(json.dumps(obj))
        return load_tags(path)


#: Every triple of the graph (the union of its named graphs).
GRAPH_TRIPLES = sorted({t for triples in _graphs().values() for t in triples})


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Textual pilots) in a fresh event loop, with no asyncio plugin."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


async def loaded(pilot, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app has read what it reads after its first screen (tags, statistics and
    masks, in ``KgfApp.load_run_data``), its views show them, and its other workers are done."""
    import time

    app, end = pilot.app, time.monotonic() + timeout
    while not (app.view.tags_ready and app.view.stats_ready):  # the worker reads the masks next
        assert time.monotonic() < end, f"the run's data were not read within {timeout} s"
        await pilot.pause(0.01)
    await pilot.pause()  # the TagsLoaded / StatsLoaded messages handled (workers they start included)
    await app.workers.wait_for_complete()
    await pilot.pause()


def build_graph(path: Path) -> Path:
    """Write the graph into a persistent store at ``path`` (one named graph per stage, through
    the store's own ``replace_graph``, as ``kgfilters graph`` does) and close it."""
    import pyoxigraph as ox

    from kgfilters.ontology.iris import Iris
    from kgfilters.ontology.store import replace_graph

    store = ox.Store(str(path))
    for stage, triples in _graphs().items():
        replace_graph(store, Iris(BASE).graph(stage), triples)
    store.flush()
    del store
    return path


#: The held-out image the fixture's sensitive areas are on.
MASK_IMAGE = 3


def write_masks(root: Path, *, layer: str = "conv2", index: int = 0) -> Path:
    """Two sensitive areas of ``layer:index`` on held-out image MASK_IMAGE (reservation and
    occlusion), written with the FSAGN part's own writers in its format (one npz per filter and
    strategy, one (H, W) array per method and image); a fixed rectangle stands in for the
    generator's mask (the format, not the method)."""
    from kgfilters.fsagn.masks_io import mask_key, save_npz, write_metrics

    yy, xx = np.mgrid[0:28, 0:28]
    mask = ((xx > 8) & (xx < 20) & (yy > 4) & (yy < 16)).astype(np.float32)
    areas = []
    for strategy, fidelity in (("reservation", 0.875), ("occlusion", 0.5)):
        npz = root / "masks" / f"{layer}_{index}_{strategy}.npz"
        save_npz(npz, {mask_key("fsagn", MASK_IMAGE): mask, mask_key("fsagn", MASK_IMAGE + 1): 1 - mask})
        areas.append({"layer": layer, "filter": index, "strategy": strategy, "method": "fsagn", "split": "heldout",
                      "image": MASK_IMAGE, "area_fraction": float(mask.mean()),
                      "mask_file": str(npz.relative_to(root)), "mask_key": mask_key("fsagn", MASK_IMAGE),
                      "metrics": {"correlation": fidelity, "response_ratio": 0.25}})
    return write_metrics(root, areas, {})


@pytest.fixture(scope="session")
def tagged_run_template(tmp_path_factory: pytest.TempPathFactory, trained_run_template: Path) -> Path:
    """The trained tiny run with statistics and k-best (k=3) tags of conv1 and conv2."""
    from kgfilters.pipeline import tag_run

    root = tmp_path_factory.mktemp("tui") / "tagged"
    shutil.copytree(trained_run_template, root)
    tag_run(root, method="k-best", param=3, device=torch.device("cpu"), progress=False)
    return root


@pytest.fixture()
def tagged_run(tmp_path: Path, tagged_run_template: Path) -> Path:
    dst = tmp_path / "tagged"
    shutil.copytree(tagged_run_template, dst)
    return dst


@pytest.fixture()
def full_run(tagged_run: Path) -> Path:
    """A tagged run with masks and a knowledge graph."""
    write_masks(tagged_run)
    build_graph(tagged_run / "graph")
    return tagged_run


@pytest.fixture()
def catalog_dir(tmp_path: Path) -> Path:
    d = tmp_path / "queries"
    d.mkdir()
    (d / "filters-by-concept.rq").write_text(
        "# question: Every filter with its coarse concept.\n"
        f"PREFIX kgf: <{KGF_IRI}>\n"
        "SELECT ?f ?concept WHERE { ?f kgf:coarseConcept ?concept } ORDER BY ?f\n", encoding="utf-8")
    (d / "narrower.rq").write_text(
        "# question: Which concepts lie directly under a concept, and which filters of a layer carry it?\n"
        "# param: c iri  the broader concept, e.g. http://conceptnet.io/c/en/garment\n"
        "# param: layer string = conv2  the layer whose filters are listed\n"
        f"PREFIX kgf: <{KGF_IRI}>\nPREFIX skos: <{SKOS}>\n"
        "SELECT ?x ?i WHERE { ?x skos:broader ?c .\n"
        "  OPTIONAL { ?f kgf:coarseConcept ?c ; kgf:channelIndex ?i ; kgf:inLayer/kgf:layerName ?layer } }\n"
        "ORDER BY ?x ?i\n", encoding="utf-8")
    return d
