"""Forward hooks that capture (a reduction of) chosen layers' outputs, removed in ``finally``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.nn.modules import module as _module

__all__ = ["StopForward", "capture", "edit_output", "execution_order", "forward_until_captured", "relu_after"]


class StopForward(Exception):
    """Raised by a ``capture(..., stop=True)`` hook once every layer is captured."""


def relu_after(model: nn.Module, name: str) -> nn.ReLU | None:
    """The ``nn.ReLU`` that certainly receives module ``name``'s output as its input, else None.

    Certain means: ``name`` is a child of an ``nn.Sequential`` whose ``forward`` is
    ``nn.Sequential.forward`` (children run in order, each on the previous one's output), the next
    child is exactly an ``nn.ReLU`` (in place or not), and neither module occurs anywhere else in
    the model (a shared module would also run elsewhere). Every other structure gives None:
    torchvision's VGG ``features`` qualifies; ``F.relu`` in a ``forward`` or a ResNet block does not.
    """
    if not name:
        return None
    paths: dict[int, int] = {}
    for _, m in model.named_modules(remove_duplicate=False):
        paths[id(m)] = paths.get(id(m), 0) + 1
    modules = dict(model.named_modules())
    parent_name, _, key = name.rpartition(".")
    parent = modules.get(parent_name)
    if not isinstance(parent, nn.Sequential) or type(parent).forward is not nn.Sequential.forward:
        return None
    keys = list(parent._modules)
    i = keys.index(key)
    nxt = parent._modules[keys[i + 1]] if i + 1 < len(keys) else None
    if type(nxt) is not nn.ReLU or paths[id(modules[name])] != 1 or paths[id(nxt)] != 1:
        return None
    return nxt


class _Deferred:
    """The ``after_relu`` path of ``capture``: a layer hook that hands the layer's output on to
    the ReLU that follows it, and that ReLU's hook, which records ``after_relu(ReLU output)``.

    Checked when the layer runs: its output goes on only if no hook runs after ours on the layer
    (none can replace the output we saw), the ReLU has no pre-hooks, ours is its first forward
    hook and no global module hooks exist. Checked at the ReLU: its input is the very tensor the
    layer returned, changed by nothing but the ReLU itself (version counter: one step for an
    in-place ReLU, none otherwise). Otherwise the layer's output is reduced by ``reduce``, as
    without ``after_relu``: at once, or, if another tensor reached the ReLU, when it runs or
    the forward pass ends, provided the output was not changed in place meanwhile; a changed
    output (its values are lost) raises RuntimeError.
    """

    def __init__(self, store: dict[str, torch.Tensor], reduce: Callable[[torch.Tensor], torch.Tensor],
                 after_relu: Callable[[torch.Tensor], torch.Tensor], done: Callable[[], None]) -> None:
        self.store, self.reduce, self.after_relu, self.done = store, reduce, after_relu, done
        self.pending: dict[str, tuple[torch.Tensor, int]] = {}

    def hand_over(self, layer: nn.Module, layer_hook: int, relu: nn.ReLU, relu_hook: int,
                  output: torch.Tensor) -> bool:
        """Whether ``output`` is left for the ReLU's hook (else the caller reduces it now)."""
        return (isinstance(output, torch.Tensor) and not output.is_inference()
                and next(reversed(layer._forward_hooks)) == layer_hook
                and not relu._forward_pre_hooks and next(iter(relu._forward_hooks)) == relu_hook
                and not _module._global_forward_hooks and not _module._global_forward_pre_hooks)

    def defer(self, name: str, output: torch.Tensor) -> None:
        self.pending[name] = (output, output._version)

    def at_relu(self, name: str, relu: nn.ReLU, inp: torch.Tensor, out: torch.Tensor) -> None:
        got = self.pending.pop(name, None)
        if got is None:
            return
        if inp is got[0]:
            # the same tensor, unchanged but for the ReLU's own in-place write (one version step)
            if inp._version != got[1] + (1 if relu.inplace else 0):
                raise RuntimeError(f"layer {name}: its output was changed in place before its ReLU "
                                   "ran; capture it without after_relu")
            self.store[name] = self.after_relu(out)
        else:
            self._reduce_pending(name, got)
        self.done()

    def flush(self) -> None:
        """Reduce what no ReLU took (the forward pass ended)."""
        for name, got in list(self.pending.items()):
            del self.pending[name]
            self._reduce_pending(name, got)

    def _reduce_pending(self, name: str, got: tuple[torch.Tensor, int]) -> None:
        t, version = got
        if t._version != version:
            raise RuntimeError(f"layer {name}: its output was changed in place before its ReLU ran; "
                               "capture it without after_relu")
        self.store[name] = self.reduce(t)


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: list[str],
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
    *,
    stop: bool = False,
    inputs: bool = False,
    after_relu: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``reduce(output)`` of each named layer at every forward pass.

    Yields a dict that each forward pass refills, ``{layer name: reduce(output)}``. The hooks are
    removed when the block ends, also when it raises, so no hook outlives the block.
    With ``inputs``, the layers' (first) inputs are recorded instead of their outputs.
    With ``stop``, the forward pass is cut short (``StopForward``) once every layer is captured:
    use ``forward_until_captured`` to run it; the rest of the network is not computed.
    With ``after_relu`` (a function such that ``after_relu(relu(t))`` equals ``reduce(t)``), a
    layer whose output certainly goes straight into an ``nn.ReLU`` (``relu_after``) is recorded
    from that ReLU's output as ``after_relu(relu_output)``, so a reduction of the rectified values
    need not rectify them again (``kgfilters.stats.FilterMeans``); the ReLU's input must be the
    very tensor the layer returned, else ``reduce`` is used on it (``_Deferred``). ``stop`` then
    stops after that ReLU.

    Example:
        >>> with capture(model, ["conv2"], lambda t: t.mean((2, 3))) as out:
        ...     model(x)
        >>> out["conv2"].shape   # (B, C)
    """
    modules = dict(model.named_modules())
    store: dict[str, torch.Tensor] = {}
    handles = []

    def done() -> None:
        if stop and len(store) == len(layers):
            raise StopForward

    deferred = _Deferred(store, reduce, after_relu, done) if after_relu is not None and not inputs else None
    try:
        for name in layers:
            relu = relu_after(model, name) if deferred is not None else None
            if relu is None:

                def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], output: torch.Tensor,
                         _name: str = name) -> None:
                    store[_name] = reduce(inp[0] if inputs else output)
                    done()

                handles.append(modules[name].register_forward_hook(hook))
                continue
            assert deferred is not None
            ids: dict[str, int] = {}

            def layer_hook(m: nn.Module, _inp: tuple[torch.Tensor, ...], output: torch.Tensor, _name: str = name,
                           _relu: nn.ReLU = relu, _ids: dict[str, int] = ids) -> None:
                if deferred.hand_over(m, _ids["layer"], _relu, _ids["relu"], output):
                    deferred.defer(_name, output)
                else:
                    store[_name] = reduce(output)
                    done()

            def relu_hook(m: nn.ReLU, inp: tuple[torch.Tensor, ...], output: torch.Tensor,
                          _name: str = name) -> None:
                deferred.at_relu(_name, m, inp[0], output)

            handles.append(modules[name].register_forward_hook(layer_hook))
            handles.append(relu.register_forward_hook(relu_hook, prepend=True))
            ids["layer"], ids["relu"] = handles[-2].id, handles[-1].id
        if deferred is not None:
            handles.append(model.register_forward_pre_hook(lambda *_: deferred.pending.clear()))
            handles.append(model.register_forward_hook(lambda *_: deferred.flush()))
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
