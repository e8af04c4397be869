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

KGF = "https://w3id.org/kgfilters#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
BASE = "https://example.org/run/"
CN = "http://conceptnet.io/c/en/"

#: A hand-made graph: conv2:0 tagged with classes 0 and 1, coarse concept "garment" > "clothing".
GRAPH_TRIPLES = [
    (f"{BASE}layer/conv2", f"{KGF}layerName", '"conv2"'),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}inLayer", f"<{BASE}layer/conv2>"),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}channelIndex", "0"),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}taggedWith", f"<{BASE}class/0>"),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}taggedWith", f"<{BASE}class/1>"),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}coarseConcept", f"<{CN}garment>"),
    (f"{BASE}layer/conv2/filter/1", f"{KGF}inLayer", f"<{BASE}layer/conv2>"),
    (f"{BASE}layer/conv2/filter/1", f"{KGF}channelIndex", "1"),
    (f"{BASE}layer/conv2/filter/1", f"{KGF}coarseConcept", f"<{CN}garment>"),
    (f"{BASE}class/0", f"{SKOS}prefLabel", '"zero"'),
    (f"{BASE}class/1", f"{SKOS}prefLabel", '"one"'),
    (f"{BASE}class/0", f"{KGF}denotes", f"<{CN}shirt>"),
    (f"{BASE}class/1", f"{KGF}denotes", f"<{CN}trousers>"),
    (f"{CN}shirt", f"{SKOS}broader", f"<{CN}garment>"),
    (f"{CN}trousers", f"{SKOS}broader", f"<{CN}garment>"),
    (f"{CN}garment", f"{SKOS}broader", f"<{CN}clothing>"),
    # as the concepts and coarsening stages write them: labels, and the reified coarse concept
    (f"{CN}garment", f"{SKOS}prefLabel", '"garment"'),
    (f"{CN}clothing", f"{SKOS}prefLabel", '"clothing"'),
    (f"{BASE}layer/conv2/filter/0", f"{KGF}hasCoarseConcept", f"<{BASE}coarse/conv2/0/garment>"),
    (f"{BASE}coarse/conv2/0/garment", f"{KGF}concept", f"<{CN}garment>"),
    (f"{BASE}coarse/conv2/0/garment", f"{KGF}supportCount", "2"),
]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Textual pilots) in a fresh event loop, with no asyncio plugin."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


def build_graph(path: Path) -> Path:
    """Write GRAPH_TRIPLES into a persistent store at ``path`` (in a named graph, as the graph
    stage does) and close it."""
    import pyoxigraph as ox

    def term(t: str):  # type: ignore[no-untyped-def]
        if t.startswith("<"):
            return ox.NamedNode(t[1:-1])
        if t.startswith('"'):
            return ox.Literal(t[1:-1])
        if t.isdigit():
            return ox.Literal(t, datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))
        return ox.NamedNode(t)

    store = ox.Store(str(path))
    g = ox.NamedNode(f"{BASE}graph/tags")
    store.extend([ox.Quad(term(s), term(p), term(o), g) for s, p, o in GRAPH_TRIPLES])
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
        "PREFIX kgf: <https://w3id.org/kgfilters#>\n"
        "SELECT ?f ?concept WHERE { ?f kgf:coarseConcept ?concept } ORDER BY ?f\n", encoding="utf-8")
    (d / "narrower.rq").write_text(
        "# question: Which concepts lie directly under a concept, and which filters of a layer carry it?\n"
        "# param: c iri  the broader concept, e.g. http://conceptnet.io/c/en/garment\n"
        "# param: layer string = conv2  the layer whose filters are listed\n"
        "PREFIX kgf: <https://w3id.org/kgfilters#>\nPREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
        "SELECT ?x ?i WHERE { ?x skos:broader ?c .\n"
        "  OPTIONAL { ?f kgf:coarseConcept ?c ; kgf:channelIndex ?i ; kgf:inLayer/kgf:layerName ?layer } }\n"
        "ORDER BY ?x ?i\n", encoding="utf-8")
    return d
