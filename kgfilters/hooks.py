"""Forward hooks that capture (a reduction of) chosen layers' outputs, removed in ``finally``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["StopForward", "capture", "edit_output", "execution_order", "forward_until_captured"]


class StopForward(Exception):
    """Raised by a ``capture(..., stop=True)`` hook once every layer is captured."""


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: list[str],
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
    *,
    stop: bool = False,
    inputs: bool = False,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``reduce(output)`` of each named layer at every forward pass.

    Yields a dict that each forward pass refills, ``{layer name: reduce(output)}``. The hooks are
    removed when the block ends, also when it raises, so no hook outlives the block.
    With ``inputs``, the layers' (first) inputs are recorded instead of their outputs.
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

            def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], output: torch.Tensor, _name: str = name) -> None:
                store[_name] = reduce(inp[0] if inputs else output)
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


@contextlib.contextmanager
def edit_output(
    model: nn.Module, layer: str, edit: Callable[..., torch.Tensor], *, with_input: bool = False
) -> Iterator[None]:
    """Replace the output of module ``layer`` by ``edit(output)`` at every forward pass in the block.

    The rest of the network sees the edited tensor (which may have another batch size: an ablation
    multiplies one batch of feature maps by many channel masks). With ``with_input`` the edit is
    called as ``edit(output, input)`` (the module's first input). The hook is removed when the
    block ends, also when it raises.

    Example:
        >>> with edit_output(model, "conv2", lambda t: t * keep.view(1, -1, 1, 1)):
        ...     logits = model(x)   # conv2's filters with keep == 0 are zeroed
    """
    modules = dict(model.named_modules())
    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        return edit(out, inp[0]) if with_input else edit(out)

    handle = modules[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def execution_order(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the leaf modules in the order one forward pass of ``x`` runs them (hooks removed
    in ``finally``)."""
    order: list[str] = []
    handles = []
    try:
        for name, m in model.named_modules():
            if name and not any(True for _ in m.children()):
                handles.append(m.register_forward_hook(lambda _m, _i, _o, _n=name: order.append(_n)))
        model(x)
    finally:
        for h in handles:
            h.remove()
    return order
