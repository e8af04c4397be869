"""TUI responsiveness: time to first screen and key-press-to-update latency, headless.

By default a run is generated: synthetic 28x28 IDX data (a bright square per class), the small
network with random weights, FILTAG statistics and k-best tags, and a synthetic graph of
``--triples`` triples in a persistent Oxigraph store (filters, tags, concepts).

``--kg-bench`` runs on the knowledge-graph benchmark instead: ``bench_graph.build_benchmark_run``
writes its VGG16 x ImageNet run (13 conv layers, 4,224 filters, 1,000 classes, 65,000 k-best tags,
1,000 explanations, 10,000 sensitive areas) and builds its ~851,000-triple graph with the real
emission code; this script adds what the explain view needs: ``"weights": "random"`` in run.json
(VGG16, random weights, built when the explain view first runs) and an ImageFolder of
``--images-per-class`` random 32x32 images per class (upscaled to 224x224 by the data loader).

Prints one JSON line: ``import_s`` (importing the TUI in a fresh interpreter); ``first_screen_s``
(from ``KgfApp(run)`` to the first frame painted: the app's ``after_first_screen`` hook, which
Textual calls once the screen is refreshed and idle; ``first_screen_layers`` is how many layers the
browser showed in it); the key latencies; ``quit_s`` (from the quit key, ctrl+q, to the app's end);
and the same two for a fresh process as a user starts it: ``process_first_screen_s`` (from
starting ``python`` to the first frame, imports included) and ``process_quit_s`` (from the quit key
to the process gone, quitting as ``kgfilters tui`` does). The first screen waits for no torch: the
statistics (the browser's activity figures) are read in a worker after it, and
``activity_shown_s`` is when they are shown. Nor does it wait for the tags (tags.json: 65,000 on
the kg-bench run): they are read in the same worker, first, and ``tags_shown_s`` is when the
browser shows them (its layers: ``tags_shown_layers``). No figure waits for Textual's idle detection (which
sleeps up to 1 s while a worker thread computes).

    python benchmarks/bench_tui.py                        # generated run, 100k triples
    python benchmarks/bench_tui.py --kg-bench             # the knowledge-graph benchmark run
    python benchmarks/bench_tui.py --kg-bench --keep /tmp/kgb   # ... kept for later --run
    python benchmarks/bench_tui.py --kg-bench --run /tmp/kgb    # a run bench_graph.py --keep kept
    python benchmarks/bench_tui.py --run runs/fashion-mnist --repeats 5
    python benchmarks/bench_tui.py --start-only /work/demo-run /tmp/final-kgb --repeats 5  # start/quit only,
                                                          # the runs in turns (one load for both)

``--start-only`` prints per run: ``first_screen_s``, ``tags_shown_s``, ``activity_shown_s`` and
``quit_busy_s`` (the quit key right after the activity figures, with the concept tree or masks
possibly still loading) of one app per repeat, ``quit_first_frame_s`` of a second app quit at its
first frame, and ``process_first_screen_s`` / ``process_quit_s`` of a fresh process (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kgfilters.ontology.namespace import KGF_IRI as KGF

HERE = Path(__file__).resolve().parent
#: Typed into the browser's search box one key at a time (``browser_search_key_s``).
SEARCH = "class 7"
#: The query view's query on the synthetic graph (it has no kgf:Tag nodes).
SYNTHETIC_QUERY = "SELECT ?f ?c WHERE { ?f kgf:coarseConcept ?c }"
#: On a real graph: every tag with its filter and class, best score first (a long sorted result to page).
TAGS_QUERY = ("SELECT ?layer ?filter ?class ?score WHERE { ?tag kgf:tagClass ?c ; kgf:tagFilter ?f ; "
              "kgf:score ?score . ?f kgf:channelIndex ?filter ; kgf:inLayer/kgf:layerName ?layer . "
              "?c skos:prefLabel ?class } ORDER BY DESC(?score)")
#: The catalog query run through the parameter form on a real graph, with a class label the graph has.
CATALOG_QUERY = "filters-tagged-with"
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


def make_kg_run(root: Path, *, small: bool, images_per_class: int) -> dict[str, object]:
    """The knowledge-graph benchmark's run at ``root`` (``bench_graph.build_benchmark_run``),
    plus random VGG16 weights and an ImageFolder so that the explain view can run."""


    sys.path.insert(0, str(HERE))
    from bench_graph import build_benchmark_run

    info = build_benchmark_run(root, small=small)
    add_explain_inputs(root, images_per_class)
    return info


def add_explain_inputs(root: Path, images_per_class: int) -> None:
    """What the explain view needs beyond the benchmark run: random VGG16 weights and an
    ImageFolder of ``images_per_class`` random 32x32 images per class, beside the run."""
    from PIL import Image

    from kgfilters.atomic import atomic_write_json
    from kgfilters.run import read_run_json

    cfg = read_run_json(root)
    data = root.parent / f"{root.name}-images"
    rng = np.random.default_rng(0)
    for c in range(len(cfg["dataset"]["class_names"])):  # folder order = class order
        d = data / f"c{c:04d}"
        d.mkdir(parents=True)
        for i in range(images_per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.png")
    cfg["dataset"]["root"] = str(data)
    cfg["model"]["weights"] = "random"
    atomic_write_json(root / "run.json", cfg)


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


async def measure(root: Path, repeats: int, query: str) -> dict[str, float | None]:
    from textual.widgets import DataTable, Input, ListView, TextArea, Tree

    from kgfilters.tui import KgfApp
    from kgfilters.tui.explain_pane import ExplainPane
    from kgfilters.tui.param_form import ParamForm
    from kgfilters.tui.query_pane import QueryPane

    t0 = time.perf_counter()
    app = KgfApp(root)
    out: dict[str, float | None] = {}
    first = _mark_first_screen(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await first.wait()
        out["first_screen_s"] = first.at - t0  # type: ignore[attr-defined]
        out["first_screen_layers"] = first.layers  # type: ignore[attr-defined]
        await first.tags.wait()  # type: ignore[attr-defined]
        out["tags_shown_s"] = first.tags_at - t0  # type: ignore[attr-defined]
        out["tags_shown_layers"] = first.tags_layers  # type: ignore[attr-defined]
        from kgfilters.tui.browser import BrowserPane

        browser = app.query_one(BrowserPane)
        done = asyncio.Event()
        shown = browser.refresh_activity

        def activity() -> None:
            shown()
            out["activity_shown_s"] = time.perf_counter() - t0
            done.set()

        browser.refresh_activity = activity  # type: ignore[method-assign]
        if app.view.stats_ready:  # read before this hook was in place
            out["activity_shown_s"] = None
        else:
            await done.wait()
        await pilot.pause()
        await app.workers.wait_for_complete()
        tree = app.query_one("#browser-tree", Tree)

        async def timed(*keys: str, workers: bool = False) -> float:
            t = time.perf_counter()
            await pilot.press(*keys)
            if workers:
                await app.workers.wait_for_complete()
            await pilot.pause()
            return time.perf_counter() - t

        out["noop_key_s"] = statistics.median([await timed("x") for _ in range(repeats)])  # the harness
        out["browser_filters"] = sum(app.view.layer_sizes.values())
        out["browser_sort_key_s"] = statistics.median([await timed("s") for _ in range(repeats)])
        await pilot.press("slash")
        shown, settled = [], []
        for ch in SEARCH:  # one key at a time: to the tree showing the matches, then to idle
            t = time.perf_counter()
            await pilot.press(ch if ch != " " else "space")
            await pilot.pause()
            shown.append(time.perf_counter() - t)
            await app.workers.wait_for_complete()  # the concept search (debounced, in the graph)
            await pilot.pause()
            settled.append(time.perf_counter() - t)
        out["browser_search_key_s"] = statistics.median(shown)
        out["browser_search_key_max_s"] = max(shown)
        out["browser_search_settled_s"] = statistics.median(settled)
        out["browser_search_settled_max_s"] = max(settled)
        await pilot.press("enter")  # back to the tree, as a user would
        app.query_one("#browser-search", Input).value = ""
        await app.workers.wait_for_complete()
        await pilot.pause()
        biggest = max(tree.root.children, key=lambda n: app.view.layer_sizes[str(n.data[1])])
        tree.move_cursor(biggest)
        if biggest.is_expanded:  # a small model's layers start open: time opening it again
            await pilot.press("space")
        await pilot.pause()
        out["browser_expand_filters"] = app.view.layer_sizes[str(biggest.data[1])]
        out["browser_expand_key_s"] = await timed("space")
        await pilot.press("space")
        app.open_filter(next(iter(app.view.layer_sizes)), 0)
        await pilot.pause()
        out["filter_next_key_s"] = statistics.median(
            [await timed("right_square_bracket", workers=True) for _ in range(repeats)])
        out["mask_next_key_s"] = None
        held = app.view.heldout_count() if app.view.masks else 0
        # a filter every mask of which is on an image the run has (`m` cycles through them; the
        # kg-bench run's areas name more images than its ImageFolder holds): None when there is none
        ok: dict[tuple[str, int], bool] = {}
        files: dict[str, bool] = {}  # the kg-bench run lists areas but writes no mask files
        for m in app.view.masks:
            key = (m.layer, m.filter)
            if m.mask_file not in files:
                files[m.mask_file] = (app.view.root / m.mask_file).is_file()
            ok[key] = ok.get(key, True) and m.split == "heldout" and m.image < held and files[m.mask_file]
        area = next((a for a in app.view.masks if ok[(a.layer, a.filter)]), None)
        if area is not None:  # `m`: the next sensitive area's five panels (two forward passes)
            await pilot.press("escape")
            app.open_filter(area.layer, area.filter)
            await app.workers.wait_for_complete()
            await pilot.pause()
            out["mask_next_key_s"] = statistics.median([await timed("m", workers=True) for _ in range(repeats)])
            if not app.screen.query(".panel"):
                caption = app.screen.query_one("#filter-mask-caption").content
                raise SystemExit(f"bench_tui: no mask panels shown: {caption}")
        await pilot.press("escape", "2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.query_one(ExplainPane).explanation is not None:
            out["explain_next_key_s"] = statistics.median(
                [await timed("n", workers=True) for _ in range(repeats)])
        else:  # the run cannot explain (no weights or no images): nothing to time
            out["explain_next_key_s"] = None
        if app.graph is not None:
            await pilot.press("4")
            pane = app.query_one(QueryPane)
            table = pane.query_one(DataTable)
            app.query_one(TextArea).text = query
            out["query_first_page_s"] = statistics.median(
                [await timed("ctrl+r", workers=True) for _ in range(repeats)])
            _check_rows(pane, table)
            first = table.row_count
            if pane.more:  # a result of one page has no next page to time
                out["query_next_page_s"] = statistics.median(
                    [await timed("ctrl+n", workers=True) for _ in range(repeats)])
            else:
                out["query_next_page_s"] = None
            out["query_rows_paged"] = table.row_count - first
            names = [q.name for q in app.catalog]
            label = app.graph.select("SELECT ?l WHERE { ?t kgf:tagClass ?c . ?c skos:prefLabel ?l } LIMIT 1")
            if CATALOG_QUERY in names and label:
                catalog_list = pane.query_one("#query-catalog", ListView)
                catalog_list.focus()
                catalog_list.index = names.index(CATALOG_QUERY)
                await pilot.press("enter")
                await pilot.pause()
                field = pane.query_one(ParamForm).query_one(Input)
                field.value = label[0]["l"]
                field.focus()
                out["query_catalog_form_s"] = statistics.median(
                    [await timed("enter", workers=True) for _ in range(repeats)])
                _check_rows(pane, table)
        t_quit = time.perf_counter()
        app.simulate_key("ctrl+q")  # quits from any view, the query editor included
        await app._task  # type: ignore[misc]  # the app's own task (what run_test awaits) has ended
        out["quit_s"] = time.perf_counter() - t_quit
    return out


def _mark_first_screen(app: object) -> asyncio.Event:
    """An event set when ``app`` paints its first frame, with ``.at`` (perf_counter) and
    ``.layers`` (the browser's layer rows then). Wraps the app's own ``after_first_screen``.

    ``.tags`` is set (``.tags_at``, ``.tags_layers``) when the browser shows the tags the app reads
    after its first screen (at once when the first screen already had them, as before that change)."""
    event = asyncio.Event()
    event.tags = asyncio.Event()  # type: ignore[attr-defined]
    original = app.after_first_screen  # type: ignore[attr-defined]

    def layers() -> int:
        return len(app.query_one("#browser-tree").root.children)  # type: ignore[attr-defined]

    def hook() -> None:
        event.at = time.perf_counter()  # type: ignore[attr-defined]
        event.layers = layers()  # type: ignore[attr-defined]
        event.set()
        from kgfilters.tui.browser import BrowserPane

        browser = app.query_one(BrowserPane)  # type: ignore[attr-defined]
        shown = getattr(browser, "tags_loaded", None)
        if shown is None or getattr(app.view, "tags_ready", True):  # type: ignore[attr-defined]
            event.tags_at, event.tags_layers = event.at, event.layers  # type: ignore[attr-defined]
            event.tags.set()  # type: ignore[attr-defined]
        else:
            def tags() -> None:
                shown()
                event.tags_at, event.tags_layers = time.perf_counter(), layers()  # type: ignore[attr-defined]
                event.tags.set()  # type: ignore[attr-defined]

            browser.tags_loaded = tags
        original()

    app.after_first_screen = hook  # type: ignore[attr-defined]
    return event


async def measure_start(root: Path, repeats: int) -> dict[str, float | int]:
    """Medians over ``repeats`` apps started in this process: the first frame, the browser
    showing the tags, the activity figures shown, and quitting at once after that
    (``quit_busy_s``: the concept tree and the masks may still be loading); and per repeat a second
    app quit at its first frame (``quit_first_frame_s``, as the fresh process does)."""
    from kgfilters.tui import KgfApp
    from kgfilters.tui.browser import BrowserPane

    marks: dict[str, list[float]] = {"first_screen_s": [], "tags_shown_s": [], "activity_shown_s": [],
                                     "quit_busy_s": [], "quit_first_frame_s": []}
    layers = (0, 0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        app = KgfApp(root)
        first = _mark_first_screen(app)
        async with app.run_test(size=(120, 40)):
            await first.wait()
            browser = app.query_one(BrowserPane)
            done = asyncio.Event()
            shown = browser.refresh_activity

            def activity(shown=shown, done=done, t0=t0) -> None:  # type: ignore[no-untyped-def]
                shown()
                marks["activity_shown_s"].append(time.perf_counter() - t0)
                done.set()

            browser.refresh_activity = activity  # type: ignore[method-assign]
            await first.tags.wait()  # type: ignore[attr-defined]
            if not app.view.stats_ready:
                await done.wait()
            marks["first_screen_s"].append(first.at - t0)  # type: ignore[attr-defined]
            marks["tags_shown_s"].append(first.tags_at - t0)  # type: ignore[attr-defined]
            layers = (first.layers, first.tags_layers)  # type: ignore[attr-defined]
            t_quit = time.perf_counter()
            app.simulate_key("ctrl+q")
            await app._task  # type: ignore[misc]
            marks["quit_busy_s"].append(time.perf_counter() - t_quit)
        app = KgfApp(root)
        first = _mark_first_screen(app)
        async with app.run_test(size=(120, 40)):
            await first.wait()
            t_quit = time.perf_counter()
            app.simulate_key("ctrl+q")
            await app._task  # type: ignore[misc]
            marks["quit_first_frame_s"].append(time.perf_counter() - t_quit)
    return {**{k: statistics.median(v) for k, v in marks.items() if v},
            "first_screen_layers": layers[0], "tags_shown_layers": layers[1]}


#: A fresh process: start the app headless, note the first frame, press the quit key at once (the
#: worker reading the tags and statistics has just started), and end the process as ``kgfilters
#: tui`` does (``_exit_now``); prints wall-clock times as JSON.
_CHILD = """
import asyncio, json, sys, time
from kgfilters.tui import KgfApp
from kgfilters.cli.tui import _exit_now
marks = {}
async def main():
    app = KgfApp(sys.argv[1])
    original = app.after_first_screen
    def hook():
        marks["first"] = time.time()
        marks["layers"] = len(app.query_one("#browser-tree").root.children)
        original()
    app.after_first_screen = hook
    async with app.run_test(size=(120, 40)):
        while "first" not in marks:
            await asyncio.sleep(0.001)
        marks["quit"] = time.time()
        app.simulate_key("ctrl+q")
        await app._task
    print(json.dumps(marks), flush=True)
    _exit_now(app.return_code or 0)
asyncio.run(main())
"""


def process_times(root: Path, repeats: int) -> dict[str, float | int]:
    """Medians over ``repeats`` fresh processes: from starting ``python`` to the first frame, and
    from the quit key to the process gone."""
    import subprocess

    first, quit_, layers = [], [], 0
    for _ in range(repeats):
        t0 = time.time()
        p = subprocess.run([sys.executable, "-c", _CHILD, str(root)], capture_output=True, text=True)
        end = time.time()
        if p.returncode != 0:
            raise SystemExit(f"bench_tui: the fresh TUI process failed: {p.stderr.strip()[-500:]}")
        marks = json.loads(p.stdout.strip().splitlines()[-1])
        first.append(marks["first"] - t0)
        quit_.append(end - marks["quit"])
        layers = marks["layers"]
    return {"process_first_screen_s": statistics.median(first), "process_quit_s": statistics.median(quit_),
            "process_first_screen_layers": layers}


def import_seconds(repeats: int) -> float:
    """Median seconds to import the TUI (``kgfilters.tui``) in a fresh interpreter: the part of
    start-up before the first screen that ``first_screen_s`` does not see."""
    import subprocess

    code = "import time; t = time.perf_counter(); import kgfilters.tui; print(time.perf_counter() - t)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                  text=True).stdout) for _ in range(repeats))


def _check_rows(pane: object, table: object) -> None:
    """Stop the benchmark when the query view shows an error instead of rows (no figure is made up)."""
    if not table.row_count:  # type: ignore[attr-defined]
        status = pane.query_one("#query-status").content  # type: ignore[attr-defined]
        raise SystemExit(f"bench_tui: the query view shows no rows: {status}")


def _count_triples(path: Path) -> int | None:
    """Quads in a run's graph store (None without one)."""
    if not path.is_dir():
        return None
    import pyoxigraph as ox

    return len(ox.Store.read_only(str(path)))


def start_only(runs: list[Path], repeats: int) -> None:
    """``--start-only``: in-process and fresh-process start-up and quit figures of each run,
    measured in turns (run A, run B, A, B, ...) so that a change in load hits every run alike."""
    for root in runs:
        if not (root / "run.json").is_file():
            raise SystemExit(f"bench_tui: --start-only {root}: no run.json (expected an existing run)")
    got: dict[Path, list[dict[str, float | int]]] = {root: [] for root in runs}
    for _ in range(repeats):
        for root in runs:
            got[root].append({**asyncio.run(measure_start(root, 1)), **process_times(root, 1)})
    for root in runs:
        rows = got[root]
        print(json.dumps({"benchmark": "tui-start", "run": str(root), "repeats": repeats,
                          **{k: round(statistics.median(r[k] for r in rows), 4) if isinstance(rows[0][k], float)
                             else rows[-1][k] for k in rows[0]},
                          "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
                                     f"load {os.getloadavg()[0]:.1f}"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=None, help="an existing run (default: generate one)")
    ap.add_argument("--triples", type=int, default=100_000, help="size of the generated graph")
    ap.add_argument("--kg-bench", action="store_true",
                    help="run on bench_graph.py's VGG16 x ImageNet run and graph (~851k triples)")
    ap.add_argument("--small", action="store_true", help="with --kg-bench: its 20x smaller graph")
    ap.add_argument("--images-per-class", type=int, default=3,
                    help="with --kg-bench: images per class in the ImageFolder (3: 2 tag, 1 held out)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="with --kg-bench: build the run in DIR (must not exist) and keep it, with its "
                         "images in DIR-images beside it")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--start-only", type=Path, nargs="+", default=None, metavar="RUN",
                    help="time only starting and quitting the TUI on each RUN (existing runs), the runs "
                         "taking turns in each repeat (one load for all); one JSON line per run")
    args = ap.parse_args()
    if args.start_only is not None:
        start_only(args.start_only, args.repeats)
        return
    if args.keep is not None and (not args.kg_bench or args.keep.exists()):
        ap.error(f"--keep {args.keep}: needs --kg-bench and a directory that does not exist yet")
    if args.kg_bench and args.run is not None and args.keep is not None:
        ap.error("--kg-bench --run DIR uses a kept run; drop --keep")
    torch.set_num_threads(1)
    graph_info: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.kg_bench and args.run is not None:  # a run kept by bench_graph.py --keep DIR --graph-only
            root, label = args.run, f"kg-bench {args.run}"
            if not (root.parent / f"{root.name}-images").is_dir():
                add_explain_inputs(root, args.images_per_class)
        elif args.kg_bench:
            root = args.keep.resolve() if args.keep is not None else Path(tmp) / "run"
            graph_info = make_kg_run(root, small=args.small, images_per_class=args.images_per_class)
            label = "kg-bench " + str(graph_info["scale"])
        elif args.run is not None:
            root, label = args.run, str(args.run)
        else:
            root, label = make_run(Path(tmp), args.triples), "generated"
        setup = time.perf_counter() - t
        query = SYNTHETIC_QUERY if label == "generated" else TAGS_QUERY
        figures = {"import_s": import_seconds(args.repeats), **process_times(root, args.repeats),
                   **asyncio.run(measure(root, args.repeats, query))}
    triples = graph_info.get("triples", args.triples if label == "generated" else _count_triples(root / "graph"))
    print(json.dumps({"benchmark": "tui", "run": label, "triples": triples, "setup_s": round(setup, 2),
                      **{k: v if v is None or isinstance(v, int) else round(v, 4) for k, v in figures.items()},
                      "query": query, "catalog_query": CATALOG_QUERY if "query_catalog_form_s" in figures else None,
                      "repeats": args.repeats,
                      "machine": f"{platform.machine()} {platform.processor() or platform.system()}, "
                                 f"{os.cpu_count()} cores (shared), load {os.getloadavg()[0]:.1f}, "
                                 f"torch threads {torch.get_num_threads()}"}))


if __name__ == "__main__":
    main()
