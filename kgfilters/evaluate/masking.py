"""Forward passes of one batch of images under many channel masks of one layer, batched.

``masked_logits(x, keep)`` gives the logits (M, n, classes) of images x (n, ...) with the layer's output
channels multiplied by each row of ``keep`` (M, C). The trunk up to the layer runs once per batch; the
masks widen the batch after it. Three ways, chosen once per model and layer and checked against the
plain one on real images before use (the figures never depend on the choice):

* ``linear``: when the layer's output reaches the next ``nn.Linear`` through channel-wise operations
  only (ReLU, max/avg pooling, flatten; the small network and VGG/AlexNet at their last conv layer),
  zeroing channel c zeroes exactly channel c's block of that Linear's input, so its output under mask
  k is ``b + sum_c k_c U_c`` with ``U_c = W_c z_c`` the block's contribution: one einsum
  (M, C) x (n, C, D) replaces M passes through the tail up to the Linear.
* ``widen``: a hook multiplies the layer's output (n, C, h, w) by the masks into (M n, C, h, w), and
  the rest of the network runs on the widened batch.
* ``repeat``: the images are repeated M times and each copy masked (networks whose later layers read
  earlier tensors again, e.g. residual blocks); the trunk then runs M times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from kgfilters.hooks import capture, edit_output, execution_order, forward_until_captured

__all__ = ["BUDGET", "ChannelMasker", "layer_shape"]

log = logging.getLogger(__name__)

#: Elements of widened tensors (masks x images x features) per pass (~128 MB in float32).
BUDGET = 1 << 25


def _widen(keep: torch.Tensor, repeat: bool):  # type: ignore[no-untyped-def]
    """The layer hook's edit: (n, C, ...) x keep (M, C) -> (M n, C, ...), mask-major."""

    def edit(out: torch.Tensor) -> torch.Tensor:
        k = keep.to(out.dtype).view(keep.shape[0], 1, keep.shape[1], *([1] * (out.ndim - 2)))
        if repeat:  # the images were repeated: out is already (M n, C, ...)
            return (out.unflatten(0, (keep.shape[0], -1)) * k).flatten(0, 1)
        return (out.unsqueeze(0) * k).flatten(0, 1)

    return edit


def _linear_edit(keep: torch.Tensor, lin: nn.Linear, channels: int):  # type: ignore[no-untyped-def]
    """The Linear hook's edit: its input z (n, C s) -> outputs under every mask, (M n, D)."""
    w = lin.weight.view(lin.weight.shape[0], channels, -1)  # (D, C, s)

    def edit(_out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        u = torch.einsum("ncs,dcs->ncd", z.reshape(z.shape[0], channels, -1), w)
        y = torch.einsum("mc,ncd->mnd", keep.to(u.dtype), u)
        return (y if lin.bias is None else y + lin.bias).flatten(0, 1)

    return edit


@dataclass(frozen=True)
class ChannelMasker:
    """Batched channel ablation of ``layer`` in ``model``; build with ``ChannelMasker.of``.

    ``mode`` is ``linear``, ``widen`` or ``repeat`` (module docstring); ``linear`` names the Linear
    module of the ``linear`` mode; ``channels`` and ``per_image`` (elements of the layer's output per
    image) size the batches.
    """

    model: nn.Module
    layer: str
    channels: int
    per_image: int
    mode: str = "repeat"
    linear: str | None = None

    @classmethod
    @torch.no_grad()
    def of(cls, model: nn.Module, layer: str, x: torch.Tensor, keep: torch.Tensor) -> ChannelMasker:
        """Probe the layer on images x (a few suffice) and pick the fastest mode that gives the
        plain mode's logits for the masks ``keep`` (M, C) on them."""
        channels, per_image = layer_shape(model, layer, x)
        plain = cls(model, layer, channels, per_image)
        x, keep = x[:4], keep[:4]
        ref = plain.logits(x, keep)
        tol = 1e-4 * (1.0 + float(ref.abs().max()))
        lin = _linear_after(model, layer, x, channels)
        for cand in (cls(model, layer, channels, per_image, "linear", lin), cls(model, layer, channels, per_image,
                                                                                "widen")):
            if cand.mode == "linear" and lin is None:
                continue
            try:
                got = cand.logits(x, keep)
            except RuntimeError:
                continue
            if got.shape == ref.shape and bool(torch.allclose(got, ref, rtol=1e-4, atol=tol)):
                return cand
        log.info("layer %s: masks run with the images repeated (the network takes no widened batch)", layer)
        return plain

    def per_mask(self) -> int:
        """Elements one (mask, image) pair adds to a widened pass."""
        if self.mode == "linear":
            return int(dict(self.model.named_modules())[self.linear].out_features)  # type: ignore[index]
        return self.per_image

    def logits(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Logits (M, n, classes) of images x (n, ...) under each channel mask of keep (M, C)."""
        m, n = keep.shape[0], x.shape[0]
        keep = keep.to(x.device)
        if self.mode == "linear":
            lin = dict(self.model.named_modules())[self.linear]  # type: ignore[index]
            with edit_output(self.model, self.linear, _linear_edit(keep, lin, self.channels),  # type: ignore[arg-type]
                             with_input=True):
                out = self.model(x)
        else:
            repeat = self.mode == "repeat"
            with edit_output(self.model, self.layer, _widen(keep, repeat)):
                out = self.model(x.repeat(m, *([1] * (x.ndim - 1))) if repeat else x)
        if out.shape[0] != m * n:
            raise RuntimeError(f"masked batch came out with {out.shape[0]} rows, expected {m * n}")
        return out.view(m, n, -1)


@torch.no_grad()
def layer_shape(model: nn.Module, layer: str, x: torch.Tensor) -> tuple[int, int]:
    """(channels, elements per image) of ``layer``'s output, from the first image of x."""
    with capture(model, [layer], stop=True) as out:
        forward_until_captured(model, x[:1], out)
    return int(out[layer].shape[1]), int(out[layer][0].numel())


def _linear_after(model: nn.Module, layer: str, x: torch.Tensor, channels: int) -> str | None:
    """The first Linear run after ``layer`` if only parameter-free modules run between them and each
    of its input features depends on exactly one of the layer's channels, in equal contiguous blocks
    (probed by zeroing each channel of a positive map); else None."""
    order = execution_order(model, x[:1])
    if layer not in order:
        return None
    modules = dict(model.named_modules())
    lin = None
    for name in order[order.index(layer) + 1 :]:
        if isinstance(modules[name], nn.Linear):
            lin = name
            break
        if any(True for _ in modules[name].parameters(recurse=False)):
            return None
    if lin is None:
        return None
    keep = torch.cat([torch.ones(1, channels), 1 - torch.eye(channels)]).to(x.device)
    widen = _widen(keep, False)
    try:
        with capture(model, [lin], inputs=True) as z, edit_output(model, layer, lambda o: widen(o.abs() + 1)):
            model(x[:1])
    except RuntimeError:
        return None
    feats = z[lin]
    if feats.ndim != 2 or feats.shape[1] % channels:
        return None
    changed = feats[1:] != feats[:1]  # (C, F): which features zeroing channel c changes
    blocks = torch.arange(channels, device=x.device).repeat_interleave(feats.shape[1] // channels)
    ok = bool((changed.sum(0) == 1).all()) and bool((changed.float().argmax(0) == blocks).all())
    return lin if ok else None
