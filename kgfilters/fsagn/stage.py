"""Run-level FSAGN stages: ``select_stage`` (FSAGN 2.1) and ``sensitive_stage`` (2.2 + baselines).

They read the run's model and splits, compute on one device, and write into the run directory:
``figures/response_<layer>.png``, ``masks/<layer>_<filter>_<strategy>.npz`` (one array per method
and held-out image), ``masks/<layer>_<filter>_<strategy>.png`` (five panels), the generator weights
``masks/generators/<layer>_<strategy>.safetensors`` (+ ``.json``) and ``masks/metrics.json``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from kgfilters.data import iter_batches
from kgfilters.errors import ConfigError, RunError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.baselines import random_masks, top_fraction_mask, zeiler_maps
from kgfilters.fsagn.fidelity import class_effect, mask_fidelity
from kgfilters.fsagn.figures import plot_response_diagram
from kgfilters.fsagn.fit import (
    STRATEGIES,
    FitConfig,
    fit_generator,
    generate_masks,
    new_generator,
    optimise_masks,
)
from kgfilters.fsagn.generators import default_design, get_design
from kgfilters.fsagn.masks_io import write_metrics
from kgfilters.fsagn.outputs import (
    load_generator,
    merge_previous,
    save_generator,
    summarise,
    write_filter_outputs,
)
from kgfilters.fsagn.results import SensitiveSummary
from kgfilters.fsagn.select import Selection, selection_for
from kgfilters.models import conv_layers, resolve_layers
from kgfilters.run import RunPaths, load_run, now_iso, read_run_json, record_stage

__all__ = ["BASELINES", "SensitiveOptions", "load_generator", "select_stage", "sensitive_stage"]

# load_generator lives in outputs.py; re-exported here for callers of the stages

log = logging.getLogger(__name__)

BASELINES = ("zeiler", "optimised", "random")


def _first(ds: Any, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, seen = [], [], 0
    for x, y in iter_batches(ds, min(n, 512)):
        xs.append(x[: n - seen])
        ys.append(y[: n - seen])
        seen += xs[-1].shape[0]
        if seen >= n:
            break
    if not xs:
        raise RunError("the split holds no image")
    return torch.cat(xs).to(device), torch.cat(ys).to(device)


def select_stage(
    root: str | os.PathLike[str],
    *,
    layer: str | None = None,
    num_samples: int = 1000,
    k: int = 2,
    quantile: float = 0.1,
    device: torch.device,
) -> Selection:
    """Filter selection on the run's ``tag`` split; writes the diagram, records ``select``."""
    run = load_run(root, device=device)
    layer = layer or list(conv_layers(run.model))[-1]
    matched = resolve_layers(run.model, [layer])  # a glob pattern must name exactly one layer
    if len(matched) != 1:
        raise ConfigError(f"--layer {layer}: matches {len(matched)} conv layers ({', '.join(matched)}); "
                          "expected exactly one")
    layer = matched[0]
    if num_samples < 1:
        raise ConfigError(f"--samples {num_samples}: expected at least 1")
    sel, resp = selection_for(
        run.model,
        run.spec,
        layer,
        run.splits.tag,
        num_samples=num_samples,
        k=k,
        quantile=quantile,
        device=device,
    )
    fig = plot_response_diagram(
        resp.cpu().numpy(),
        list(sel.targets),
        run.paths.figures / f"response_{layer}.png",
        layer=layer,
    )
    record_stage(
        root,
        "select",
        {
            "layer": layer,
            "split": "tag",
            "num_samples": sel.num_samples,
            "k": k,
            "quantile": quantile,
            "targets": list(sel.targets),
            "scores": [round(s, 6) for s in sel.scores],
            "active_fraction": list(sel.active_fraction),
            "figure": str(fig.relative_to(run.root)),
            "finished": now_iso(),
        },
    )
    return sel


@dataclass(frozen=True)
class SensitiveOptions:
    """Options of ``sensitive_stage``; defaults are the documented ones (docs/methods-fsagn.md)."""

    strategies: tuple[str, ...] = STRATEGIES
    baselines: tuple[str, ...] = BASELINES
    num_images: int = 16
    train_images: int = 4000
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    lam: float | None = None
    optimise_steps: int = 100
    window: int | None = None
    stride: int = 1
    fill: float = 0.0
    figure_images: int = 4
    design: str | None = None
    seed: int = 0

    def check(self) -> None:
        for s in self.strategies:
            if s not in STRATEGIES:
                raise ConfigError(f"--strategy {s!r}: expected reservation, occlusion or both")
        for b in self.baselines:
            if b not in BASELINES:
                raise ConfigError(f"--baseline {b!r}: expected one of {', '.join(BASELINES)}")
        for name in ("num_images", "train_images", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: expected at least 1")


def _targets(
    root: str | os.PathLike[str], filters: Sequence[tuple[str, int]] | None, device: torch.device
) -> dict[str, list[int]]:
    """Filters by layer; without any, the ``select`` stage's targets (run now if absent)."""
    if filters:
        out: dict[str, list[int]] = {}
        for layer, idx in filters:
            out.setdefault(layer, []).append(int(idx))
        return {k: list(dict.fromkeys(v)) for k, v in out.items()}
    sel = read_run_json(root).get("stages", {}).get("select")
    if not sel or not sel.get("targets"):
        done = select_stage(root, device=device)
        sel = {"layer": done.layer, "targets": list(done.targets)}
    if not sel["targets"]:
        raise RunError(
            f"{root}: filter selection found no active filter; pass --filter LAYER:INDEX"
        )
    return {sel["layer"]: list(sel["targets"])}


def _masks_per_s(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def sensitive_stage(
    root: str | os.PathLike[str],
    *,
    filters: Sequence[tuple[str, int]] | None = None,
    options: SensitiveOptions = SensitiveOptions(),
    device: torch.device,
    progress: bool = False,
) -> SensitiveSummary:
    """Train one many-filter generator per (layer, strategy), make masks on held-out images with
    FSAGN and the chosen baselines, measure their fidelity, write everything and return the summary
    (``SensitiveSummary``; ``masks/metrics.json`` holds the same in its JSON form).

    ``filters`` as ``[(layer, index), ...]``; None takes the ``select`` stage's targets.
    """
    options.check()
    run = load_run(root, device=device)
    paths = RunPaths(run.root)
    targets = _targets(root, filters, device)
    torch.manual_seed(options.seed)
    x_train, _ = _first(run.splits.train, options.train_images, device)
    x_eval, y_eval = _first(run.splits.heldout, options.num_images, device)
    areas: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"filters": {}, "timing": {}, "options": asdict(options)}
    for layer, idx in targets.items():
        bb = Backbone.of(run.model, run.spec, layer, idx)
        bb.check_images(x_eval)
        feats, r_eval = bb.inputs_and_responses(x_eval)
        design = (
            get_design(options.design)
            if options.design
            else default_design(feats.shape[-1], x_eval.shape[-1])
        )
        design.check(feats.shape[-1], x_eval.shape[-1])
        active = (r_eval.flatten(-2).amax(-1) > 0).cpu()  # (N, K)
        zeiler = None
        timing: dict[str, Any] = {}
        if "zeiler" in options.baselines:
            t0 = time.perf_counter()
            zeiler = zeiler_maps(
                bb, x_eval, window=options.window, stride=options.stride, fill=options.fill
            )
            timing["zeiler_masks_per_s"] = _masks_per_s(x_eval.shape[0], time.perf_counter() - t0)
        for strategy in options.strategies:
            cfg = FitConfig(
                strategy, options.lam, options.steps, options.batch_size, options.lr, options.seed
            )
            gen = new_generator(design, feats.shape[1], bb.num_filters, strategy).to(device)
            fit = fit_generator(bb, gen, x_train, cfg, progress=progress)
            save_generator(
                paths.generators / f"{layer}_{strategy}.safetensors",
                gen,
                {
                    "layer": layer,
                    "feature_layer": bb.feature_layer,
                    "filters": list(bb.filters),
                    "in_channels": int(feats.shape[1]),
                    "strategy": strategy,
                    "lam": cfg.lam_value,
                    "design": {
                        "name": design.name,
                        "stem": design.stem,
                        "widths": list(design.widths),
                    },
                    "fit": asdict(fit),
                },
            )
            t0 = time.perf_counter()
            masks = {"fsagn": generate_masks(bb, gen, x_eval)}
            timing[f"{strategy}_fsagn_masks_per_s"] = _masks_per_s(
                x_eval.shape[0], time.perf_counter() - t0
            )
            timing[f"{strategy}_train_seconds_per_filter"] = fit.seconds / bb.num_filters
            area = masks["fsagn"].double().flatten(-2).mean(-1)
            if zeiler is not None:
                masks["zeiler"] = top_fraction_mask(zeiler, area.float())
            if "optimised" in options.baselines:
                t0 = time.perf_counter()
                masks["optimised"] = optimise_masks(
                    bb, x_eval, strategy, lam=options.lam, steps=options.optimise_steps
                )
                timing[f"{strategy}_optimised_masks_per_s"] = _masks_per_s(
                    x_eval.shape[0], time.perf_counter() - t0
                )
            if "random" in options.baselines:
                masks["random"] = random_masks(masks["fsagn"], seed=options.seed)
            metrics = {}
            for method, m in tqdm(masks.items(), desc=f"fidelity {strategy}", disable=not progress):
                f = mask_fidelity(bb, x_eval, m, strategy)
                f.update(class_effect(bb, x_eval, y_eval, m) if strategy == "occlusion" else {})
                metrics[method] = {k: v.cpu() for k, v in f.items()}
            areas += write_filter_outputs(
                run.root, bb, layer, strategy, x_eval, masks, metrics, active, options.figure_images
            )
            summary["filters"].setdefault(layer, {})[strategy] = summarise(bb, metrics, active, fit)
        summary["timing"][layer] = timing
    areas, summary = merge_previous(run.root, areas, summary)
    metrics_path = write_metrics(run.root, areas, summary)
    record_stage(
        root,
        "sensitive",
        {
            "targets": {k: v for k, v in targets.items()},
            "split": "heldout",
            "num_images": int(x_eval.shape[0]),
            "strategies": list(options.strategies),
            "baselines": list(options.baselines),
            "records": len(areas),
            "metrics": str(metrics_path.relative_to(run.root)),
            "device": str(device),
            "finished": now_iso(),
        },
    )
    return SensitiveSummary.from_json(summary)
