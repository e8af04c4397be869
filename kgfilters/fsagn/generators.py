"""Generator designs (FSAGN 2.2, Figs. 3b and 4): last-conv feature maps -> deconvolutions -> masks.

A design is data (a frozen ``GeneratorDesign`` in a registry); ``build`` makes the network for a
given number of filters. One output channel per filter over a shared trunk, so a single-filter
generator is the case K = 1 and many filters train at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kgfilters.errors import ConfigError

__all__ = ["GENERATORS", "GeneratorDesign", "MaskGenerator", "default_design", "get_design"]


class MaskGenerator(nn.Module):
    """Deconvolution decoder: feature maps (B, C_f, h, w) -> masks (B, K, h 2^s, w 2^s) in (0, 1).

    The input is divided by its per-image maximum (over C, h, w) first, so the generator sees the
    same scale whatever the backbone's activation range. ``trunk`` is shared by the K filters;
    ``head`` has one output channel per filter, followed by a sigmoid (paper: "adds a sigmoid
    layer to the output, which generates a single-channel mask M in (0, 1)").
    """

    def __init__(
        self, in_channels: int, stem: int, widths: tuple[int, ...], num_filters: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, stem, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
        prev = stem
        for w in widths:
            layers += [
                nn.ConvTranspose2d(prev, w, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(w, w, 3, padding=1),
                nn.ReLU(inplace=True),
            ]
            prev = w
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv2d(prev, num_filters, 3, padding=1)
        self.num_filters = num_filters

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        scale = feats.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
        return torch.sigmoid(self.head(self.trunk(feats / scale)))


@dataclass(frozen=True)
class GeneratorDesign:
    """A decoder shape: ``stem`` channels, then one 2x deconvolution stage per entry of ``widths``.

    ``feature_size`` -> ``input_size`` is the spatial scale it is meant for (e.g. 14 -> 28).
    """

    name: str
    stem: int
    widths: tuple[int, ...]
    feature_size: int
    input_size: int
    note: str

    def build(self, in_channels: int, num_filters: int) -> MaskGenerator:
        """The generator for ``num_filters`` filters reading ``in_channels`` feature maps."""
        return MaskGenerator(in_channels, self.stem, self.widths, num_filters)

    def check(self, feature_size: int, input_size: int) -> None:
        """ConfigError unless this design maps ``feature_size`` to ``input_size``."""
        if feature_size * 2 ** len(self.widths) != input_size:
            raise ConfigError(
                f"generator design {self.name!r} maps {self.feature_size}->{self.input_size} px, "
                f"but the feature maps are {feature_size} and the images {input_size} pixels"
            )


GENERATORS: dict[str, GeneratorDesign] = {
    d.name: d
    for d in (
        GeneratorDesign(
            "small-28",
            64,
            (32,),
            14,
            28,
            "small network (Fig. 3b): conv2 64x14x14 -> 1 deconvolution -> 28x28",
        ),
        GeneratorDesign(
            "vgg-224",
            256,
            (256, 128, 64, 32),
            14,
            224,
            "VGG-16 (Fig. 4): conv5_3 512x14x14 -> 4 deconvolutions -> 224x224",
        ),
    )
}


def get_design(name: str) -> GeneratorDesign:
    """The design called ``name``; ConfigError naming the choices."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown generator design {name!r}; choose one of {', '.join(GENERATORS)}"
        ) from None


def default_design(feature_size: int, input_size: int) -> GeneratorDesign:
    """The registered design for this scale, or a generic one (stem 128, halving widths)."""
    for d in GENERATORS.values():
        if d.feature_size == feature_size and d.input_size == input_size:
            return d
    ratio = input_size / feature_size
    stages = round(math.log2(ratio)) if ratio >= 1 else -1
    if stages < 0 or feature_size * 2**stages != input_size:
        raise ConfigError(
            f"feature maps of {feature_size} pixels cannot be decoded to {input_size}-pixel masks "
            "by 2x deconvolutions; pick a layer whose size divides the input by a power of two"
        )
    widths = tuple(max(128 >> s, 16) for s in range(1, stages + 1))
    return GeneratorDesign(
        f"generic-{feature_size}-{input_size}",
        128,
        widths,
        feature_size,
        input_size,
        "generic decoder",
    )
