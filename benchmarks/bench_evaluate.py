"""Benchmark of ``kgfilters evaluate``: wall time of a full evaluation of a run (copied first, so
the run itself is left unchanged), split into the held-out pass and the statistics; prints one
JSON line.

Run: ``.venv/bin/python benchmarks/bench_evaluate.py --run /work/demo-run``
     (add ``--method contrastive:5`` to time a second tag method side by side)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, default=Path("runs/fashion-mnist"))
    ap.add_argument("--method", default=None, help="other tag methods, e.g. contrastive:5")
    ap.add_argument("--draws", type=int, default=200)
    args = ap.parse_args()

    import torch

    from kgfilters.evaluate.run import evaluate_run, parse_methods
    from kgfilters.run import load_run
    from kgfilters.stats import collect

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        shutil.copytree(args.run, root, ignore=shutil.ignore_patterns("graph", "exports"))
        run = load_run(root)
        layer = list(run.stats.layers)[-1]
        t = time.perf_counter()
        collect(run.model, run.spec, run.splits.heldout, layers=[layer], device=torch.device("cpu"))
        heldout_s = time.perf_counter() - t
        t = time.perf_counter()
        ev = evaluate_run(root, methods=parse_methods(args.method), draws=args.draws, ablation=True, fsagn=True)
        total_s = time.perf_counter() - t
    print(json.dumps({
        "benchmark": "evaluate", "run": str(args.run), "methods": 1 + len(parse_methods(args.method)),
        "draws": args.draws, "images": ev.data["images"],
        "sections": [k for k in ("tags", "hits", "hits_vs_accuracy", "conformance", "ablation", "fsagn")
                     if k in ev.data],
        "evaluate_s": round(total_s, 2), "heldout_pass_s": round(heldout_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "machine": machine(),
    }))


if __name__ == "__main__":
    main()
