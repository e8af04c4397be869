"""FILTAG statistics pass vs. a bare forward pass over the same data, in one process.

Prints one JSON line: images/s of each, and two ratios: ``stats_over_forward_ratio`` (time of the
statistics pass / time of the whole network's forward pass) and
``stats_over_truncated_forward_ratio`` (/ time of the forward pass cut short after the last hooked
layer, with hooks that keep nothing: what the statistics pass must at least compute, the true
limit), and peak memory.

    python benchmarks/bench_filtag.py                              # small network, Fashion-MNIST, CPU
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

import torch

from kgfilters.data import TensorImages, iter_batches, load_splits
from kgfilters.device import pick_device
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
    ap.add_argument("--repeats", type=int, default=3)
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

    def run_forward() -> float:
        _sync(device)
        t = time.perf_counter()
        forward_pass(model, spec, ds, device, args.batch_size, args.bf16, args.channels_last)
        _sync(device)
        return time.perf_counter() - t

    def run_truncated() -> float:
        _sync(device)
        t = time.perf_counter()
        truncated_forward_pass(model, spec, ds, device, args.batch_size, args.bf16,
                               args.channels_last, layers)
        _sync(device)
        return time.perf_counter() - t

    def run_stats() -> float:
        _sync(device)
        t = time.perf_counter()
        compute_stats(model, spec, ds, layers=layers, class_names=classes, device=device,
                      batch_size=args.batch_size, bf16=args.bf16, channels_last=args.channels_last,
                      progress=False)
        _sync(device)
        return time.perf_counter() - t

    run_forward(), run_truncated(), run_stats()  # warm-up (allocator, cuDNN autotuning)
    load_before = os.getloadavg()[0]
    peak = {}
    times: dict[str, list[float]] = {"forward": [], "truncated": [], "stats": []}
    order = [("forward", run_forward), ("truncated", run_truncated), ("stats", run_stats)]
    for rep in range(args.repeats):
        # Interleaved, and the order turns every repeat, so a change of machine load (or of the
        # allocator's state left by the previous pass) falls on all three passes alike.
        for name, fn in order[rep % 3:] + order[:rep % 3]:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times[name].append(fn())
            if device.type == "cuda":
                peak[name] = torch.cuda.max_memory_allocated(device) / 2**20
    fwd, trunc, sts = times["forward"], times["truncated"], times["stats"]
    t_fwd, t_sts = statistics.median(fwd), statistics.median(sts)
    t_trunc = statistics.median(trunc)
    paired = [s / t for s, t in zip(sts, trunc, strict=True)]
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
        "forward_images_per_s": round(n / t_fwd, 1),
        "truncated_forward_images_per_s": round(n / t_trunc, 1),
        "stats_images_per_s": round(n / t_sts, 1),
        "stats_over_forward_ratio": round(t_sts / t_fwd, 3),
        "stats_over_truncated_forward_ratio": round(t_sts / t_trunc, 3),
        # the same ratio per repeat (stats over the truncated forward of the same repeat), median
        "stats_over_truncated_paired_median": round(statistics.median(paired), 3),
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "repeats": args.repeats,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if device.type == "cuda":
        out["peak_gpu_mib_forward"] = round(peak["forward"], 1)
        out["peak_gpu_mib_truncated"] = round(peak["truncated"], 1)
        out["peak_gpu_mib_stats"] = round(peak["stats"], 1)
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
