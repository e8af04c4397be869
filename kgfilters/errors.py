"""The one root exception of kgfilters and its few subclasses.

Every message names the bad value, where it came from (file, argument or field) and what was
expected, so the CLI can print it as a single line.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GraphError",
    "KgfError",
    "LayerError",
    "ModelError",
    "RunError",
]


class KgfError(Exception):
    """Root of every error kgfilters raises on purpose (bad input, missing files)."""


class DataError(KgfError):
    """A data set is missing, unreadable or of the wrong shape."""


class ModelError(KgfError):
    """An unknown model name, a missing or incompatible weights file."""


class LayerError(KgfError):
    """A layer name that is unknown or not convolutional, or a filter index out of range."""


class ConfigError(KgfError):
    """An option value outside its valid range (k larger than a layer's filters, q outside (0, 1])."""


class RunError(KgfError):
    """A run directory that lacks what a command needs (no model yet, no statistics yet)."""


class GraphError(KgfError):
    """An RDF store, export or query that cannot be read, written or run."""
