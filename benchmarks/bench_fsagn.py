"""FSAGN benchmark: masks per second (amortised generator, Zeiler occlusion, per-image
optimisation) on the same filter and images; training seconds per filter (one generator per filter
vs. many filters at once); fidelity of each method at equal area. Prints one JSON line.

    .venv/bin/python benchmarks/bench_fsagn.py                      # small network, CPU
    .venv/bin/python benchmarks/bench_fsagn.py --run runs/fashion-mnist
    .venv/bin/python benchmarks/bench_fsagn.py --model vgg16 --device cuda   # random weights
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from kgfilters.data import TensorImages, load_splits
from kgfilters.device import pick_device
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.baselines import random_masks, top_fraction_mask, zeiler_maps
from kgfilters.fsagn.fidelity import class_effect, mask_fidelity
from kgfilters.fsagn.fit import (
    FitConfig,
    fit_generator,
    generate_masks,
    heldout_loss,
    new_generator,
    optimise_masks,
)
from kgfilters.fsagn.generators import default_design
from kgfilters.fsagn.select import select_filters
from kgfilters.models import build_model, conv_layers, get_model_spec
from kgfilters.run import load_run
from kgfilters.train import train_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device):  # type: ignore[no-untyped-def]
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def _model(args: argparse.Namespace, device: torch.device):  # type: ignore[no-untyped-def]
    splits = load_splits(seed=0, tag_fraction=0.8)
    if args.run:
        run = load_run(args.run, device=device)
        return run.model, run.spec, splits, "run " + args.run
    spec = get_model_spec(args.model)
    if spec.torchvision:
        return (
            build_model(args.model, num_classes=10, weights="random", device=device),
            spec,
            splits,
            "random weights",
        )
    torch.manual_seed(0)
    model = build_model(args.model, num_classes=10, weights="random", device=device)
    sub = TensorImages(splits.train.images[:6000], splits.train.targets[:6000])
    res = train_model(model, spec, sub, splits.heldout, device=device, epochs=1, progress=False)
    return model, spec, splits, f"trained 1 epoch on 6000 images (acc {res.test_accuracy:.3f})"


def _images(ds: TensorImages, n: int, spec, device: torch.device) -> torch.Tensor:  # type: ignore[no-untyped-def]
    x = ds.images[:n].float().div(255).to(device)
    if spec.in_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != spec.input_size:
        x = F.interpolate(x, size=(spec.input_size,) * 2, mode="bilinear", align_corners=False)
    return x.contiguous()


def _mean(d: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: round(float(v.double().mean()), 4) for k, v in d.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fsagn-mnist")
    p.add_argument("--run", default=None, help="use this run's trained model (small network)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--filters", type=int, default=4, help="filters trained at once")
    p.add_argument("--images", type=int, default=32, help="held-out images masked per method")
    p.add_argument("--steps", type=int, default=150, help="generator training steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-images", type=int, default=3000)
    p.add_argument("--optimise-steps", type=int, default=100)
    p.add_argument("--window", type=int, default=None, help="Zeiler window (default: side/4)")
    p.add_argument("--stride", type=int, default=None, help="Zeiler stride (default 1; vgg 8)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (fastest kept)")
    args = p.parse_args()
    device = pick_device(args.device)
    model, spec, splits, origin = _model(args, device)
    layer = list(conv_layers(model))[-1]
    stride = args.stride or (1 if spec.input_size <= 64 else 8)
    x_train = _images(splits.train, args.train_images, spec, device)
    x = _images(splits.heldout, args.images, spec, device)
    y = splits.heldout.targets[: args.images].to(device)

    all_bb = Backbone.of(model, spec, layer, list(range(conv_layers(model)[layer].out_channels)))
    with torch.no_grad():
        resp = all_bb.responses(x_train[:256]).double().flatten(-2).sum(-1)
    _, targets = select_filters(resp, k=args.filters)
    filters = targets.tolist()
    bb = Backbone.of(model, spec, layer, filters)
    feats, _ = bb.inputs_and_responses(x[:1])
    design = default_design(feats.shape[-1], spec.input_size)
    out: dict[str, object] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_threads": torch.get_num_threads(),
            "device": str(device),
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "torch": torch.__version__,
        },
        "model": args.model,
        "weights": origin,
        "layer": layer,
        "filters": filters,
        "design": design.name,
        "images": args.images,
        "steps": args.steps,
        "zeiler": {"window": args.window or spec.input_size // 4, "stride": stride},
    }

    # training: many filters at once vs one generator per filter (same steps, data, batch)
    gens, train_s = {}, {}
    for strategy in ("reservation", "occlusion"):
        cfg = FitConfig(strategy, steps=args.steps, batch_size=args.batch_size)
        gens[strategy] = new_generator(design, feats.shape[1], len(filters), strategy).to(device)
        fit = fit_generator(bb, gens[strategy], x_train, cfg)
        train_s[strategy] = fit.seconds / len(filters)
    cfg = FitConfig("reservation", steps=args.steps, batch_size=args.batch_size)
    singles, single_s, loss_cmp = {}, [], []
    many_loss = heldout_loss(bb, x, generate_masks(bb, gens["reservation"], x), "reservation")
    for j, f in enumerate(filters[:2]):
        one_bb = Backbone.of(model, spec, layer, [f])
        g = new_generator(design, feats.shape[1], 1, "reservation").to(device)
        single_s.append(fit_generator(one_bb, g, x_train, cfg).seconds)
        singles[f] = (one_bb, g)
        one_loss = float(heldout_loss(one_bb, x, generate_masks(one_bb, g, x), "reservation")[0])
        loss_cmp.append(
            {"filter": f, "many": round(float(many_loss[j]), 4), "single": round(one_loss, 4)}
        )
    out["train_s_per_filter_single_full_run"] = round(sum(single_s) / len(single_s), 3)
    out["train_s_per_filter_many_full_run"] = round(train_s["reservation"], 3)
    out["many_vs_single_heldout_loss"] = loss_cmp
    # cost per filter, robust to a shared machine: interleave 2-step runs, keep the medians
    short = FitConfig("reservation", steps=2, batch_size=args.batch_size)
    one_bb0, one_g0 = singles[filters[0]]
    t_many, t_one = [], []
    for _ in range(5 * args.repeats):
        t_many.append(fit_generator(bb, copy.deepcopy(gens["reservation"]), x_train, short).seconds)
        t_one.append(fit_generator(one_bb0, copy.deepcopy(one_g0), x_train, short).seconds)
    med_many, med_one = statistics.median(t_many) / 2, statistics.median(t_one) / 2
    out["train_s_per_step_many"] = round(med_many, 4)
    out["train_s_per_step_single"] = round(med_one, 4)
    out["train_s_per_filter_many"] = round(med_many * args.steps / len(filters), 3)
    out["train_s_per_filter_single"] = round(med_one * args.steps, 3)

    # speed on the same filter and images: one filter, N images, masks per second
    one_bb, one_gen = singles[filters[0]]
    generate_masks(one_bb, one_gen, x[:2])  # warm-up
    _, t_f = _timed(lambda: generate_masks(one_bb, one_gen, x), device)
    _, t_fm = _timed(lambda: generate_masks(bb, gens["reservation"], x), device)
    t_z = min(
        _timed(lambda: zeiler_maps(one_bb, x, window=args.window, stride=stride), device)[1]
        for _ in range(args.repeats)
    )
    _, t_o = _timed(
        lambda: optimise_masks(one_bb, x, "reservation", steps=args.optimise_steps), device
    )
    n = x.shape[0]
    out["fsagn_masks_per_s"] = round(n / t_f, 2)
    out["fsagn_many_masks_per_s"] = round(n * len(filters) / t_fm, 2)
    out["zeiler_masks_per_s"] = round(n / t_z, 3)
    out["optimised_masks_per_s"] = round(n / t_o, 3)
    out["fsagn_vs_zeiler_speedup"] = round(t_z / t_f, 1)
    out["fsagn_vs_optimised_speedup"] = round(t_o / t_f, 1)

    # fidelity at equal area, all filters, both strategies
    zmap = zeiler_maps(bb, x, window=args.window, stride=stride)
    fid: dict[str, dict[str, dict[str, float]]] = {}
    for strategy, gen in gens.items():
        m = generate_masks(bb, gen, x)
        area = m.double().flatten(-2).mean(-1)
        masks = {
            "fsagn": m,
            "zeiler": top_fraction_mask(zmap, area.float()),
            "optimised": optimise_masks(bb, x, strategy, steps=args.optimise_steps),
            "random": random_masks(m),
        }
        fid[strategy] = {}
        for method, mm in masks.items():
            f = mask_fidelity(bb, x, mm, strategy)
            if strategy == "occlusion":
                f.update(class_effect(bb, x, y, mm))
            f["heldout_loss"] = heldout_loss(bb, x, mm, strategy)
            fid[strategy][method] = _mean(f)
    out["fidelity"] = fid
    print(json.dumps(out))


if __name__ == "__main__":
    main()
