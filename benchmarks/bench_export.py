"""Benchmark of exporting a kept run's graph: seconds and peak resident memory per format.

Each export runs in a fresh process (``bench_graph.export_in_child``: ``export_graph``, VmHWM). For
the graph formats (Turtle, N-Triples, RDF/XML) it also times, in the same way, the union they were
written from before ``distinct_triples`` (a ``CONSTRUCT`` over ``SELECT DISTINCT``, which holds every
triple), so the two are compared within one run (``*_over_select_distinct``).

Prints one JSON line. Usage::

    nice .venv/bin/python benchmarks/bench_export.py --run /tmp/final-kgb [--formats ttl,nt]

The run is opened read-only; the exports go to a temporary directory (deleted). Default run:
``runs/fashion-mnist`` (``make demo``'s); the ImageNet-scale one is ``bench_graph.py --keep DIR``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_graph import export_in_child  # this folder's script, not a package

ROOT = Path(__file__).resolve().parents[1]

# The graph formats' union before ``distinct_triples``, in a fresh process like export_in_child.
SELECT_DISTINCT = """
import json, sys, time
import pyoxigraph as ox
from kgfilters.ontology.export import FORMATS, prefixes
from kgfilters.ontology.store import open_store
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return float('nan')
store = open_store(sys.argv[1], read_only=True)
before = hwm()
t = time.perf_counter()
q = ("CONSTRUCT { ?s ?p ?o } WHERE { SELECT DISTINCT ?s ?p ?o WHERE { "
     "{ GRAPH ?g { ?s ?p ?o } } UNION { ?s ?p ?o } } }")
ox.serialize(store.query(q), sys.argv[3], FORMATS[sys.argv[2]].oxigraph, prefixes=prefixes())
print(json.dumps({'s': time.perf_counter() - t, 'peak_mb': hwm(), 'base_mb': before}))
"""


def select_distinct_in_child(root: Path, fmt: str, target: Path) -> dict[str, float]:
    r = subprocess.run([sys.executable, "-c", SELECT_DISTINCT, str(root), fmt, str(target)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    from kgfilters.ontology.export import FORMATS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "fashion-mnist",
                   help="a run with a graph store (default: runs/fashion-mnist)")
    p.add_argument("--formats", default=",".join(FORMATS),
                   help=f"comma-separated formats (default: all: {','.join(FORMATS)})")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the SELECT DISTINCT union of the graph formats")
    args = p.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    if bad := [f for f in formats if f not in FORMATS]:
        p.error(f"--formats: {', '.join(bad)}: expected some of {', '.join(FORMATS)}")
    if not (args.run / "graph" / "CURRENT").is_file():
        p.error(f"--run {args.run}: no graph store (graph/CURRENT); build one with `kgfilters graph "
                "--run DIR` or `bench_graph.py --keep DIR --graph-only`")
    out: dict[str, object] = {"bench": "export", "run": str(args.run), "python": platform.python_version(),
                              "machine": platform.machine(), "cpus": os.cpu_count(),
                              "load_1min": round(os.getloadavg()[0], 2)}
    seconds, peak, size, triples = {}, {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for fmt in formats:
            target = Path(tmp) / f"graph.{FORMATS[fmt].extension}"
            got = export_in_child(args.run, fmt, target)
            seconds[fmt], peak[fmt] = round(got["s"], 2), round(got["peak_mb"], 1)
            size[fmt] = round(target.stat().st_size / 1e6, 1)
            out["base_mb"] = round(got["base_mb"], 1)
            _say(f"export {fmt}: {seconds[fmt]} s, {peak[fmt]} MB peak resident, {size[fmt]} MB")
            if not FORMATS[fmt].dataset and fmt != "jsonld" and not args.no_baseline:
                old = Path(tmp) / f"old.{FORMATS[fmt].extension}"
                got = select_distinct_in_child(args.run, fmt, old)
                key = f"{fmt}_select_distinct"
                seconds[key], peak[key] = round(got["s"], 2), round(got["peak_mb"], 1)
                out[f"{fmt}_over_select_distinct"] = {
                    "seconds": round(seconds[fmt] / max(seconds[key], 1e-3), 2),
                    "peak_mb": round(peak[fmt] / max(peak[key], 1e-3), 2)}
                if fmt == "nt":  # the same triples, each once: the sorted lines are equal
                    triples["nt_equal_to_select_distinct"] = (
                        sorted(target.read_text().splitlines()) == sorted(old.read_text().splitlines()))
                _say(f"  SELECT DISTINCT union {fmt}: {seconds[key]} s, {peak[key]} MB peak resident")
    out.update(export_s=seconds, export_peak_mb=peak, export_mb=size, **triples,
               load_1min_end=round(os.getloadavg()[0], 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
