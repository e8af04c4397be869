"""kgfilters: explain what each filter of a trained CNN has learnt, and keep it as a knowledge graph.

The Python API mirrors the CLI; start with ``kgfilters.load_run(path)``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kgfilters.errors import KgfError
from kgfilters.run import Run, load_run

__all__ = ["KgfError", "Run", "__version__", "load_run"]
