"""The run's knowledge graph as the TUI reads it: a read-only pyoxigraph Store, queried lazily.

Results are pulled a page at a time from pyoxigraph's result iterators, so a large graph is never
loaded whole into Python objects. Nothing here imports Textual.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdflib.namespace import PROV, RDFS, SKOS, XSD

from kgfilters.atomic import atomic_path
from kgfilters.errors import GraphError
from kgfilters.ontology.namespace import KGF_IRI, MLS
from kgfilters.queries.catalog import CatalogQuery, Param, bind_params, with_values
from kgfilters.tui.threads import SerialDaemonExecutor

__all__ = [
    "KGF",
    "PREFIXES",
    "GraphView",
    "ResultPage",
    "term_text",
]

log = logging.getLogger(__name__)

KGF = KGF_IRI
#: Prefixes every query may use without declaring them.
PREFIXES = {"kgf": KGF_IRI, "skos": str(SKOS), "rdfs": str(RDFS), "prov": str(PROV),
            "xsd": str(XSD), "mls": str(MLS)}


def _question(name: str, params: str, text: str) -> CatalogQuery:
    """A question of the views as a catalog query: ``params`` is ``"name:type ..."``; values are
    bound as RDF terms by the catalog (``bind_params``, ``with_values``), never pasted into text."""
    declared = tuple(Param(n, t, None, "") for n, t in (p.split(":") for p in params.split()))
    return CatalogQuery(name, "", declared, text)


# The filter is found by layer name and channel index (kgf:channelIndex is an xsd:integer).
_FILTER = "?f kgf:channelIndex ?index ; kgf:inLayer ?l . ?l kgf:layerName ?layer ."
_LINKED = _question("linked-concepts", "layer:string index:integer", (
    f"SELECT DISTINCT ?class ?concept WHERE {{ {_FILTER} ?f kgf:taggedWith ?c . "
    "?c kgf:denotes ?concept . OPTIONAL { ?c skos:prefLabel|rdfs:label ?class } } "
    "ORDER BY ?class ?concept"))
_COARSE = _question("coarse-concepts", "layer:string index:integer", (
    f"SELECT DISTINCT ?concept ?support WHERE {{ {_FILTER} ?f kgf:coarseConcept ?concept . "
    "OPTIONAL { ?f kgf:hasCoarseConcept ?node . ?node kgf:concept ?concept ; "
    "kgf:supportCount ?support } } ORDER BY DESC(?support) ?concept"))
_LABEL = _question("label", "node:iri",
                   "SELECT ?l WHERE { ?node skos:prefLabel|rdfs:label ?l } ORDER BY ?l")
_BROADER = _question("broader", "node:iri", "SELECT ?b WHERE { ?node skos:broader ?b } ORDER BY ?b")
_MATCHING = _question("concepts-matching", "text:string", (
    "SELECT ?name ?i ?concept WHERE { ?f kgf:inLayer/kgf:layerName ?name ; kgf:channelIndex ?i . "
    "{ ?f kgf:coarseConcept ?concept } UNION { ?f kgf:taggedWith/kgf:denotes ?concept } "
    "OPTIONAL { ?concept skos:prefLabel ?label } "
    "FILTER(CONTAINS(LCASE(STR(?concept)), ?text) || CONTAINS(LCASE(STR(?label)), ?text)) }"))
_ROOTS = _question("coarse-roots", "", (
    "SELECT ?concept (COUNT(DISTINCT ?f) AS ?filters) WHERE { ?f kgf:coarseConcept ?concept } "
    "GROUP BY ?concept ORDER BY DESC(?filters) ?concept"))
_MEMBER_CLASSES = _question("concept-classes", "concept:iri", (
    "SELECT DISTINCT ?label WHERE { ?c kgf:denotes ?d . ?d skos:broader* ?concept . "
    "OPTIONAL { ?c skos:prefLabel|rdfs:label ?l } BIND(COALESCE(?l, STR(?c)) AS ?label) } "
    "ORDER BY ?label"))
_MEMBER_FILTERS = _question("concept-filters", "concept:iri", (
    "SELECT ?name ?i WHERE { ?f kgf:coarseConcept ?concept ; kgf:inLayer/kgf:layerName ?name ; "
    "kgf:channelIndex ?i } ORDER BY ?name ?i"))


@dataclass(frozen=True)
class ResultPage:
    """Rows ``[offset, offset + len(rows))`` of a result; ``more`` when rows follow."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    offset: int
    more: bool
    #: Handle of the result kept open for the next page (``GraphView.next_page``); None at the end.
    cursor: int | None = None


def term_text(term: Any) -> str:
    """A result term as plain text: an IRI, a literal's lexical form, a blank node's id."""
    if term is None:
        return ""
    return str(getattr(term, "value", term))


@dataclass
class _Open:
    """An open result on the cursor thread: rows still to read, where they start, a read-ahead row."""

    columns: tuple[str, ...]
    rows: Iterator[tuple[str, ...]]
    offset: int = 0
    pending: tuple[str, ...] | None = None


class GraphView:
    """A persistent Oxigraph store opened read-only. Queries see the union of all named graphs."""

    def __init__(self, store: Any, path: Path) -> None:
        self.store = store
        self.path = path
        # pyoxigraph's result iterators belong to the thread that made them (they may not even be
        # dropped elsewhere), so open results live on one thread of their own, by handle.
        # A daemon thread: a query still running does not hold up quitting (tui/threads.py).
        self._cursor_thread = SerialDaemonExecutor("kgf-cursor")
        self._open: dict[int, _Open] = {}
        self._handles = itertools.count(1)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> GraphView | None:
        """The store at ``path``, or None when there is none; GraphError when it cannot be opened."""
        p = Path(path)
        if not p.is_dir() or not any(p.iterdir()):
            return None
        import pyoxigraph

        try:
            return cls(pyoxigraph.Store.read_only(str(p)), p)
        except OSError as exc:
            raise GraphError(f"{p}: cannot open the graph store read-only ({exc})") from None

    def _run(self, text: str) -> Any:
        try:
            return self.store.query(text, prefixes=PREFIXES, use_default_graph_as_union=True)
        except SyntaxError as exc:
            raise GraphError(f"SPARQL syntax error: {exc}") from None
        except OSError as exc:
            raise GraphError(f"{self.path}: query failed ({exc})") from None

    def iter_rows(self, text: str, *, cancelled: Callable[[], bool] = lambda: False
                  ) -> tuple[tuple[str, ...], Iterator[tuple[str, ...]]]:
        """Columns and a lazy iterator of rows (text) of any query: SELECT rows, CONSTRUCT /
        DESCRIBE triples (s, p, o) or one ASK row. Stops early when ``cancelled()``."""
        res = self._run(text)
        if isinstance(res, bool) or type(res).__name__ == "QueryBoolean":
            return ("ask",), iter([("true" if bool(res) else "false",)])
        if type(res).__name__ == "QueryTriples":
            cols: tuple[str, ...] = ("subject", "predicate", "object")
            src = ((term_text(t.subject), term_text(t.predicate), term_text(t.object)) for t in res)
        else:
            cols = tuple(v.value for v in res.variables)
            src = (tuple(term_text(s[c]) for c in cols) for s in res)

        def rows() -> Iterator[tuple[str, ...]]:
            try:
                for r in src:
                    if cancelled():
                        return
                    yield r
            except OSError as exc:
                raise GraphError(f"{self.path}: query failed while reading results ({exc})") from None

        return cols, rows()

    def open_page(self, text: str, *, size: int = 200, cancelled: Callable[[], bool] = lambda: False) -> ResultPage:
        """The first ``size`` rows of a query; the result stays open (``cursor``) while rows follow,
        so ``next_page`` reads on where this page stopped instead of running the query again."""
        return self._cursor_thread.submit(self._open_page, text, size, cancelled).result()

    def next_page(self, cursor: int, *, size: int = 200, cancelled: Callable[[], bool] = lambda: False) -> ResultPage:
        """The next ``size`` rows of an open result; GraphError when ``cursor`` is closed."""
        return self._cursor_thread.submit(self._take, cursor, size, cancelled).result()

    def close(self, cursor: int | None) -> None:
        """Forget an open result (on its own thread; returns at once)."""
        if cursor is not None:
            self._cursor_thread.submit(self._open.pop, cursor, None)

    def shutdown(self) -> None:
        """Close every open result and let their thread end (without waiting for it)."""
        try:
            self._cursor_thread.submit(self._open.clear)
        except RuntimeError:  # already shut down
            return
        self._cursor_thread.shutdown(wait=False)

    def _open_page(self, text: str, size: int, cancelled: Callable[[], bool]) -> ResultPage:
        cols, rows = self.iter_rows(text)
        handle = next(self._handles)
        self._open[handle] = _Open(cols, rows)
        return self._take(handle, size, cancelled)

    def _take(self, handle: int, size: int, cancelled: Callable[[], bool]) -> ResultPage:
        # runs on the cursor thread only
        res = self._open.get(handle)
        if res is None:
            raise GraphError(f"result {handle} is closed; run the query again")
        got = [res.pending] if res.pending is not None else []
        try:
            while len(got) <= size and not cancelled():
                got.append(next(res.rows))
        except StopIteration:
            pass
        except GraphError:
            del self._open[handle]
            raise
        offset, more = res.offset, len(got) > size
        res.pending = got.pop() if more else None  # the look-ahead row opens the next page
        res.offset += len(got)
        if not more or cancelled():
            del self._open[handle]
        return ResultPage(res.columns, tuple(got), offset, more, handle if handle in self._open else None)

    def export_csv(self, text: str, target: Path, *, cancelled: Callable[[], bool] = lambda: False) -> int:
        """Write every row of a query to ``target`` as CSV (atomic); returns the row count."""
        cols, it = self.iter_rows(text, cancelled=cancelled)
        n = 0
        with atomic_path(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in it:
                w.writerow(r)
                n += 1
            if cancelled():
                raise GraphError(f"{target}: export cancelled; nothing written")
        return n

    def select(self, text: str, *, limit: int = 1000) -> list[dict[str, str]]:
        cols, it = self.iter_rows(text)
        out = []
        for r in it:
            if len(out) >= limit:
                break
            out.append(dict(zip(cols, r, strict=True)))
        return out

    def ask(self, question: CatalogQuery, *, limit: int = 1000, **values: object) -> list[dict[str, str]]:
        """Rows of one of the views' questions with ``values`` bound as RDF terms by the catalog
        (a value holding quotes or SPARQL stays one literal; a malformed IRI is a GraphError)."""
        from kgfilters.errors import ConfigError

        try:
            bound = bind_params(question, {k: str(v) for k, v in values.items()})
        except ConfigError as exc:
            raise GraphError(str(exc)) from None
        return self.select(with_values(question.text, bound), limit=limit)

    # Questions the views ask
    def linked_concepts(self, layer: str, index: int) -> list[dict[str, str]]:
        """Concepts (WordNet / ConceptNet) the classes tagging a filter denote."""
        return self.ask(_LINKED, layer=layer, index=int(index))

    def coarse_concepts(self, layer: str, index: int) -> list[dict[str, str]]:
        """The filter's coarse concepts with their label, support (tags covered, ``support``) and
        skos:broader chain of labels (``chain``, ' > '), most support first."""
        rows = self.ask(_COARSE, layer=layer, index=int(index))
        for r in rows:
            r["label"] = self.label(r["concept"])
            r["chain"] = " > ".join(self.label(c) for c in self.broader_chain(r["concept"]))
        return rows

    def label(self, iri: str) -> str:
        """A node's skos:prefLabel (or rdfs:label), else the IRI itself."""
        rows = self.ask(_LABEL, limit=1, node=_iri(iri))
        return rows[0]["l"] if rows else iri

    def broader_chain(self, concept: str, *, depth: int = 12) -> list[str]:
        """``concept`` then its first skos:broader, and so on up to a root (cycle-safe)."""
        chain = [concept]
        while len(chain) <= depth:
            up = self.ask(_BROADER, limit=1, node=_iri(chain[-1]))
            if not up or up[0]["b"] in chain:
                break
            chain.append(up[0]["b"])
        return chain

    def concepts_matching(self, text: str, *, limit: int = 10_000) -> dict[tuple[str, int], tuple[str, ...]]:
        """Filters whose coarse or linked concept IRI contains ``text`` (case-insensitive), with
        those concepts; the store does the matching, so the graph is never loaded whole."""
        rows = self.ask(_MATCHING, limit=limit, text=text.lower())
        out: dict[tuple[str, int], list[str]] = {}
        for r in rows:
            out.setdefault((r["name"], int(r["i"])), []).append(r["concept"])
        return {k: tuple(v) for k, v in out.items()}

    def coarse_roots(self) -> list[dict[str, str]]:
        """Every coarse concept with its number of filters."""
        return self.ask(_ROOTS, limit=10_000)

    def concept_members(self, concept: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Classes whose concept lies under ``concept`` and the filters carrying it."""
        c = _iri(concept)
        return self.ask(_MEMBER_CLASSES, concept=c), self.ask(_MEMBER_FILTERS, limit=10_000, concept=c)


def _iri(s: str) -> str:
    if any(ch in s for ch in '<>"{}|^`\\ '):
        raise GraphError(f"IRI {s!r}: contains a character not allowed in an IRI")
    return s
