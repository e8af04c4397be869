"""The FSAGN stage of ``kgfilters demo``: select filters automatically, then train and evaluate."""

from __future__ import annotations

from pathlib import Path

import torch

from kgfilters.fsagn.stage import SensitiveOptions, select_stage, sensitive_stage

__all__ = ["DEMO_OPTIONS", "demo_stage"]

DEMO_OPTIONS = SensitiveOptions(
    num_images=8, train_images=2000, steps=100, batch_size=16, optimise_steps=40, figure_images=4
)


def demo_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Select the last conv layer's 2 most consistently active filters (500 tag images), train
    reservation and occlusion generators for them at once (100 steps of 16 images), and compare
    with Zeiler, optimised and random masks on 8 held-out images. Returns lines saying what was
    made where."""
    root = Path(root)
    sel = select_stage(root, num_samples=500, k=2, device=device)
    summary = sensitive_stage(root, options=DEMO_OPTIONS, device=device, progress=progress)
    lines = [
        f"FSAGN filter selection on {sel.layer}: targets {list(sel.targets)} "
        f"(figure: {root / 'figures' / f'response_{sel.layer}.png'})"
    ]
    for r in summary.filters:
        key = "correlation" if r.strategy == "reservation" else "response_ratio"
        figures = ", ".join(f"{m.method} {m[key]:.2f}" for m in r.methods)
        lines.append(
            f"  {r.layer}:{r.filter} {r.strategy}: area {r.method('fsagn')['area_fraction']:.2f}, "
            f"{key} {figures}"
        )
    lines.append(f"masks, generators and metrics: {root / 'masks'} (metrics.json)")
    return lines
