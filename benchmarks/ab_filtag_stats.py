"""A/B of two versions of the FILTAG statistics pass against the truncated forward, in one process.

The old version's ``kgfilters/stats.py`` is loaded from a ``git archive`` extract beside the
working tree's; both must give the same sums byte for byte (checked first), then the truncated
forward (``bench_filtag.truncated_forward_pass``), the old and the new pass run interleaved with
the order turning every repeat. Prints, per pass, the median wall time, the paired median
(pass / truncated forward of the same repeat) with a 95% bootstrap interval, the CPU-time paired
median and the fastest-repeat ratio, then new / old paired, and the load range.

    mkdir -p /tmp/old && git archive REV kgfilters | tar -x -C /tmp/old
    python benchmarks/ab_filtag_stats.py --old /tmp/old --repeats 15               # small network
    python benchmarks/ab_filtag_stats.py --old /tmp/old --model vgg16 --images 16 --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from kgfilters import stats as new_stats
from kgfilters.data import TensorImages, load_splits
from kgfilters.evaluate.resampling import bootstrap_stat_ci
from kgfilters.models import build_model, conv_layers, get_model_spec

sys.path.insert(0, str(Path(__file__).parent))
from bench_filtag import truncated_forward_pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="directory holding the old version's kgfilters/")
    ap.add_argument("--model", default="fsagn-mnist")
    ap.add_argument("--images", type=int, default=None, help="default 2048 (small network), 16 (others)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 256 (small network), 8 (others)")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    src = Path(args.old) / "kgfilters" / "stats.py"
    spec_ = importlib.util.spec_from_file_location("old_kgfilters_stats", src)
    if spec_ is None or spec_.loader is None or not src.is_file():
        raise SystemExit(f"--old {args.old}: no kgfilters/stats.py there")
    old_stats = importlib.util.module_from_spec(spec_)
    sys.modules[spec_.name] = old_stats
    spec_.loader.exec_module(old_stats)
    spec, cpu = get_model_spec(args.model), torch.device("cpu")
    if spec.torchvision:
        n, bs = args.images or 16, args.batch_size or 8
        gen = torch.Generator().manual_seed(0)
        ds = TensorImages(torch.randint(0, 256, (n, 3, spec.input_size, spec.input_size), dtype=torch.uint8,
                                        generator=gen), torch.arange(n) % 1000)
        classes = tuple(str(c) for c in range(1000))
    else:
        splits = load_splits()
        n, bs = args.images or 2048, args.batch_size or 256
        ds, classes = splits.tag.subset(torch.arange(n)), splits.class_names
    model = build_model(args.model, num_classes=len(classes), weights="random", device=cpu)
    layers = list(conv_layers(model))

    def stats_of(module):  # type: ignore[no-untyped-def]
        return module.compute_stats(model, spec, ds, layers=layers, class_names=classes, device=cpu,
                                    batch_size=bs, progress=False)

    a, b = stats_of(old_stats), stats_of(new_stats)
    for name in layers:
        if a.layers[name].sums.numpy().tobytes() != b.layers[name].sums.numpy().tobytes():
            raise SystemExit(f"layer {name}: old and new sums differ")
    print(f"old == new byte for byte, {len(layers)} layers, {len(ds)} images", flush=True)
    passes = {
        "truncated": lambda: truncated_forward_pass(model, spec, ds, cpu, bs, False, False, layers),
        "old": lambda: stats_of(old_stats),
        "new": lambda: stats_of(new_stats),
    }
    names = list(passes)

    def run(name: str) -> tuple[float, float]:
        wall, cpu_s = time.perf_counter(), time.process_time()
        passes[name]()
        return time.perf_counter() - wall, time.process_time() - cpu_s

    for name in names:  # warm-up
        run(name)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    loads = []
    for rep in range(args.repeats):
        loads.append(os.getloadavg()[0])
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(run(name))
    loads.append(os.getloadavg()[0])
    print(f"load {min(loads):.2f}-{max(loads):.2f}")
    trunc = times["truncated"]
    for name in names:
        wall = [t[0] for t in times[name]]
        paired = torch.tensor([t[0] / u[0] for t, u in zip(times[name], trunc, strict=True)], dtype=torch.float64)
        paired_cpu = [t[1] / u[1] for t, u in zip(times[name], trunc, strict=True)]
        ci = bootstrap_stat_ci(paired, lambda r: r.median(dim=1).values)
        print(f"{name:9s} wall median {statistics.median(wall):.3f} s  paired {float(paired.median()):.3f} "
              f"[{ci.low:.3f}, {ci.high:.3f}]  CPU-time paired {statistics.median(paired_cpu):.3f}  "
              f"fastest repeats {min(wall) / min(t[0] for t in trunc):.3f}")
    ratio = [t[0] / u[0] for t, u in zip(times["new"], times["old"], strict=True)]
    print(f"new / old paired {statistics.median(ratio):.3f}")


if __name__ == "__main__":
    main()
