"""Run-level stages of the FILTAG part: each reads what it needs from a run directory, computes,
and writes its outputs atomically. The CLI calls these; so can a notebook."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kgfilters.atomic import atomic_path, atomic_write_json
from kgfilters.data import DEFAULT_DATA_ROOT, load_splits
from kgfilters.errors import ModelError
from kgfilters.models import build_model, file_sha256, get_model_spec
from kgfilters.run import RunPaths, now_iso, read_run_json, record_stage, versions
from kgfilters.train import TrainResult, train_model

__all__ = ["create_run", "train_run"]

log = logging.getLogger(__name__)


def create_run(
    root: str | os.PathLike[str],
    *,
    model: str = "fsagn-mnist",
    data_root: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    tag_fraction: float = 0.8,
    base_iri: str | None = None,
    class_names: str | os.PathLike[str] | None = None,
    input_size: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
    on_bad_image: str = "stop",
) -> dict[str, Any]:
    """Write a fresh ``run.json`` naming the data set, split and model (no weights yet).

    ``weights`` refers to a user's weights file (kept by reference, with its checksum); without it,
    our own networks must be trained (``train_run``) and torchvision ones use the hub cache.
    ``base_iri``: the base of the run's IRIs in its knowledge graph, pinned here once (default:
    the one already pinned when run.json exists, else derived from the directory name), so
    copying or moving the run changes no IRI. The IRI scheme is the graph part's; it is imported
    here, lazily, only to compute that default.
    ``class_names``: a class-names file (see ``kgfilters.classnames``). ``input_size``, ``mean``,
    ``std``: the model's preprocessing where its metadata lacks it or to override it; what is used
    is recorded in run.json ``model.input`` (see ``kgfilters.model_sources.preprocessing_of``).
    ``ground_truth``: labels of a flat image folder (ImageNet validation layout); ``on_bad_image``:
    ``stop`` or ``skip`` (undecodable images are found now, left out and listed in run.json
    ``dataset.skipped``, their number in ``dataset.skipped_images``).
    """
    from kgfilters.ontology.iris import check_base, default_base, pinned_base

    if model.startswith(("export:", "torchscript:")):
        kind, _, file = model.partition(":")
        model = f"{kind}:{Path(file).expanduser().resolve()}"
    spec = get_model_spec(model)
    root = Path(root)
    base = check_base(base_iri or pinned_base(root) or default_base(root))
    data = Path(data_root) if data_root is not None else DEFAULT_DATA_ROOT
    splits = load_splits(
        data, seed=seed, tag_fraction=tag_fraction, image_size=spec.input_size, channels=spec.in_channels,
        class_names_file=class_names, ground_truth=ground_truth, on_bad_image=on_bad_image,
    )
    model_info: dict[str, Any] = {"name": model, "num_classes": splits.num_classes, "weights": None}
    w = Path(weights).resolve() if weights is not None else None
    if w is not None or spec.source not in ("builtin", "torchvision"):
        built = build_model(model, num_classes=splits.num_classes, weights=w)  # fails early if it does not fit
        model_info["input"] = _input_of(spec, built, input_size=input_size, mean=mean, std=std)
        if w is not None:
            model_info.update(weights=str(w), sha256=file_sha256(w))
        elif spec.source == "export":  # the archive holds the weights: its checksum is theirs
            model_info["sha256"] = file_sha256(model.split(":", 1)[1])
    elif input_size is not None or mean is not None or std is not None:
        model_info["input"] = _input_of(spec, None, input_size=input_size, mean=mean, std=std)
    dataset: dict[str, Any] = {"kind": splits.kind, "root": str(Path(data).resolve())}
    if class_names is not None:
        dataset["class_names_file"] = str(Path(class_names).resolve())
    if ground_truth is not None:
        dataset["ground_truth"] = str(Path(ground_truth).resolve())
    if on_bad_image == "skip":
        dataset.update(on_bad_image=on_bad_image, skipped_images=len(splits.skipped), skipped=list(splits.skipped))
    if splits.class_ids and tuple(splits.class_ids) != tuple(splits.class_names):
        dataset["class_ids"] = list(splits.class_ids)
    config = {
        "dataset": {
            **dataset,
            "class_names": list(splits.class_names),
            "split_seed": seed,
            "tag_fraction": tag_fraction,
            "sizes": {"train": len(splits.train), "tag": len(splits.tag), "heldout": len(splits.heldout)},
        },
        "model": model_info,
        "seed": seed,
        "created": now_iso(),
        "versions": versions(),
        "graph": {"base_iri": base},
        "stages": {},
    }
    atomic_write_json(RunPaths(root).run_json, config)
    return config


def _input_of(
    spec: Any, model: torch.nn.Module | None, *, input_size: int | None,
    mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
) -> dict[str, Any]:
    """The model's input as recorded in run.json: options first, then the model's own metadata,
    then the registry's defaults (builtin and torchvision only). ModelError when the model has no
    Conv2d layer, or when mean/std/size are known from nowhere."""
    from kgfilters.model_sources import preprocessing_of
    from kgfilters.models import conv_layers

    meta: dict[str, Any] = {}
    if model is not None:
        convs = conv_layers(model)
        if not convs:
            raise ModelError(f"{spec.name}: the model has no Conv2d layer; kgfilters explains "
                             "convolutional filters only")
        meta = {"in_channels": int(next(iter(convs.values())).in_channels), **preprocessing_of(model)}
    defaults: dict[str, Any] = {}
    if spec.source in ("builtin", "torchvision", "timm"):
        defaults = {"in_channels": spec.in_channels, "input_size": spec.input_size,
                    "mean": spec.mean, "std": spec.std}
    given = {k: v for k, v in {"input_size": input_size, "mean": mean, "std": std}.items() if v is not None}
    out = {**defaults, **meta, **given}
    missing = [k for k in ("input_size", "mean", "std") if k not in out]
    if missing:
        raise ModelError(f"{spec.name}: the model declares no {', '.join(missing)}; pass "
                         + " ".join(f"--{k.replace('_', '-')}" for k in missing))
    c = int(out.get("in_channels", len(out["mean"])))
    for k in ("mean", "std"):
        out[k] = [float(v) for v in out[k]]
        if len(out[k]) == 1 and c > 1:
            out[k] = out[k] * c
        if len(out[k]) != c:
            raise ModelError(f"--{k} {','.join(map(str, out[k]))}: {len(out[k])} values for a "
                             f"{c}-channel model; expected {c} (or one)")
    if any(v <= 0 for v in out["std"]):
        raise ModelError(f"--std {out['std']}: expected positive values")
    return {"in_channels": c, "input_size": int(out["input_size"]), "mean": out["mean"], "std": out["std"],
            "from": "options" if given else ("model" if meta.keys() - {"in_channels"} else "registry")}


def train_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the run's model on its ``train`` split; save ``model.safetensors`` and record the stage.

    Test accuracy is measured on the tag and held-out splits together (the data set's test file).
    """
    from safetensors.torch import save_file
    from torch.utils.data import ConcatDataset

    config = read_run_json(root)
    paths = RunPaths(Path(root))
    spec = get_model_spec(config["model"]["name"])
    if spec.source != "builtin":
        raise ModelError(
            f"{spec.name}: training {spec.source} models is out of scope; pass --weights FILE instead"
        )
    d = config["dataset"]
    splits = load_splits(d["root"], seed=d["split_seed"], tag_fraction=d["tag_fraction"],
                         ground_truth=d.get("ground_truth"), skip=d.get("skipped"))
    seed = config["seed"] if seed is None else seed
    torch.manual_seed(seed)
    model = build_model(spec.name, num_classes=splits.num_classes, weights="random", device=device)
    started = now_iso()
    test = ConcatDataset([splits.tag, splits.heldout])
    result = train_model(
        model, spec, splits.train, test, device=device, epochs=epochs, batch_size=batch_size,
        lr=lr, seed=seed, progress=progress,
    )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(paths.model) as tmp:
        save_file(state, str(tmp))
    config = read_run_json(root)
    config["model"].update(weights="model.safetensors", sha256=file_sha256(paths.model),
                           test_accuracy=result.test_accuracy)
    config.setdefault("stages", {})["train"] = {
        **asdict(result), "device": str(device), "started": started, "finished": now_iso(),
    }
    atomic_write_json(paths.run_json, config)
    return result


def _open(root: str | os.PathLike[str], device: torch.device):  # type: ignore[no-untyped-def]
    from kgfilters.run import load_run

    run = load_run(root, device=device)
    _ = run.model  # fail early, with the run's own message, when weights are missing
    return run


def stats_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    layers: list[str] | None = None,
    batch_size: int = 256,
    bf16: bool = False,
    channels_last: bool = False,
    checkpoint_every: int | None = None,
    progress: bool = True,
):  # type: ignore[no-untyped-def]
    """Compute FILTAG statistics on the run's tag split; write ``stats/stats.safetensors``.

    Resumable through ``stats/checkpoint.safetensors`` (written every ``checkpoint_every`` batches;
    default a tenth of them). Under torchrun (WORLD_SIZE > 1) the
    process group is joined here and only rank 0 writes.
    """
    import torch.distributed as dist

    from kgfilters.models import resolve_layers
    from kgfilters.stats import compute_stats, save_stats

    initialised_here = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        initialised_here = True
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    try:
        run = _open(root, device)
        names = resolve_layers(run.model, layers)
        started = now_iso()
        stats = compute_stats(
            run.model, run.spec, run.splits.tag, layers=names, class_names=run.class_names,
            device=device, batch_size=batch_size, bf16=bf16, channels_last=channels_last,
            checkpoint=run.paths.stats_checkpoint, checkpoint_every=checkpoint_every,
            fingerprint=run.config["model"].get("sha256", ""), progress=progress,
        )
        rank = dist.get_rank() if dist.is_initialized() else 0
        if rank == 0:
            save_stats(stats, run.paths.stats)
            record_stage(root, "stats", {
                "split": "tag", "layers": names, "images": stats.num_images, "batch_size": batch_size,
                "bf16": bf16, "channels_last": channels_last, "device": str(device),
                "world_size": dist.get_world_size() if dist.is_initialized() else 1,
                "started": started, "finished": now_iso(),
            })
        return stats
    finally:
        if initialised_here:
            dist.destroy_process_group()


def tag_run(
    root: str | os.PathLike[str],
    *,
    method: str = "k-best",
    param: float = 5,
    layers: list[str] | None = None,
    device: torch.device | None = None,
    progress: bool = True,
):  # type: ignore[no-untyped-def]
    """Tag the run's filters (FILTAG 2.1) from its statistics, computing them first if missing
    or if they lack a requested layer; write ``tags.json``."""
    from kgfilters.filtag import save_tags, tag_layers
    from kgfilters.stats import load_stats

    paths = RunPaths(Path(root))
    device = device or torch.device("cpu")
    if layers and any(ch in n for n in layers for ch in "*?["):  # glob patterns: expand on the model
        from kgfilters.models import resolve_layers

        layers = resolve_layers(_open(root, device).model, layers)
    stats = load_stats(paths.stats) if paths.stats.is_file() else None
    if stats is None or (layers and not set(layers) <= set(stats.layers)):
        stats = stats_run(root, device=device, layers=layers, progress=progress)
    names = layers or list(stats.layers)
    tags = tag_layers({n: stats.z(n) for n in names}, stats.class_names, method=method, param=param)
    save_tags(tags, paths.tags)
    record_stage(root, "tag", {"method": method, "param": param, "layers": names,
                               "tags": len(tags.tags), "finished": now_iso()})
    return tags


def hits_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    layers: list[str] | None = None,
    ks: tuple[int, ...] | None = None,
    qs: tuple[float, ...] | None = None,
    ns: tuple[int, ...] | None = None,
    top_fraction: float = 0.2,
    progress: bool = True,
    draws: int = 200,
    contrastive_ks: tuple[int, ...] = (),
):  # type: ignore[no-untyped-def]
    """Hits@n study (FILTAG 3.3) on the held-out split; writes hits.json, hits.csv and
    figures/hits.png. Default layer: the last conv layer the statistics cover. ``draws``:
    random-tags draws per (method, param) for the baseline columns (seed: the run's seed)."""
    from kgfilters import hits as H
    from kgfilters.errors import RunError
    from kgfilters.models import resolve_layers
    from kgfilters.stats import collect

    run = _open(root, device)
    stats = run.stats
    names = resolve_layers(run.model, layers) if layers else [list(stats.layers)[-1]]
    if missing := [n for n in names if n not in stats.layers]:
        raise RunError(f"{run.paths.stats}: no statistics of layer(s) {', '.join(missing)} (it has "
                       f"{', '.join(stats.layers)}); run `kgfilters stats --layers ...` first")
    col = collect(run.model, run.spec, run.splits.heldout, layers=names, device=device, progress=progress)
    study = H.hits_study(
        col.values, {n: stats.z(n) for n in names}, col.labels, col.probs.argmax(1), run.class_names,
        ks=ks or H.DEFAULT_KS, qs=qs or H.DEFAULT_QS, ns=ns or H.DEFAULT_NS, top_fraction=top_fraction,
        draws=draws, seed=int(run.config.get("seed", 0)), contrastive_ks=contrastive_ks,
    )
    H.save_hits(study, run.paths.hits_json, run.paths.hits_csv)
    H.plot_hits(study, run.paths.figures / "hits.png")
    record_stage(root, "hits", {"split": "heldout", "layers": names, "top_fraction": top_fraction,
                                "random_tags_draws": draws,
                                "images": int(col.labels.numel()), "finished": now_iso()})
    return study


def explain_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    index: int | None = None,
    image: str | None = None,
    layers: list[str] | None = None,
    top_fraction: float = 0.2,
    save: bool = False,
):  # type: ignore[no-untyped-def]
    """Explain one held-out image or image file (FILTAG 2.2); with ``save``, write
    ``explanations/heldout-<index>.json`` (or ``file-<stem>-<hash>.json``)."""
    from kgfilters.explain import explain_image

    run = _open(root, device)
    e = explain_image(run, index=index, image=image, layers=layers, top_fraction=top_fraction)
    if save:
        save_explanation(root, e)
    return e


def save_explanation(root: str | os.PathLike[str], e):  # type: ignore[no-untyped-def]
    """Write ``explanations/heldout-<index>.json`` (or ``file-<stem>-<hash>.json``) atomically."""
    from kgfilters.explain import explanation_file_name, explanation_to_json

    name = explanation_file_name(e)
    return atomic_write_json(RunPaths(Path(root)).explanations / name, explanation_to_json(e))
