"""Run-level stages of the FILTAG part: each reads what it needs from a run directory, computes,
and writes its outputs atomically. The CLI calls these; so can a notebook."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kgfilters.atomic import atomic_path, atomic_write_json
from kgfilters.data import DEFAULT_DATA_ROOT, load_splits
from kgfilters.errors import ConfigError, ModelError, RunError
from kgfilters.explain_stage import explain_run, save_explanation  # re-exported: the explain stage
from kgfilters.lock import run_lock
from kgfilters.models import build_model, file_sha256, get_model_spec
from kgfilters.run import RunPaths, now_iso, read_run_json, record_stage, versions
from kgfilters.train import TrainResult, train_model

__all__ = ["check_train_options", "check_trainable", "create_run", "explain_run", "hits_run",
           "new_run_config", "save_explanation", "stats_run", "tag_run", "train_run"]

log = logging.getLogger(__name__)


def new_run_config(
    root: str | os.PathLike[str],
    *,
    model: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    tag_fraction: float | None = None,
    base_iri: str | None = None,
    class_names: str | os.PathLike[str] | None = None,
    input_size: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
    on_bad_image: str = "stop",
) -> dict[str, Any]:
    """The ``run.json`` of a fresh run naming the data set, split and model (no weights yet);
    nothing is written. An existing run.json's stage records, graph settings and generation carry
    over (a retrained run keeps its identity and its later stages' records, marked stale later),
    and options left None take its values (else: fsagn-mnist, Fashion-MNIST, seed 0, 0.8).

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

    old = read_run_json(root) if RunPaths(Path(root)).run_json.is_file() else None
    if old is not None:
        d = old["dataset"]
        model = old["model"].get("name", "fsagn-mnist") if model is None else model
        data_root = d.get("root") if data_root is None else data_root
        seed = d.get("split_seed", 0) if seed is None else seed
        tag_fraction = d.get("tag_fraction", 0.8) if tag_fraction is None else tag_fraction
        class_names = d.get("class_names_file") if class_names is None else class_names
        ground_truth = d.get("ground_truth") if ground_truth is None else ground_truth
    model = "fsagn-mnist" if model is None else model
    seed = 0 if seed is None else seed
    tag_fraction = 0.8 if tag_fraction is None else tag_fraction
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
    if old is not None:
        config["stages"] = dict(old.get("stages") or {})
        for key in ("graph", "generation"):
            if key in old:
                config[key] = old[key]
    return config


def check_trainable(root: str | os.PathLike[str], *, force: bool = False) -> None:
    """RunError when the run at ``root`` already has weights and ``force`` is not given."""
    paths = RunPaths(Path(root))
    if force or not paths.run_json.is_file():
        return
    m = read_run_json(root)["model"]
    if m.get("weights") in (None, "model.safetensors") and not paths.model.is_file():
        return
    acc = m.get("test_accuracy")
    what = f"test accuracy {acc:.2%}" if isinstance(acc, float) else f"weights {m.get('weights')}"
    raise RunError(
        f"{root}: already trained ({what}); `kgfilters train --run {root} --force` replaces the "
        "model and marks the stages that used it stale (their files are kept)"
    )


def _write_config(root: str | os.PathLike[str], config: dict[str, Any], *, retrained: bool) -> list[str]:
    """Write ``config`` as run.json (under the lock, generation bumped); with ``retrained``, mark
    the stages that read the old model stale. Returns the stages marked."""
    from kgfilters.stages import mark_stale

    with run_lock(root):
        marked = mark_stale(config, "train", "model changed since `kgfilters {stage}` (retrained)") \
            if retrained else []
        gen = config.get("generation", 0)
        config["generation"] = (gen if isinstance(gen, int) else 0) + 1
        atomic_write_json(RunPaths(Path(root)).run_json, config)
    return marked


def create_run(
    root: str | os.PathLike[str],
    *,
    model: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    tag_fraction: float | None = None,
    base_iri: str | None = None,
    force: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Write ``run.json`` for a data set, split and model (``new_run_config``), under the run lock.

    A run that has weights already is refused unless ``force`` (``check_trainable``); with
    ``weights`` given, the stages that used an earlier model are marked stale. ``base_iri`` pins
    the base of the run's IRIs at creation (a run keeps the base it already has). ``options``:
    the data and preprocessing options of ``new_run_config`` (``class_names``, ``input_size``,
    ``mean``, ``std``, ``ground_truth``, ``on_bad_image``).
    """
    Path(root).mkdir(parents=True, exist_ok=True)
    with run_lock(root):
        check_trainable(root, force=force)
        retrained = RunPaths(Path(root)).run_json.is_file() and weights is not None
        config = new_run_config(root, model=model, data_root=data_root, weights=weights, seed=seed,
                                tag_fraction=tag_fraction, base_iri=base_iri, **options)
        _write_config(root, config, retrained=retrained)
    return config


def check_train_options(*, epochs: int, batch_size: int, lr: float) -> None:
    """ConfigError for an option outside its range (epochs and batch size >= 1, lr > 0)."""
    if epochs < 1:
        raise ConfigError(f"--epochs {epochs}: expected at least 1")
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: expected at least 1")
    if not lr > 0 or lr == float("inf"):
        raise ConfigError(f"--lr {lr}: expected a finite learning rate > 0")


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
    config: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the run's model on its ``train`` split; save ``model.safetensors`` and record the stage.

    ``config``: the run.json to train for (``new_run_config``), written only once the model is
    saved; default: the run's run.json. When the run had a model before, the stages that used it
    are marked stale. Test accuracy is measured on the tag and held-out splits together (the data
    set's test file).
    """
    from safetensors.torch import save_file
    from torch.utils.data import ConcatDataset

    check_train_options(epochs=epochs, batch_size=batch_size, lr=lr)
    paths = RunPaths(Path(root))
    with run_lock(root):
        config = read_run_json(root) if config is None else config
        spec = get_model_spec(config["model"]["name"])
        if spec.source != "builtin":
            raise ModelError(
                f"{spec.name}: training {spec.source} models is out of scope; pass --weights FILE instead"
            )
        retrained = paths.model.is_file() or config["model"].get("weights") is not None
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
        config["model"].update(weights="model.safetensors", sha256=file_sha256(paths.model),
                               test_accuracy=result.test_accuracy)
        config.setdefault("stages", {})["train"] = {
            **asdict(result), "device": str(device), "started": started, "finished": now_iso(),
        }
        marked = _write_config(root, config, retrained=retrained)
    if marked:
        log.warning("model retrained: %s marked stale (files kept)", ", ".join(marked))
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

    initialised_here = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        initialised_here = True
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    rank = int(os.environ.get("RANK", "0"))
    try:
        with run_lock(root) if rank == 0 else contextlib.nullcontext():  # rank 0 alone writes
            return _stats(root, device, layers, batch_size, bf16, channels_last, checkpoint_every,
                          progress)
    finally:
        if initialised_here:
            dist.destroy_process_group()


def _stats(root: str | os.PathLike[str], device: torch.device, layers: list[str] | None,
           batch_size: int, bf16: bool, channels_last: bool, checkpoint_every: int,
           progress: bool):  # type: ignore[no-untyped-def]
    """``stats_run``'s work, once the process group is joined and (rank 0) the lock taken."""
    import torch.distributed as dist

    from kgfilters.models import resolve_layers
    from kgfilters.stats import compute_stats, save_stats

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


def tag_run(
    root: str | os.PathLike[str],
    *,
    method: str = "k-best",
    param: float = 5,
    layers: list[str] | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    recompute: bool = False,
):  # type: ignore[no-untyped-def]
    """Tag the run's filters (FILTAG 2.1) from its statistics, computing them first if missing
    or if they lack a requested layer; write ``tags.json``.

    Stale statistics (the model changed since they were computed) are refused with a RunError
    naming the command to rerun, or recomputed with ``recompute``.
    """
    from kgfilters.filtag import save_tags, tag_layers
    from kgfilters.stats import load_stats

    paths = RunPaths(Path(root))
    device = device or torch.device("cpu")
    if layers and any(ch in n for n in layers for ch in "*?["):  # glob patterns: expand on the model
        from kgfilters.models import resolve_layers

        layers = resolve_layers(_open(root, device).model, layers)
    with run_lock(root):
        fresh = _fresh_or_recompute(root, "tag", recompute, allow_missing=("stats",))
        stats = load_stats(paths.stats) if paths.stats.is_file() and fresh else None
        if stats is None or (layers and not set(layers) <= set(stats.layers)):
            stats = stats_run(root, device=device, layers=layers, progress=progress)
        names = layers or list(stats.layers)
        tags = tag_layers({n: stats.z(n) for n in names}, stats.class_names, method=method,
                          param=param)
        save_tags(tags, paths.tags)
        record_stage(root, "tag", {"method": method, "param": param, "layers": names,
                                   "tags": len(tags.tags), "finished": now_iso()})
    return tags


def _fresh_or_recompute(root: str | os.PathLike[str], stage: str, recompute: bool,
                        allow_missing: tuple[str, ...] = ()) -> bool:
    """True when ``stage``'s inputs are fresh; False when stale statistics are to be recomputed
    (``recompute``); RunError naming the command to rerun otherwise."""
    from kgfilters.stages import require_fresh, run_status

    if recompute and run_status(root)["stats"].state == "stale":
        require_fresh(root, "stats")  # the model itself must be sound
        return False
    require_fresh(root, stage, allow_missing=allow_missing)
    return True


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
    recompute: bool = False,
):  # type: ignore[no-untyped-def]
    """Hits@n study (FILTAG 3.3) on the held-out split; writes hits.json, hits.csv and
    figures/hits.png. Default layer: the last conv layer the statistics cover. ``draws``:
    random-tags draws per (method, param) for the baseline columns (seed: the run's seed). Stale
    statistics are refused, or recomputed with ``recompute``."""
    with run_lock(root):
        if not _fresh_or_recompute(root, "hits", recompute):
            stats_run(root, device=device, progress=progress)
        return _hits(root, device=device, layers=layers, ks=ks, qs=qs, ns=ns,
                     top_fraction=top_fraction, progress=progress, draws=draws,
                     contrastive_ks=contrastive_ks)


def _hits(root: str | os.PathLike[str], *, device: torch.device, layers: list[str] | None,
          ks: tuple[int, ...] | None, qs: tuple[float, ...] | None, ns: tuple[int, ...] | None,
          top_fraction: float, progress: bool, draws: int,
          contrastive_ks: tuple[int, ...]):  # type: ignore[no-untyped-def]
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
