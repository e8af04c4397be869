"""FILTAG statistics pass vs. a bare forward pass over the same data, in one process.

Prints one JSON line: images/s of each, and two ratios: ``stats_over_forward_ratio`` (time of the
statistics pass / time of the whole network's forward pass) and
``stats_over_truncated_forward_ratio`` (/ time of the forward pass cut short after the last hooked
layer, with hooks that keep nothing: what the statistics pass must at least compute, the true
limit), and peak memory.

The passes are interleaved, the order turning every repeat. On a shared machine the headline is
``stats_over_truncated_paired_median``: the median over repeats of (statistics pass / truncated
forward of the same repeat), with a 95% bootstrap interval over the repeats
(``..._paired_ci95``); beside it the same from process CPU time (both passes' threads), the ratio
of the fastest repeats (least disturbed by other jobs) and the 1-minute load average at every
repeat.

    python benchmarks/bench_filtag.py --images 2048 --repeats 15   # small network, Fashion-MNIST, CPU
    python benchmarks/bench_filtag.py --model vgg16 --images 16 --batch-size 8 --repeats 7
    python benchmarks/bench_filtag.py --model vgg16 --device cuda --bf16 --channels-last
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable

import torch

from kgfilters.data import TensorImages, iter_batches, load_splits
from kgfilters.device import pick_device
from kgfilters.evaluate.resampling import bootstrap_stat_ci
from kgfilters.hooks import capture, forward_until_captured
from kgfilters.models import build_model, conv_layers, get_model_spec
from kgfilters.stats import compute_stats


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def forward_pass(model, spec, ds, device, batch_size, bf16, channels_last) -> None:  # type: ignore[no-untyped-def]
    for x, _ in iter_batches(ds, batch_size):
        x = spec.prepare(x.to(device, non_blocking=True))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model(x)


@torch.no_grad()
def truncated_forward_pass(model, spec, ds, device, batch_size, bf16, channels_last,  # type: ignore[no-untyped-def]
                           layers) -> None:
    """The forward pass up to the last of ``layers`` and no further.

    The hooks keep nothing (an empty tensor each, not the output): hooks that kept the outputs
    held every hooked layer's output until the next batch (on VGG16 about 430 MB per batch of 8),
    work the statistics pass does not do; in one VGG16 run that baseline was the slower of the
    two (docs/benchmarks.md).
    """
    with capture(model, layers, lambda t: t.new_empty(0), stop=True) as out:
        for x, _ in iter_batches(ds, batch_size):
            x = spec.prepare(x.to(device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                forward_until_captured(model, x, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="fsagn-mnist")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--images", type=int, default=None, help="default: the tag split (small net), 4096 (others)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--no-whole", action="store_true", help="skip the whole network's forward pass")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    device = pick_device(args.device)
    spec = get_model_spec(args.model)
    if spec.torchvision:
        n = args.images or 4096
        gen = torch.Generator().manual_seed(0)
        ds = TensorImages(
            torch.randint(0, 256, (n, 3, spec.input_size, spec.input_size), dtype=torch.uint8,
                          generator=gen).to(device),
            (torch.arange(n) % 1000).to(device),
        )
        classes = tuple(str(c) for c in range(1000))
        model = build_model(args.model, num_classes=1000, weights="random", device=device)
        source = f"random uint8 images {spec.input_size}x{spec.input_size} on {device.type}"
    else:
        splits = load_splits()
        ds = splits.tag if args.images is None else splits.tag.subset(torch.arange(args.images))
        classes = splits.class_names
        model = build_model(args.model, num_classes=len(classes), weights="random", device=device)
        source = "Fashion-MNIST tag split"
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    layers = list(conv_layers(model))

    def timed(fn: Callable[[], None]) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            """(wall seconds, process CPU seconds) of one pass."""
            _sync(device)
            t, c = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            return time.perf_counter() - t, time.process_time() - c
        return run

    run_forward = timed(lambda: forward_pass(model, spec, ds, device, args.batch_size, args.bf16,
                                             args.channels_last))
    run_truncated = timed(lambda: truncated_forward_pass(model, spec, ds, device, args.batch_size, args.bf16,
                                                         args.channels_last, layers))
    run_stats = timed(lambda: compute_stats(model, spec, ds, layers=layers, class_names=classes, device=device,
                                            batch_size=args.batch_size, bf16=args.bf16,
                                            channels_last=args.channels_last, progress=False))
    order = [("truncated", run_truncated), ("stats", run_stats)]
    if not args.no_whole:
        order.insert(0, ("forward", run_forward))
    for _, fn in order:  # warm-up (allocator, cuDNN autotuning)
        fn()
    load_before = os.getloadavg()[0]
    loads = []
    peak = {}
    times: dict[str, list[float]] = {name: [] for name, _ in order}
    cpu: dict[str, list[float]] = {name: [] for name, _ in order}
    for rep in range(args.repeats):
        # Interleaved, and the order turns every repeat, so a change of machine load (or of the
        # allocator's state left by the previous pass) falls on all passes alike.
        loads.append(round(os.getloadavg()[0], 2))
        k = rep % len(order)
        for name, fn in order[k:] + order[:k]:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            wall, cpu_s = fn()
            times[name].append(wall)
            cpu[name].append(cpu_s)
            if device.type == "cuda":
                peak[name] = torch.cuda.max_memory_allocated(device) / 2**20
    trunc, sts = times["truncated"], times["stats"]
    t_sts, t_trunc = statistics.median(sts), statistics.median(trunc)
    t_fwd = statistics.median(times["forward"]) if "forward" in times else float("nan")
    paired = torch.tensor([s / t for s, t in zip(sts, trunc, strict=True)], dtype=torch.float64)
    paired_cpu = [s / t for s, t in zip(cpu["stats"], cpu["truncated"], strict=True)]
    ci = bootstrap_stat_ci(paired, lambda r: r.median(dim=1).values, seed=0)
    n = len(ds)
    out = {
        "bench": "filtag_stats",
        "model": args.model,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "cpu_threads": torch.get_num_threads(),
        "data": source,
        "images": n,
        "layers": len(layers),
        "batch_size": args.batch_size,
        "bf16": args.bf16,
        "channels_last": args.channels_last,
        "forward_images_per_s": round(n / t_fwd, 1) if "forward" in times else None,
        "truncated_forward_images_per_s": round(n / t_trunc, 1),
        "stats_images_per_s": round(n / t_sts, 1),
        "stats_over_forward_ratio": round(t_sts / t_fwd, 3) if "forward" in times else None,
        "stats_over_truncated_forward_ratio": round(t_sts / t_trunc, 3),
        # the same ratio per repeat (stats over the truncated forward of the same repeat): median
        # (the headline on a shared machine), its 95% bootstrap interval over the repeats
        "stats_over_truncated_paired_median": round(float(paired.median()), 3),
        "stats_over_truncated_paired_ci95": [round(ci.low, 3), round(ci.high, 3)],
        # process CPU time (all threads) instead of wall time, paired the same way
        "stats_over_truncated_cpu_paired_median": round(statistics.median(paired_cpu), 3),
        # fastest repeat of each pass: the least disturbed by other jobs
        "stats_over_truncated_min_ratio": round(min(sts) / min(trunc), 3),
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "cpu_seconds": {k: [round(t, 3) for t in v] for k, v in cpu.items()},
        "repeats": args.repeats,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "load_average_1min_per_repeat": loads,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if device.type == "cuda":
        out["peak_gpu_mib_forward"] = round(peak["forward"], 1) if "forward" in peak else None
        out["peak_gpu_mib_truncated"] = round(peak["truncated"], 1)
        out["peak_gpu_mib_stats"] = round(peak["stats"], 1)
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
