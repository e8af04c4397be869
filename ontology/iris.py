"""Deterministic instance IRIs of a run: same run, same IRIs, under a base IRI the user can set.

The base is pinned in run.json (``graph.base_iri``) when the run is created: by default
``https://w3id.org/kgfilters/run/<run directory name>/``, derived once; copying or moving the run
changes no IRI. ``kgfilters rebase`` (``ontology.build.rebase``) moves a run to another base. Path segments built from
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

__all__ = ["DEFAULT_BASE", "STAGES", "Iris", "check_base", "default_base", "num", "pinned_base",
           "quote", "run_base", "stored_base"]

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


def default_base(root: str | os.PathLike[str]) -> str:
    """The default base of a new run: ``https://w3id.org/kgfilters/run/<directory name>/``.

    Used once, when the run is created (``kgfilters.pipeline.create_run``) and pinned in run.json;
    never re-derived for a run that has a base, so copying or moving the directory changes no IRI.
    """
    return f"{DEFAULT_BASE}{quote(Path(root).resolve().name)}/"


def pinned_base(root: str | os.PathLike[str]) -> str | None:
    """The base IRI run.json ``graph.base_iri`` records, or None (a run of an older kgfilters)."""
    from kgfilters.run import RunPaths, read_run_json

    if not RunPaths(Path(root)).run_json.is_file():
        return None
    config = read_run_json(root)
    graph = config.get("graph") if isinstance(config, dict) else None
    base = graph.get("base_iri") if isinstance(graph, dict) else None
    return str(base) if base else None


def stored_base(root: str | os.PathLike[str]) -> str | None:
    """The base IRI of the stage graphs already in the run's store (``<base>graph/<stage>``; the
    most common base when there are several), or None without a store. For runs made before the
    base was pinned: their graph keeps the IRIs it was built with."""
    from kgfilters.ontology.store import has_store, open_store

    if not has_store(root):
        return None
    store = open_store(root, read_only=True)
    try:
        counts: dict[str, int] = {}
        for g in store.named_graphs():
            iri = getattr(g, "value", "")
            head, sep, stage = iri.rpartition("graph/")
            if sep and stage in STAGES:
                counts[head] = counts.get(head, 0) + 1
    finally:
        del store
    return max(sorted(counts), key=lambda b: counts[b]) if counts else None


def run_base(root: str | os.PathLike[str]) -> str:
    """The run's base IRI: pinned in run.json; for an older run without one, the base its store
    was built with, else the default from the directory name (``pin_base`` then records it)."""
    return pinned_base(root) or stored_base(root) or default_base(root)


@dataclass(frozen=True)
class Iris:
    """IRIs of one run's nodes and named graphs, all below ``base``."""

    base: str

    @classmethod
    def for_run(cls, root: str | os.PathLike[str], base_iri: str | None = None) -> Iris:
        """IRIs of the run at ``root``: ``base_iri`` if given, else the run's base (``run_base``)."""
        return cls(check_base(base_iri if base_iri is not None else run_base(root)))

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

    # parts of a node, named below the node's own IRI
    @staticmethod
    def class_result(owner: URIRef, c: int) -> URIRef:
        """The per-class result for class ``c`` of a Hits@n evaluation or result ``owner``."""
        return URIRef(f"{owner}/class/{int(c)}")

    @staticmethod
    def top_filter(explanation: URIRef, rank: int) -> URIRef:
        """The ``kgf:FilterActivation`` of rank ``rank`` (1 = most active) of an explanation."""
        return URIRef(f"{explanation}/filter/{int(rank)}")

    @staticmethod
    def class_vote(explanation: URIRef, rank: int) -> URIRef:
        """The ``kgf:ClassVote`` of rank ``rank`` of an explanation."""
        return URIRef(f"{explanation}/class/{int(rank)}")

    @staticmethod
    def hit_outcome(explanation: URIRef, n: int) -> URIRef:
        """The ``kgf:HitOutcome`` for Hits@``n`` of an explanation."""
        return URIRef(f"{explanation}/hits/{int(n)}")

    @staticmethod
    def explanation_area(explanation: URIRef, layer: str, i: int, strategy: str) -> URIRef:
        """The ``kgf:SensitiveArea`` of filter ``layer:i`` by ``strategy`` in an explanation's image."""
        return URIRef(f"{explanation}/area/{quote(layer)}/{int(i)}/{quote(strategy)}")

    @staticmethod
    def measurement(area: URIRef, name: str) -> URIRef:
        """The ``kgf:Measurement`` named ``name`` of a sensitive area."""
        return URIRef(f"{area}/metric/{quote(name)}")

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

    # evaluation
    def evaluation(self) -> URIRef:
        return self._iri("evaluation")

    def evaluation_figure(self, section: str, name: str) -> URIRef:
        return self._iri(f"evaluation/{quote(section or 'figure')}/{quote(name)}")

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
