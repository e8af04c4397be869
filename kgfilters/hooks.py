"""Forward hooks that capture (a reduction of) chosen layers' outputs, removed in ``finally``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["capture"]


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: list[str],
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``reduce(output)`` of each named layer at every forward pass.

    Yields a dict that each forward pass refills, ``{layer name: reduce(output)}``. The hooks are
    removed when the block ends, also when it raises, so no hook outlives the block.

    Example:
        >>> with capture(model, ["conv2"], lambda t: t.mean((2, 3))) as out:
        ...     model(x)
        >>> out["conv2"].shape   # (B, C)
    """
    modules = dict(model.named_modules())
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in layers:

            def hook(_m: nn.Module, _inp: object, output: torch.Tensor, _name: str = name) -> None:
                store[_name] = reduce(output)

            handles.append(modules[name].register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()
