"""FSAGN (Qian, Qiao, Xu, ICONIP 2018): filter selection, sensitive-area generator networks,
the Zeiler & Fergus occlusion baseline, per-image optimised and random masks, measured fidelity.

The names below are resolved on first use, so importing one submodule (``masks_io`` for the
TUI, say) does not import them all (``select`` pulls in the data sets and torchvision).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kgfilters.fsagn.backbone import Backbone, peak_positions, to_pixels
    from kgfilters.fsagn.baselines import random_masks, sliding_windows, top_fraction_mask, zeiler_maps
    from kgfilters.fsagn.fidelity import class_effect, mask_fidelity
    from kgfilters.fsagn.fit import FitConfig, FitResult, fit_generator, generate_masks, optimise_masks
    from kgfilters.fsagn.generators import GENERATORS, GeneratorDesign, MaskGenerator, get_design
    from kgfilters.fsagn.masks_io import MaskSet, SensitiveArea, load_masks
    from kgfilters.fsagn.select import Selection, response_matrix, select_filters

#: Public name -> the submodule defining it.
_WHERE = {
    **dict.fromkeys(("Backbone", "peak_positions", "to_pixels"), "backbone"),
    **dict.fromkeys(("random_masks", "sliding_windows", "top_fraction_mask", "zeiler_maps"), "baselines"),
    **dict.fromkeys(("class_effect", "mask_fidelity"), "fidelity"),
    **dict.fromkeys(("FitConfig", "FitResult", "fit_generator", "generate_masks", "optimise_masks"), "fit"),
    **dict.fromkeys(("GENERATORS", "GeneratorDesign", "MaskGenerator", "get_design"), "generators"),
    **dict.fromkeys(("MaskSet", "SensitiveArea", "load_masks"), "masks_io"),
    **dict.fromkeys(("Selection", "response_matrix", "select_filters"), "select"),
}

__all__ = [
    "GENERATORS",
    "Backbone",
    "FitConfig",
    "FitResult",
    "GeneratorDesign",
    "MaskGenerator",
    "MaskSet",
    "Selection",
    "SensitiveArea",
    "class_effect",
    "fit_generator",
    "generate_masks",
    "get_design",
    "load_masks",
    "mask_fidelity",
    "optimise_masks",
    "peak_positions",
    "random_masks",
    "response_matrix",
    "select_filters",
    "sliding_windows",
    "to_pixels",
    "top_fraction_mask",
    "zeiler_maps",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"kgfilters.fsagn.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kgfilters.fsagn' has no attribute {name!r}")
