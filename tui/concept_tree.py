"""The run's concepts as a forest of labels: the ``skos:broader`` hierarchy with ``skos:prefLabel``
and ``skos:notation``, the classes denoting each concept and the filters whose coarse concept it is.

``build_forest`` is pure (rows in, frozen forest out) so tests check counts on hand-made cases;
``load_forest`` asks the graph four whole-graph questions (no pasted values) and keeps the forest
per store. No Textual here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgfilters.tui.graphview import GraphView

__all__ = ["ConceptForest", "ConceptInfo", "build_forest", "concept_label", "load_forest"]

FilterKey = tuple[str, int]


@dataclass(frozen=True)
class ConceptInfo:
    """One concept: ``classes`` (labels) denote it and ``filters`` have it as coarse concept,
    directly; ``classes_under`` and ``filters_under`` count those at this concept or any concept
    below it (``skos:broader`` read downwards), each class and filter once."""

    iri: str
    label: str
    notation: str
    parents: tuple[str, ...]
    children: tuple[str, ...]
    classes: tuple[str, ...]
    filters: tuple[FilterKey, ...]
    classes_under: int
    filters_under: int


@dataclass(frozen=True)
class ConceptForest:
    """Concepts by IRI; ``roots`` have no broader concept. Only concepts that a class denotes, that
    a filter has as coarse concept, or that lie above such a concept are kept."""

    concepts: Mapping[str, ConceptInfo]
    roots: tuple[str, ...]

    def under(self, iri: str) -> set[str]:
        """``iri`` and every concept below it (cycle-safe)."""
        seen, todo = {iri}, [iri]
        while todo:
            for c in self.concepts[todo.pop()].children:
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return seen

    def matching(self, text: str) -> tuple[str, ...]:
        """Concepts whose label or notation contains ``text`` (case-insensitive), by label."""
        q = text.strip().lower()
        if not q:
            return ()
        hits = [c for c in self.concepts.values() if q in c.label.lower() or q in c.notation.lower()]
        return tuple(c.iri for c in sorted(hits, key=lambda c: (c.label.lower(), c.iri)))

    def search(self, text: str) -> tuple[dict[FilterKey, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """What a search for ``text`` finds under the concepts it matches (label or notation): the
        filters whose coarse concept lies at or under one, and the classes (labels) denoting a
        concept at or under one, each with the labels of the matched concepts, in order."""
        filters: dict[FilterKey, list[str]] = {}
        classes: dict[str, list[str]] = {}
        for iri in self.matching(text):
            label = self.concepts[iri].label
            for c in sorted(self.under(iri)):
                info = self.concepts[c]
                for f in info.filters:
                    if label not in filters.setdefault(f, []):
                        filters[f].append(label)
                for k in info.classes:
                    if label not in classes.setdefault(k, []):
                        classes[k].append(label)
        return ({k: tuple(v) for k, v in filters.items()}, {k: tuple(v) for k, v in classes.items()})


def build_forest(
    concepts: Iterable[tuple[str, str | None, str | None]],
    broader: Iterable[tuple[str, str]],
    denotes: Iterable[tuple[str, str]],
    coarse: Iterable[tuple[FilterKey, str]],
) -> ConceptForest:
    """A forest from (concept, label, notation), (narrower, broader), (class label, concept) and
    ((layer, filter), coarse concept) rows. The first label and notation of a concept win; a
    concept without a label shows its IRI's last segment."""
    names: dict[str, tuple[str | None, str | None]] = {}
    for iri, label, notation in concepts:
        old = names.get(iri, (None, None))
        names[iri] = (old[0] or label, old[1] or notation)
    up: dict[str, set[str]] = {}
    for a, b in broader:
        if a != b:
            up.setdefault(a, set()).add(b)
    classes: dict[str, list[str]] = {}
    for label, c in denotes:
        classes.setdefault(c, []).append(label)
    filters: dict[str, list[FilterKey]] = {}
    for f, c in coarse:
        filters.setdefault(c, []).append(f)
    keep: set[str] = set()
    todo = [*classes, *filters]
    while todo:  # the denoted and coarse concepts and everything above them
        c = todo.pop()
        if c not in keep:
            keep.add(c)
            todo.extend(up.get(c, ()))
    down: dict[str, set[str]] = {}
    for a in keep:
        for b in up.get(a, ()):
            down.setdefault(b, set()).add(a)

    def closure(c: str) -> set[str]:
        seen, stack = {c}, [c]
        while stack:
            for d in down.get(stack.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    stack.append(d)
        return seen

    out: dict[str, ConceptInfo] = {}
    for c in keep:
        label, notation = names.get(c, (None, None))
        below = closure(c)
        out[c] = ConceptInfo(
            c, label or c.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1], notation or "",
            tuple(sorted(up.get(c, set()) & keep)), (),
            tuple(sorted(set(classes.get(c, ())))), tuple(sorted(set(filters.get(c, ())))),
            len({k for d in below for k in classes.get(d, ())}),
            len({f for d in below for f in filters.get(d, ())}),
        )

    def order(cs: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(cs, key=lambda c: (-out[c].filters_under, out[c].label.lower(), c)))

    out = {c: _with_children(info, order(down.get(c, ()))) for c, info in out.items()}
    return ConceptForest(out, order(c for c in keep if not out[c].parents))


def _with_children(info: ConceptInfo, children: tuple[str, ...]) -> ConceptInfo:
    from dataclasses import replace

    return replace(info, children=children)


def concept_label(info: ConceptInfo) -> str:
    """``garment  garment.n.01 · 6 classes · 12 filters`` as Rich markup."""
    from rich.markup import escape

    note = f"  [dim]{escape(info.notation)}[/dim]" if info.notation and info.notation != info.label else ""
    cls = f"{info.classes_under} class{'es' if info.classes_under != 1 else ''}"
    fil = f"{info.filters_under} filter{'s' if info.filters_under != 1 else ''}"
    return f"[b]{escape(info.label)}[/b]{note} · {cls} · {fil}"


_FORESTS: weakref.WeakKeyDictionary[GraphView, ConceptForest] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()

_CONCEPTS = ("SELECT DISTINCT ?c ?label ?notation WHERE { { ?c a skos:Concept } UNION { ?x kgf:denotes ?c } "
             "UNION { ?x kgf:coarseConcept ?c } UNION { ?x skos:broader ?c } UNION { ?c skos:broader ?x } "
             "OPTIONAL { ?c skos:prefLabel ?label } OPTIONAL { ?c skos:notation ?notation } } "
             "ORDER BY ?c ?label ?notation")
_BROADER = "SELECT ?a ?b WHERE { ?a skos:broader ?b }"
_DENOTES = ("SELECT ?label ?d WHERE { ?c kgf:denotes ?d . OPTIONAL { ?c skos:prefLabel|rdfs:label ?l } "
            "BIND(COALESCE(?l, STR(?c)) AS ?label) }")
_COARSE = ("SELECT ?name ?i ?c WHERE { ?f kgf:coarseConcept ?c ; kgf:inLayer/kgf:layerName ?name ; "
           "kgf:channelIndex ?i }")
#: Rows read per question at most (a model with 4,224 filters and a few coarse concepts each fits).
LIMIT = 1_000_000


def load_forest(graph: GraphView) -> ConceptForest:
    """The concept forest of ``graph``'s store, built once per GraphView (thread-safe)."""
    with _LOCK:
        got = _FORESTS.get(graph)
    if got is not None:
        return got
    concepts = [(r["c"], r["label"] or None, r["notation"] or None) for r in graph.select(_CONCEPTS, limit=LIMIT)]
    broader = [(r["a"], r["b"]) for r in graph.select(_BROADER, limit=LIMIT)]
    denotes = [(r["label"], r["d"]) for r in graph.select(_DENOTES, limit=LIMIT)]
    coarse = [((r["name"], int(r["i"])), r["c"]) for r in graph.select(_COARSE, limit=LIMIT)]
    forest = build_forest(concepts, broader, denotes, coarse)
    with _LOCK:
        _FORESTS[graph] = forest
    return forest
