"""WordNet 3.0 from Debian's ``wordnet-base``, read through nltk: synsets, IRIs, hypernym edges.

nltk's reader needs a ``lexnames`` file that Debian's package lacks, and nltk 3.10 only opens
files under directories in ``nltk.data.path`` (no symlinks or hard links out of them). So
``corpus_dir`` copies the database files once into ``<cache>/nltk_data/corpora/wordnet`` (cache:
``$KGFILTERS_CACHE`` or ``$XDG_CACHE_HOME/kgfilters`` or ``~/.cache/kgfilters``), writes
``lexnames``, and renames the finished directory into place (atomic; concurrent builders race
harmlessly). Debian ships no ``index.sense`` either: the reader skips nltk's WordNet-version
mapping (used only for the Open Multilingual Wordnet), which needs it.

Synset IRIs: ``http://wordnet-rdf.princeton.edu/wn30/{offset:08d}-{pos}``, the WordNet 3.0
identifiers the Princeton WordNet RDF service resolves; ImageNet wnids (``n02510455``) are the same
offsets.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kgfilters.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_SOURCE",
    "SYNSET_PREFIX",
    "cache_dir",
    "corpus_dir",
    "hypernym_closure",
    "load_wordnet",
    "lookup_term",
    "parse_synset_ref",
    "synset_from_iri",
    "synset_from_wnid",
    "synset_iri",
    "wnid_of",
]

log = logging.getLogger(__name__)

DEFAULT_SOURCE = Path("/usr/share/wordnet")
SYNSET_PREFIX = "http://wordnet-rdf.princeton.edu/wn30/"
_DB_FILES = (
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "cntlist.rev",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
)
#: WordNet 3.0 lexicographer files (lexnames(5WN)), in file-number order.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession "
    "noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time "
    "verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption "
    "verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl"
).split()
_SYNTACTIC = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_WNID = re.compile(r"^([nvar])(\d{8})$")
_NAME = re.compile(r"^.+\.[nvasr]\.\d{2}$")


def cache_dir() -> Path:
    """kgfilters' cache directory (``$KGFILTERS_CACHE``, else ``$XDG_CACHE_HOME/kgfilters``)."""
    env = os.environ.get("KGFILTERS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kgfilters"


def _lexnames_text() -> str:
    return "".join(
        f"{i:02d}\t{n}\t{_SYNTACTIC[n.split('.')[0]]}\n" for i, n in enumerate(_LEXNAMES)
    )


def corpus_dir(source: Path = DEFAULT_SOURCE, *, cache: Path | None = None) -> Path:
    """The nltk corpus directory ``<cache>/nltk_data/corpora/wordnet``, built once from ``source``.

    Raises DataError naming ``source`` when a database file is missing (install ``wordnet-base``).
    """
    root = (cache if cache is not None else cache_dir()) / "nltk_data" / "corpora"
    target = root / "wordnet"
    if (target / "lexnames").is_file() and all((target / f).is_file() for f in _DB_FILES):
        return target
    missing = [f for f in _DB_FILES if not (source / f).is_file()]
    if missing:
        raise DataError(
            f"{source}: WordNet 3.0 database incomplete (missing {', '.join(missing)}); "
            "install Debian's wordnet-base or pass another WordNet 3.0 directory"
        )
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet.", dir=root))
    try:
        for f in _DB_FILES:
            shutil.copyfile(source / f, tmp / f)  # copies, not links: nltk refuses links out
        (tmp / "lexnames").write_text(_lexnames_text(), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)  # an incomplete earlier build
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / "lexnames").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("WordNet 3.0 corpus for nltk built in %s", target)
    return target


@functools.lru_cache(maxsize=4)
def load_wordnet(source: Path = DEFAULT_SOURCE, cache: Path | None = None) -> Any:
    """An nltk ``WordNetCorpusReader`` over WordNet 3.0 (built by ``corpus_dir``; cached)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    target = corpus_dir(Path(source), cache=cache)
    data_root = str(target.parent.parent)
    if data_root not in nltk.data.path:
        nltk.data.path.append(data_root)

    class _WordNet30(WordNetCorpusReader):  # type: ignore[misc]
        def map_wn(self, version: str = "wordnet") -> None:  # needs index.sense; we are 3.0
            return None

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return _WordNet30(str(target), None)


def synset_iri(synset: Any) -> str:
    """``http://wordnet-rdf.princeton.edu/wn30/{offset:08d}-{pos}`` (satellites as ``a``)."""
    pos = "a" if synset.pos() == "s" else synset.pos()
    return f"{SYNSET_PREFIX}{synset.offset():08d}-{pos}"


def wnid_of(synset: Any) -> str:
    """The ImageNet-style id of a synset, e.g. ``n02510455``."""
    return f"{synset.pos()}{synset.offset():08d}"


def synset_from_wnid(wn: Any, wnid: str) -> Any:
    """The synset of an ImageNet wnid (``n02510455`` -> ``giant_panda.n.01``); DataError if none."""
    m = _WNID.match(wnid.strip())
    if not m:
        raise ConfigError(f"wnid {wnid!r}: expected a letter n/v/a/r and 8 digits, e.g. n02510455")
    try:
        with warnings.catch_warnings():  # nltk warns and returns None for an unknown offset
            warnings.simplefilter("ignore")
            s = wn.synset_from_pos_and_offset(m.group(1), int(m.group(2)))
    except Exception as exc:  # nltk raises WordNetError or ValueError for malformed offsets
        raise DataError(f"wnid {wnid!r}: no such synset in WordNet 3.0 ({exc})") from None
    if s is None:
        raise DataError(f"wnid {wnid!r}: no such synset in WordNet 3.0")
    return s


def synset_from_iri(wn: Any, iri: str) -> Any | None:
    """The synset of one of our synset IRIs, or None for any other IRI."""
    if not iri.startswith(SYNSET_PREFIX):
        return None
    m = re.match(r"^(\d{8})-([nvar])$", iri[len(SYNSET_PREFIX) :])
    if not m:
        raise ConfigError(f"synset IRI {iri!r}: expected {SYNSET_PREFIX}<8 digits>-<n|v|a|r>")
    return synset_from_wnid(wn, m.group(2) + m.group(1))


def parse_synset_ref(wn: Any, ref: str) -> Any | None:
    """A synset from a user's reference: a synset IRI, a wnid or a name (``boot.n.01``); None if
    ``ref`` is none of these (e.g. a ConceptNet IRI)."""
    ref = ref.strip()
    if ref.startswith(SYNSET_PREFIX):
        return synset_from_iri(wn, ref)
    if _WNID.match(ref):
        return synset_from_wnid(wn, ref)
    if _NAME.match(ref) and "://" not in ref:
        try:
            return wn.synset(ref)
        except Exception:  # nltk raises WordNetError / ValueError
            raise DataError(f"synset {ref!r}: not in WordNet 3.0") from None
    return None


def lookup_term(wn: Any, lemma: str, pos: str = "n") -> Any | None:
    """First WordNet sense (WordNet's frequency order) of ``lemma`` (morphy applied), or None."""
    try:
        synsets = wn.synsets(lemma, pos=pos)
    except Exception:  # odd characters make nltk's morphy raise
        return None
    return synsets[0] if synsets else None


def hypernym_closure(synsets: Iterable[Any]) -> tuple[set[Any], set[tuple[Any, Any]]]:
    """All synsets above ``synsets`` (hypernyms and instance hypernyms, transitively) and the
    direct edges (child, parent) among them: the ``skos:broader`` edges of the hierarchy."""
    seen: set[Any] = set()
    edges: set[tuple[Any, Any]] = set()
    stack = list(synsets)
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        for parent in s.hypernyms() + s.instance_hypernyms():
            edges.add((s, parent))
            stack.append(parent)
    return seen, edges
