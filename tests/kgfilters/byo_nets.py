"""A user's own network for the import-path test (``--model tests.kgfilters.byo_nets:build``)."""

from __future__ import annotations

from torch import nn


class TinyNet(nn.Module):
    """Two 3x3 conv layers on 3x32x32 images; declares its preprocessing as attributes."""

    input_size = 32
    mean = (0.5, 0.5, 0.5)
    std = (0.25, 0.25, 0.25)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.features(x))


def build(num_classes: int) -> nn.Module:
    return TinyNet(num_classes)


def build_mlp(num_classes: int) -> nn.Module:
    """No conv layer: must be refused."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, num_classes))
