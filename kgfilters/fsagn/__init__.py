"""FSAGN (Qian, Qiao, Xu, ICONIP 2018): filter selection, sensitive-area generator networks,
the Zeiler & Fergus occlusion baseline, per-image optimised and random masks, measured fidelity."""

from __future__ import annotations

from kgfilters.fsagn.backbone import Backbone, peak_positions, to_pixels
from kgfilters.fsagn.baselines import random_masks, sliding_windows, top_fraction_mask, zeiler_maps
from kgfilters.fsagn.fidelity import class_effect, mask_fidelity
from kgfilters.fsagn.fit import FitConfig, FitResult, fit_generator, generate_masks, optimise_masks
from kgfilters.fsagn.generators import GENERATORS, GeneratorDesign, MaskGenerator, get_design
from kgfilters.fsagn.masks_io import MaskSet, SensitiveArea, load_masks
from kgfilters.fsagn.select import Selection, response_matrix, select_filters

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
