"""TUI responsiveness: time to first screen and key-press-to-update latency, headless.

By default a run is generated: synthetic 28x28 IDX data (a bright square per class), the small
network with random weights, FILTAG statistics and k-best tags, and a synthetic graph of
``--triples`` triples in a persistent Oxigraph store (filters, tags, concepts). Prints one JSON line.

    python benchmarks/bench_tui.py                        # generated run, 100k triples
    python benchmarks/bench_tui.py --run runs/fashion-mnist --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import platform
import statistics
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

KGF = "https://w3id.org/kgfilters#"
SKOS = "http://www.w3.org/2004/02/skos/core#"


def _idx(path: Path, a: np.ndarray) -> None:
    head = struct.pack(">BBBB", 0, 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
        f.write(head + a.astype(np.uint8).tobytes())


def make_data(root: Path, n_train: int = 1000, n_test: int = 500) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(labels):
            r, col = 2 + (c // 5) * 14, 1 + (c % 5) * 5
            images[i, r:r + 8, col:col + 8] = 220
        _idx(root / f"{part}-images-idx3-ubyte", images)
        _idx(root / f"{part}-labels-idx1-ubyte", labels)
    return root


def make_run(tmp: Path, triples: int) -> Path:
    from safetensors.torch import save_file

    from kgfilters.atomic import atomic_write_json
    from kgfilters.models import build_model
    from kgfilters.pipeline import create_run, tag_run
    from kgfilters.run import read_run_json

    root = tmp / "run"
    create_run(root, data_root=make_data(tmp / "data"), seed=0)
    torch.manual_seed(0)
    model = build_model("fsagn-mnist", num_classes=10, weights="random", device=torch.device("cpu"))
    save_file(model.state_dict(), str(root / "model.safetensors"))
    cfg = read_run_json(root)
    cfg["model"]["weights"] = "model.safetensors"
    atomic_write_json(root / "run.json", cfg)
    tag_run(root, method="k-best", param=5, device=torch.device("cpu"), progress=False)
    if triples:
        make_graph(root / "graph", triples)
    return root


def make_graph(path: Path, triples: int) -> None:
    """A synthetic graph shaped like the knowledge graph: filters in layers, tags, concepts."""
    import pyoxigraph as ox

    base = "https://example.org/bench/"
    p = {k: ox.NamedNode(KGF + k) for k in ("inLayer", "channelIndex", "taggedWith", "coarseConcept", "layerName")}
    broader = ox.NamedNode(SKOS + "broader")
    g = ox.NamedNode(base + "graph")
    layer = ox.NamedNode(base + "layer/big")
    quads = [ox.Quad(layer, p["layerName"], ox.Literal("big"), g)]
    concepts = [ox.NamedNode(f"http://conceptnet.io/c/en/c{i}") for i in range(200)]
    quads += [ox.Quad(concepts[i], broader, concepts[i // 2], g) for i in range(1, 200)]
    i = 0
    while len(quads) < triples:
        f = ox.NamedNode(f"{base}layer/big/filter/{i}")
        quads += [ox.Quad(f, p["inLayer"], layer, g),
                  ox.Quad(f, p["channelIndex"], ox.Literal(str(i), datatype=ox.NamedNode(
                      "http://www.w3.org/2001/XMLSchema#integer")), g),
                  ox.Quad(f, p["taggedWith"], ox.NamedNode(f"{base}class/{i % 10}"), g),
                  ox.Quad(f, p["coarseConcept"], concepts[i % 200], g)]
        i += 1
    store = ox.Store(str(path))
    store.bulk_extend(quads)
    store.flush()
    del store


async def measure(root: Path, repeats: int) -> dict[str, float]:
    from textual.widgets import TextArea

    from kgfilters.tui import KgfApp

    t0 = time.perf_counter()
    app = KgfApp(root, catalog=())
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        out["first_screen_s"] = time.perf_counter() - t0
        await app.workers.wait_for_complete()

        async def timed(*keys: str, workers: bool = False) -> float:
            t = time.perf_counter()
            await pilot.press(*keys)
            if workers:
                await app.workers.wait_for_complete()
            await pilot.pause()
            return time.perf_counter() - t

        out["browser_sort_key_s"] = statistics.median([await timed("s") for _ in range(repeats)])
        app.open_filter(next(iter(app.view.layer_sizes)), 0)
        await pilot.pause()
        out["filter_next_key_s"] = statistics.median(
            [await timed("right_square_bracket", workers=True) for _ in range(repeats)])
        await pilot.press("escape", "2")
        await app.workers.wait_for_complete()
        out["explain_next_key_s"] = statistics.median([await timed("n", workers=True) for _ in range(repeats)])
        if app.graph is not None:
            await pilot.press("4")
            app.query_one(TextArea).text = "SELECT ?f ?c WHERE { ?f kgf:coarseConcept ?c }"
            out["query_first_page_s"] = statistics.median(
                [await timed("ctrl+r", workers=True) for _ in range(repeats)])
            out["query_next_page_s"] = await timed("ctrl+n", workers=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=None, help="an existing run (default: generate one)")
    ap.add_argument("--triples", type=int, default=100_000, help="size of the generated graph")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        root = args.run or make_run(Path(tmp), args.triples)
        setup = time.perf_counter() - t
        figures = asyncio.run(measure(root, args.repeats))
    print(json.dumps({"benchmark": "tui", "run": "generated" if args.run is None else str(args.run),
                      "triples": args.triples if args.run is None else None, "setup_s": round(setup, 2),
                      **{k: round(v, 4) for k, v in figures.items()}, "repeats": args.repeats,
                      "machine": f"{platform.machine()} {platform.processor() or platform.system()}, "
                                 f"torch threads {torch.get_num_threads()}"}))


if __name__ == "__main__":
    main()
