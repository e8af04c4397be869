"""Deterministic instance IRIs of a run: same run, same IRIs, under a base IRI the user can set.

The default base is ``https://w3id.org/kgfilters/run/<run directory name>/``; a base set by the
user is stored in run.json as ``graph.base_iri`` and used from then on. Path segments built from
names (layers, splits, concepts) are percent-encoded with ``urllib.parse.quote(safe="")``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote as _quote
from urllib.parse import urlsplit

from rdflib import URIRef

from kgfilters.errors import ConfigError
from kgfilters.stages import GRAPHS

__all__ = ["DEFAULT_BASE", "STAGES", "Iris", "num", "quote"]

DEFAULT_BASE = "https://w3id.org/kgfilters/run/"

#: The named graphs of a run, one per stage of the registry that has one, and provenance.
STAGES = GRAPHS


def quote(text: str) -> str:
    """Percent-encode ``text`` for one IRI path segment (``/`` included)."""
    return _quote(str(text), safe="")


def num(value: float | int) -> str:
    """A parameter as it appears in an IRI: ``5`` for 5.0, ``0.1`` for 0.1."""
    f = float(value)
    return str(int(f)) if f.is_integer() else repr(f)


def check_base(base: str) -> str:
    """``base`` if it is an absolute IRI ending in ``/`` or ``#``; else ConfigError."""
    parts = urlsplit(base)
    if not parts.scheme or not (parts.netloc or parts.scheme == "urn") or base[-1] not in "/#":
        raise ConfigError(
            f"base IRI {base!r}: expected an absolute IRI ending in '/' or '#', "
            "e.g. https://example.org/runs/fm/"
        )
    if any(c in base for c in ' <>"{}|\\^`'):
        raise ConfigError(f"base IRI {base!r}: contains characters not allowed in an IRI")
    return base


@dataclass(frozen=True)
class Iris:
    """IRIs of one run's nodes and named graphs, all below ``base``."""

    base: str

    @classmethod
    def for_run(cls, root: str | os.PathLike[str], base_iri: str | None = None) -> Iris:
        """IRIs of the run at ``root``: ``base_iri``, else run.json ``graph.base_iri``, else the
        default."""
        if base_iri is None:
            from kgfilters.run import RunPaths

            path = RunPaths(Path(root)).run_json
            if path.is_file():
                from kgfilters.run import read_json

                base_iri = (read_json(path, expect=dict).get("graph") or {}).get("base_iri")
        if base_iri is None:
            base_iri = f"{DEFAULT_BASE}{quote(Path(root).resolve().name)}/"
        return cls(check_base(base_iri))

    def _iri(self, path: str) -> URIRef:
        return URIRef(f"{self.base}{path}")

    # the model and its parts
    def model(self) -> URIRef:
        return self._iri("model")

    def dataset(self) -> URIRef:
        return self._iri("dataset")

    def scheme(self) -> URIRef:
        """The skos:ConceptScheme holding the class labels."""
        return self._iri("classes")

    def layer(self, name: str) -> URIRef:
        return self._iri(f"layer/{quote(name)}")

    def filter(self, layer: str, i: int) -> URIRef:
        return self._iri(f"layer/{quote(layer)}/filter/{int(i)}")

    def class_label(self, c: int) -> URIRef:
        return self._iri(f"class/{int(c)}")

    # FILTAG
    def tag(self, method: str, param: float, layer: str, i: int, c: int) -> URIRef:
        return self._iri(f"tag/{quote(method)}/{num(param)}/{quote(layer)}/{int(i)}/{int(c)}")

    def hits_evaluation(self, layer: str) -> URIRef:
        return self._iri(f"hits/{quote(layer)}")

    def hits_result(self, layer: str, method: str, param: float, n: int) -> URIRef:
        return self._iri(f"hits/{quote(layer)}/{quote(method)}/{num(param)}/{int(n)}")

    def explanation(self, split: str, index: int) -> URIRef:
        return self._iri(f"explanation/{quote(split)}/{int(index)}")

    # FSAGN
    def area(
        self, layer: str, i: int, strategy: str, method: str, split: str, image: int
    ) -> URIRef:
        return self._iri(
            f"area/{quote(layer)}/{int(i)}/{quote(strategy)}/{quote(method)}/{quote(split)}/"
            f"{int(image)}"
        )

    # concepts
    def coarse_concept(self, layer: str, i: int, concept: str) -> URIRef:
        """The ``kgf:CoarseConcept`` node of filter ``i`` of ``layer`` and ``concept`` (an IRI)."""
        return self._iri(f"coarse/{quote(layer)}/{int(i)}/{quote(concept)}")

    # provenance
    def activity(self, stage: str) -> URIRef:
        return self._iri(f"activity/{quote(stage)}")

    def parameter(self, stage: str, name: str) -> URIRef:
        return self._iri(f"activity/{quote(stage)}/parameter/{quote(name)}")

    def software(self, name: str) -> URIRef:
        return self._iri(f"software/{quote(name)}")

    # named graphs
    def graph(self, stage: str) -> URIRef:
        """The named graph of ``stage`` (one of ``STAGES``)."""
        if stage not in STAGES:
            raise ConfigError(f"graph stage {stage!r}: expected one of {', '.join(STAGES)}")
        return self._iri(f"graph/{stage}")
