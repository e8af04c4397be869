"""Models from outside the built-in registry: timm by name, a ``torch.export`` file, or any
``nn.Module`` factory from an import path. ``kgfilters.models.get_model_spec`` dispatches here.

Syntax of ``--model``:

- ``timm:NAME``: ``timm.create_model(NAME, pretrained=False, num_classes=...)``; weights from the
  user's file (``--weights``); input size, mean and std from timm's ``pretrained_cfg``.
- ``export:PATH``: a ``torch.export.save`` archive (``.pt2``), weights inside; saved with a dynamic
  batch dimension. TorchScript archives are refused: their layers run inside the TorchScript
  interpreter, where forward hooks never fire, so no filter could be observed.
- ``package.module:factory``: ``factory(num_classes=N)`` returns the network; weights from ``--weights``.

Nothing is downloaded.
"""

from __future__ import annotations

import importlib
import logging
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kgfilters.errors import ModelError

__all__ = ["external_spec", "is_torchscript", "preprocessing_of"]

log = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def is_torchscript(path: str | Path) -> bool:
    """True when ``path`` is a TorchScript archive (a zip holding ``constants.pkl`` and ``code/``)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def _refuse_torchscript(path: str | Path) -> None:
    raise ModelError(
        f"{path}: a TorchScript archive; its layers run inside the TorchScript interpreter where "
        "forward hooks never fire, so kgfilters cannot observe its filters: save the module with "
        "torch.export.save (dynamic batch) and pass --model export:FILE.pt2, or pass its Python "
        "class as --model package.module:factory with --weights"
    )


def _load_export(path: Path) -> nn.Module:
    """The module of a ``torch.export`` archive, unflattened so that each submodule can be hooked;
    conv submodules (those calling ``aten.conv2d``) are marked with ``out_channels``."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if is_torchscript(path):
        _refuse_torchscript(path)
    try:
        ep = torch.export.load(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"{path}: not a torch.export archive ({type(exc).__name__}: {first}); "
                         "expected a file written by torch.export.save") from None
    model = torch.export.unflatten(ep)
    for _name, m in model.named_modules():
        graph = getattr(m, "graph", None)
        w = getattr(m, "weight", None)
        if graph is None or not isinstance(w, torch.Tensor) or w.ndim != 4:
            continue
        if any(n.op == "call_function" and "conv2d" in str(n.target) for n in graph.nodes):
            m.out_channels = int(w.shape[0])
            m.in_channels = int(w.shape[1])
            m.kgf_conv2d = True
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    val = placeholders[0].meta.get("val") if placeholders else None
    if val is not None and val.ndim == 4:
        c, h, w_ = (int(s) if isinstance(s, int) else None for s in val.shape[1:])
        if c is not None and h is not None and h == w_:
            model.kgf_input = {"in_channels": c, "input_size": h}
    return model


def preprocessing_of(model: nn.Module) -> dict[str, Any]:
    """What ``model`` declares about its input: ``in_channels``, ``input_size`` (square side),
    ``mean``, ``std``; read from timm's ``pretrained_cfg`` / ``default_cfg`` dict, attributes of
    those names, or the example input of an exported program. Missing keys are left out."""
    out: dict[str, Any] = {}
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    if isinstance(cfg, dict):
        size = cfg.get("input_size")
        if isinstance(size, (tuple, list)) and len(size) == 3 and size[1] == size[2]:
            out.update(in_channels=int(size[0]), input_size=int(size[1]))
        if cfg.get("mean") is not None and cfg.get("std") is not None:
            out.update(mean=tuple(float(v) for v in cfg["mean"]), std=tuple(float(v) for v in cfg["std"]))
    out.update(getattr(model, "kgf_input", {}))
    for key in ("in_channels", "input_size", "mean", "std"):
        v = getattr(model, key, None) if not isinstance(model, nn.Conv2d) else None
        if key not in out and isinstance(v, (int, tuple, list)) and not isinstance(v, bool):
            out[key] = tuple(float(x) for x in v) if key in ("mean", "std") else int(v)  # type: ignore[arg-type]
    return out


def _timm_builder(name: str):  # type: ignore[no-untyped-def]
    try:
        import timm
    except ImportError:
        raise ModelError(f"timm:{name}: timm is not installed; pip install kgfilters[timm]") from None
    if not timm.is_model(name):
        raise ModelError(f"timm:{name}: unknown timm model; see timm.list_models()")

    def build(num_classes: int) -> nn.Module:
        return timm.create_model(name, pretrained=False, num_classes=num_classes)

    return build


def _import_builder(ref: str):  # type: ignore[no-untyped-def]
    mod_name, _, attr = ref.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"--model {ref}: cannot import {attr!r} from {mod_name!r} ({exc}); expected "
                         "package.module:factory importable on PYTHONPATH") from None
    if not callable(factory):
        raise ModelError(f"--model {ref}: {attr!r} is not callable; expected a factory(num_classes)")

    def build(num_classes: int) -> nn.Module:
        model = factory(num_classes=num_classes)
        if not isinstance(model, nn.Module):
            raise ModelError(f"--model {ref}: returned a {type(model).__name__}, not a torch nn.Module")
        return model

    return build


def external_spec(name: str):  # type: ignore[no-untyped-def]
    """The ModelSpec of an external ``--model`` value, or None when ``name`` is not one."""
    from kgfilters.models import ModelSpec

    if name.startswith("timm:"):
        return ModelSpec(name, _timm_builder(name[5:]), 3, 224, _IMAGENET_MEAN, _IMAGENET_STD,
                         source="timm")
    if name.startswith(("export:", "torchscript:")):
        path = Path(name.split(":", 1)[1]).expanduser()
        if name.startswith("torchscript:"):
            _refuse_torchscript(path)
        return ModelSpec(name, lambda _n, _p=path: _load_export(_p), 3, 224, _IMAGENET_MEAN,
                         _IMAGENET_STD, source="export")
    if ":" in name and all(part.isidentifier() for part in name.split(":", 1)[0].split(".")):
        return ModelSpec(name, _import_builder(name), 3, 224, _IMAGENET_MEAN, _IMAGENET_STD,
                         source="import")
    return None
