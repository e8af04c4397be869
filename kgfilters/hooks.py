"""Forward hooks that capture (a reduction of) chosen layers' outputs, removed in ``finally``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["StopForward", "capture", "forward_until_captured"]


class StopForward(Exception):
    """Raised by a ``capture(..., stop=True)`` hook once every layer is captured."""


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: list[str],
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
    *,
    stop: bool = False,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``reduce(output)`` of each named layer at every forward pass.

    Yields a dict that each forward pass refills, ``{layer name: reduce(output)}``. The hooks are
    removed when the block ends, also when it raises, so no hook outlives the block.
    With ``stop``, the forward pass is cut short (``StopForward``) once every layer is captured:
    use ``forward_until_captured`` to run it; the rest of the network is not computed.

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
                if stop and len(store) == len(layers):
                    raise StopForward

            handles.append(modules[name].register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()


def forward_until_captured(model: nn.Module, x: torch.Tensor, store: dict[str, torch.Tensor]) -> None:
    """Run ``model(x)`` under ``capture(..., stop=True)``, stopping after the last captured layer."""
    store.clear()
    try:
        model(x)
    except StopForward:
        pass
