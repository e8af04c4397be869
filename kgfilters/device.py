"""Pick the compute device once; everything else keeps its tensors there."""

from __future__ import annotations

import torch

from kgfilters.errors import ConfigError

__all__ = ["pick_device"]


def pick_device(preference: str | None = None) -> torch.device:
    """Return ``preference`` as a device, or the best available (CUDA, then MPS, then CPU).

    Raises ConfigError for a device this machine lacks (e.g. ``cuda`` without a GPU).
    """
    if preference in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as exc:
        raise ConfigError(f"--device {preference!r}: not a device name ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {preference!r}: CUDA is not available on this machine")
    return device
