"""The frozen backbone as FSAGN sees it: a filter's response, the generator's input, the peak.

The forward pass stops as soon as every needed layer has run (a VGG's classifier never runs).
Feature maps are taken after ReLU (``clamp_min(0)``): the paper's "feature maps" are activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kgfilters.errors import DataError, LayerError
from kgfilters.hooks import capture
from kgfilters.models import ModelSpec, conv_layers, resolve_layers

__all__ = ["Backbone", "peak_positions", "to_pixels"]


class _Stop(Exception):
    """Raised inside a hook to end a forward pass once every needed layer has run."""


def peak_positions(r: torch.Tensor) -> torch.Tensor:
    """The filter's peak response mapped to normalised input coordinates (Eq. 4's t_x, t_y).

    Args:
        r: (B, K, h, w) feature maps.

    Returns:
        (B, K, 2) float32 ``(t_x, t_y)`` in [0, 1]: the centre of the peak cell, ``((j + 0.5) / w,
        (i + 0.5) / h)`` for the arg-max (i, j) (first one on ties). For networks whose convolutions
        keep the size ("same" padding) and whose pooling has stride s (the small net; VGG up to
        conv5_3) this is exactly the receptive-field centre of unit (i, j): input pixel
        ``(j + 0.5) * W / w - 0.5``, normalised by ``(x + 0.5) / W``.
    """
    h, w = r.shape[-2:]
    idx = r.flatten(-2).argmax(-1)
    i = torch.div(idx, w, rounding_mode="floor")
    j = idx - i * w
    return torch.stack([(j.float() + 0.5) / w, (i.float() + 0.5) / h], dim=-1)


def to_pixels(peaks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Normalised ``(t_x, t_y)`` (..., 2) to input pixel coordinates ``u * W - 0.5`` (..., 2)."""
    h, w = size
    scale = torch.tensor([w, h], dtype=peaks.dtype, device=peaks.device)
    return peaks * scale - 0.5


@dataclass(frozen=True)
class Backbone:
    """A frozen model, the layer whose filters are explained and the generator's input layer.

    ``filters`` are the output channels explained together; ``feature_layer`` (default: the last
    conv layer) feeds the generator. Build with ``Backbone.of(...)``, which validates everything.
    """

    model: nn.Module
    spec: ModelSpec
    layer: str
    filters: tuple[int, ...]
    feature_layer: str

    @classmethod
    def of(
        cls,
        model: nn.Module,
        spec: ModelSpec,
        layer: str,
        filters: list[int] | tuple[int, ...],
        *,
        feature_layer: str | None = None,
    ) -> Backbone:
        """Validate the layer (conv), the filter indices (in range) and freeze the model."""
        resolve_layers(model, [layer])
        convs = conv_layers(model)
        n = convs[layer].out_channels
        if not filters:
            raise LayerError(f"no filter of layer {layer!r} given; expected indices in 0..{n - 1}")
        for f in filters:
            if not 0 <= int(f) < n:
                raise LayerError(
                    f"filter {layer}:{f} out of range; layer {layer!r} has filters 0..{n - 1}"
                )
        feature_layer = feature_layer or list(convs)[-1]
        resolve_layers(model, [feature_layer])
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return cls(model, spec, layer, tuple(int(f) for f in filters), feature_layer)

    @property
    def num_filters(self) -> int:
        return len(self.filters)

    def check_images(self, images: torch.Tensor) -> None:
        """DataError unless images are (B, C, S, S) with the network's C and S."""
        c, s = self.spec.in_channels, self.spec.input_size
        if images.ndim != 4 or images.shape[1] != c or images.shape[-2:] != (s, s):
            raise DataError(
                f"images of shape {tuple(images.shape)}: "
                f"{self.spec.name} expects (B, {c}, {s}, {s})"
            )

    def _run(self, x01: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        want = list(dict.fromkeys(layers))
        modules = dict(self.model.named_modules())
        with capture(self.model, want, lambda t: t.clamp_min(0)) as store:
            handles = []

            def stop(_m: nn.Module, _i: object, _o: object) -> None:
                if len(store) == len(want):
                    raise _Stop

            try:
                for name in want:
                    handles.append(modules[name].register_forward_hook(stop))
                self.model(self.spec.prepare(x01))
            except _Stop:
                pass
            finally:
                for h in handles:
                    h.remove()
            return dict(store)

    def responses(self, x01: torch.Tensor) -> torch.Tensor:
        """The explained filters' maps (B, K, h, w) for images (B, C, H, W) in [0, 1]."""
        out = self._run(x01, [self.layer])[self.layer]
        return out[:, list(self.filters)]

    def responses_masked(self, masked: torch.Tensor) -> torch.Tensor:
        """Masked images (B, K, C, H, W) -> filter k's map of image (b, k), (B, K, h, w)."""
        b, k = masked.shape[:2]
        out = self._run(masked.flatten(0, 1), [self.layer])[self.layer]
        out = out.view(b, k, *out.shape[1:])
        idx = torch.as_tensor(self.filters, device=out.device)
        return out[:, torch.arange(k, device=out.device), idx]

    @torch.no_grad()
    def inputs_and_responses(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator input (B, C_f, h_f, w_f) and the explained responses (B, K, h, w), one pass."""
        store = self._run(x01, [self.layer, self.feature_layer])
        return store[self.feature_layer], store[self.layer][:, list(self.filters)]
