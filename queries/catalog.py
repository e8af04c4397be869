"""The SPARQL query catalog: ``queries/*.rq`` files with a header, run with bound parameters.

Each ``.rq`` file starts with comment lines::

    # question: Which filters are tagged with a class, best first?
    # param: label string  the class label as the data set spells it, e.g. Sandal
    # param: n integer = 5  at most this many filters per layer

Parameter types: ``string``, ``label`` (an English label, ``"..."@en`` as ``skos:prefLabel``
holds it, so it is found through the index), ``integer``, ``double``, ``boolean``, ``iri`` and
``iris`` (a space-separated list of IRIs, bound as one string `` iri1 iri2 `` that queries test with
``CONTAINS``). A default of ``DEFAULT_STOP`` stands for the coarsening stop list. Values are bound
as RDF terms (rdflib ``initBindings``, Oxigraph ``substitutions``), never pasted into the query
text, so a value holding quotes, braces or SPARQL is only ever a literal. Queries read the union
of the run's named graphs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

from rdflib import XSD, BNode, Literal, URIRef
from rdflib.term import Node

from kgfilters.errors import ConfigError, GraphError

__all__ = [
    "FORMATS",
    "CatalogQuery",
    "Param",
    "QueryResult",
    "bind_params",
    "bind_text",
    "catalog",
    "format_result",
    "get_query",
    "iter_query",
    "page_text",
    "parse_query_file",
    "run_query",
    "with_values",
]

FORMATS = ("table", "csv", "json")
TYPES = ("string", "label", "integer", "double", "boolean", "iri", "iris")
_PARAM = re.compile(r"^#\s*param:\s*(\w+)\s+(\w+)(?:\s*=\s*(\S+))?\s*(.*)$")
_IRI_OK = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")
def _named_default(value: str) -> str:
    """A parameter default that names a constant (``DEFAULT_STOP``) -> its text; else ``value``.
    Imported on use: coarsen pulls in networkx, which the TUI's first screen does not need."""
    if value != "DEFAULT_STOP":
        return value
    from kgfilters.queries.coarsen import DEFAULT_STOP

    return " ".join(sorted(DEFAULT_STOP))


@dataclass(frozen=True)
class Param:
    """One declared parameter: name (the query's ``?name``), type, default (None: required)."""

    name: str
    type: str
    default: str | None
    doc: str


@dataclass(frozen=True)
class CatalogQuery:
    """A catalog query: its name (file stem), question, parameters and SPARQL text."""

    name: str
    question: str
    params: tuple[Param, ...]
    text: str
    page: str | None = None  # ``# page: VAR``: rows are ranked 1, 2, ... by ?VAR, in answer order


@dataclass(frozen=True)
class QueryResult:
    """Rows of a SELECT: column names and Python values (IRIs as str, literals as Python)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def parse_query_file(path: str | Path, text: str | None = None) -> CatalogQuery:
    """Parse an ``.rq`` file's header (see the module docstring); GraphError for a bad header."""
    p = Path(path)
    if text is None:
        if not p.is_file():
            raise ConfigError(f"query file {p}: no such file")
        text = p.read_text(encoding="utf-8")
    question, params, page = "", [], None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        if line.lstrip("# ").startswith("question:"):
            question = line.split(":", 1)[1].strip()
        elif line.lstrip("# ").startswith("page:"):
            page = line.split(":", 1)[1].strip().lstrip("?$")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", page):
                raise GraphError(f"{p}:{n}: bad page line {line!r}: expected '# page: VAR'")
        elif line.lstrip("# ").startswith("param:"):
            m = _PARAM.match(line)
            if not m or m.group(2) not in TYPES:
                raise GraphError(
                    f"{p}:{n}: bad parameter line {line!r}: expected "
                    f"'# param: NAME TYPE [= DEFAULT] doc' with TYPE in {', '.join(TYPES)}"
                )
            params.append(Param(m.group(1), m.group(2), m.group(3), m.group(4).strip()))
    return CatalogQuery(p.stem, question, tuple(params), text, page)


def catalog(directory: str | Path | None = None) -> dict[str, CatalogQuery]:
    """Every ``.rq`` query shipped with kgfilters (or in ``directory``), by name; a directory
    that does not exist holds none."""
    if directory is None:
        entries: list[Any] = list(resources.files("kgfilters.queries").iterdir())
    else:
        entries = list(Path(directory).glob("*.rq")) if Path(directory).is_dir() else []
    out = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.endswith(".rq"):
            q = parse_query_file(entry.name, entry.read_text(encoding="utf-8"))
            out[q.name] = q
    return out


def get_query(name_or_file: str) -> CatalogQuery:
    """A catalog query by name, or any ``.rq`` file by path."""
    if name_or_file.endswith(".rq") or "/" in name_or_file:
        return parse_query_file(name_or_file)
    queries = catalog()
    if name_or_file not in queries:
        raise ConfigError(
            f"query {name_or_file!r}: not in the catalog; expected a .rq file or one "
            f"of {', '.join(queries)}"
        )
    return queries[name_or_file]


def _term(param: Param, value: str) -> Node:
    value = _named_default(value) if value == param.default else value
    try:
        if param.type == "string":
            return Literal(value)
        if param.type == "label":
            return Literal(value, lang="en")
        if param.type == "integer":
            return Literal(int(value), datatype=XSD.integer)
        if param.type == "double":
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(value)
            return Literal(v, datatype=XSD.double)
        if param.type == "boolean":
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return Literal(value.lower() == "true", datatype=XSD.boolean)
        iris = value.split() if param.type == "iris" else [value]
        if not iris and param.type == "iri":
            raise ValueError(value)
        for iri in iris:
            if not _IRI_OK.match(iri):
                raise ValueError(iri)
        return URIRef(value) if param.type == "iri" else Literal(f" {' '.join(iris)} ")
    except ValueError:
        raise ConfigError(
            f"--param {param.name}={value!r}: expected a value of type {param.type}"
        ) from None


def bind_params(query: CatalogQuery, values: Mapping[str, str]) -> dict[str, Node]:
    """The RDF terms of a query's parameters from strings (defaults for those not given)."""
    known = {p.name: p for p in query.params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"query {query.name}: unknown parameter(s) {', '.join(unknown)}; expected "
            f"{', '.join(known) or 'none'}"
        )
    out: dict[str, Node] = {}
    for p in query.params:
        if p.name in values:
            out[p.name] = _term(p, values[p.name])
        elif p.default is not None:
            out[p.name] = _term(p, p.default)
        else:
            raise ConfigError(
                f"query {query.name}: parameter {p.name} ({p.type}) is required: "
                f"--param {p.name}=VALUE ({p.doc})"
            )
    return out


def _py(term: Any) -> Any:
    """A result term as a Python value: IRIs as str, literals via rdflib's toPython."""
    if term is None:
        return None
    if isinstance(term, URIRef | BNode):
        return str(term)
    if isinstance(term, Literal):
        v = term.toPython()
        return v if isinstance(v, str | int | float | bool) else str(term)
    import pyoxigraph as ox  # Oxigraph terms

    if isinstance(term, ox.NamedNode):
        return term.value
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        lit = Literal(
            term.value,
            lang=term.language,
            datatype=None if term.language else URIRef(term.datatype.value),
        )
        return _py(lit)
    return str(term)


_TOKENS = re.compile(r"""#[^\n]*|<[^<>\s{}]*>|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\{""")


def with_values(text: str, bound: Mapping[str, Node]) -> str:
    """``text`` with an inline ``VALUES`` block binding ``bound`` opened at the start of the
    WHERE clause (for Oxigraph, whose substitutions only accept projected variables).

    The block holds the terms as rdflib serialises them (``n3()``: quotes and backslashes
    escaped; IRIs were checked to hold no spaces, angle brackets, quotes, braces, pipes,
    carets, backquotes or backslashes), so a value stays one RDF term.
    The first ``{`` outside comments, IRIs and strings opens the WHERE clause.
    """
    if not bound:
        return text
    for m in _TOKENS.finditer(text):
        if m.group() == "{":
            names = " ".join(f"?{k}" for k in bound)
            terms = " ".join(v.n3() for v in bound.values())
            return f"{text[: m.end()]} VALUES ({names}) {{ ({terms}) }}{text[m.end() :]}"
    raise GraphError("query has no WHERE clause to bind parameters in")


_XSD = "http://www.w3.org/2001/XMLSchema#"
_NUMERIC = {
    _XSD + "integer": int, _XSD + "int": int, _XSD + "long": int, _XSD + "nonNegativeInteger": int,
    _XSD + "double": float, _XSD + "float": float,
}


def _ox_py(term: Any) -> Any:
    """An Oxigraph result term as ``_py`` gives it, without building an rdflib term for the
    common datatypes (strings, language strings, integers, doubles, booleans)."""
    import pyoxigraph as ox

    if isinstance(term, ox.Literal):
        if term.language:
            return term.value
        dt = term.datatype.value
        if dt == _XSD + "string":
            return term.value
        conv = _NUMERIC.get(dt)
        if conv is not None:
            try:
                return conv(term.value)
            except ValueError:  # an ill-typed literal: rdflib's reading below
                pass
        elif dt == _XSD + "boolean" and term.value in ("true", "false"):
            return term.value == "true"
    if isinstance(term, ox.NamedNode):
        return term.value
    return _py(term)


def page_text(query: CatalogQuery, offset: int, size: int) -> str:
    """The text of one page of a query that declares ``# page: VAR`` (its rows ranked 1, 2, ...
    by ``?VAR`` in answer order): the query with ``FILTER(offset < ?VAR <= offset + size)`` as
    constants in its WHERE clause, which Oxigraph answers from its index, so a page of a sorted
    answer joins only its own rows. Filters of the query itself may leave a page short."""
    if query.page is None:
        raise GraphError(f"query {query.name}: declares no '# page: VAR' to page by")
    lo, hi = max(int(offset), 0), max(int(offset), 0) + max(int(size), 0)
    masked = _MASK.sub(lambda m: " " * len(m.group()), query.text)
    start = masked.find("{")
    if start < 0:
        raise GraphError(f"query {query.name}: no WHERE clause to page")
    cond = f" FILTER(?{query.page} > {lo} && ?{query.page} <= {hi}) "
    return query.text[: start + 1] + cond + query.text[start + 1 :]


def iter_query(
    target: Any, query: CatalogQuery | str, params: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
    """Run a SELECT and stream its rows: (column names, an iterator of rows as Python values).

    Rows are converted as they are read, so the first rows of an Oxigraph result come without
    the whole answer being built (a query with ORDER BY or GROUP BY is still evaluated in full
    by the engine before its first row). Same arguments and errors as ``run_query``; an error
    met while reading rows is raised as GraphError by the iterator.
    """
    if isinstance(query, str):
        query = CatalogQuery("inline", "", (), query)
    bound = bind_params(query, params or {})
    name = query.name
    try:
        import pyoxigraph as ox

        if isinstance(target, ox.Store):
            res = target.query(bind_text(query.text, bound), use_default_graph_as_union=True)
            cols = tuple(v.value for v in res.variables)
            rows: Iterator[tuple[Any, ...]] = (
                tuple(None if (t := sol[c]) is None else _ox_py(t) for c in cols) for sol in res
            )
        else:
            res = target.query(query.text, initBindings=bound)
            cols = tuple(str(v) for v in res.vars or ())
            rows = (tuple(_py(r[c]) for c in cols) for r in res)
    except Exception as exc:
        raise _query_error(name, exc) from None
    return cols, _guarded(name, rows)


def _query_error(name: str, exc: Exception) -> Exception:
    """GraphError for a parse or evaluation error of the engines; anything else as it is."""
    if isinstance(exc, SyntaxError | ValueError) or type(exc).__module__.startswith(
        ("pyparsing", "pyoxigraph", "builtins")
    ):  # pyparsing / oxigraph errors have no common base
        return GraphError(f"query {name}: {type(exc).__name__}: {exc}")
    return exc


def _guarded(name: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    try:
        yield from rows
    except Exception as exc:
        raise _query_error(name, exc) from None


_MASK = re.compile(r"""#[^\n]*|<[^<>\s{}]*>|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
_VAR = re.compile(r"[?$]([A-Za-z_][A-Za-z_0-9]*)")


def bind_text(text: str, bound: Mapping[str, Node]) -> str:
    """``text`` with ``bound`` parameters written into its WHERE clause as RDF terms, for Oxigraph.

    Oxigraph plans a query with constants better than one with the same values in a ``VALUES``
    block (``with_values``): a range filter on a constant, for example, is answered from the
    index (a first page of a ranked list in ~10 ms instead of ~500 ms on the benchmark run).
    Each occurrence of ``?name`` inside the WHERE clause (outside comments, IRIs and strings) is
    replaced by the term as rdflib serialises it (``n3()``: quotes and backslashes escaped, IRIs
    checked by ``bind_params``), so a value stays one RDF term. A parameter that also appears
    outside the WHERE clause (projected, sorted by), as a ``BIND``/aggregate target (``AS
    ?name``), or any parameter of a query with a sub-SELECT (where inner variables are scoped),
    is bound by a ``VALUES`` block instead, as ``with_values`` does.
    """
    if not bound:
        return text
    masked = _MASK.sub(lambda m: " " * len(m.group()), text)
    start = masked.find("{")
    if start < 0:
        raise GraphError("query has no WHERE clause to bind parameters in")
    depth, end = 0, len(masked)
    for i in range(start, len(masked)):
        depth += {"{": 1, "}": -1}.get(masked[i], 0)
        if depth == 0:
            end = i
            break
    where = masked[start:end]
    inline = set(bound)
    if re.search(r"(?i)\bselect\b", where):
        inline = set()
    for m in _VAR.finditer(masked):
        name = m.group(1)
        if name in inline and (not start < m.start() < end
                               or re.search(r"(?i)\bas\s*$", masked[max(m.start() - 8, 0):m.start()])):
            inline.discard(name)
    out, last = [], 0
    for m in _VAR.finditer(masked, start, end):
        if m.group(1) in inline:
            out += [text[last:m.start()], bound[m.group(1)].n3()]
            last = m.end()
    text = "".join([*out, text[last:]])
    rest = {k: v for k, v in bound.items() if k not in inline}
    return with_values(text, rest) if rest else text


def run_query(
    target: Any,
    query: CatalogQuery | str,
    params: Mapping[str, str] | None = None,
    *,
    limit: int | None = None,
) -> QueryResult:
    """Run a SELECT on an rdflib Graph/Dataset or a ``pyoxigraph.Store`` (union of its graphs).

    Args:
        target: the graph to query.
        query: a catalog query (or raw SPARQL, which then takes no parameters).
        params: parameter values as strings, converted by the declared types.
        limit: read at most this many rows (the first page; the rest is never converted, and on
            Oxigraph never evaluated unless the query sorts or groups); None: every row. A query
            that declares ``# page: VAR`` is asked for that page only (``page_text``).
    """
    if limit is not None and isinstance(query, CatalogQuery) and query.page is not None:
        query = replace(query, text=page_text(query, 0, limit))
    cols, rows = iter_query(target, query, params)
    return QueryResult(cols, tuple(rows if limit is None else islice(rows, max(int(limit), 0))))


def format_result(result: QueryResult, fmt: str) -> str:
    """A result as an aligned text table, CSV (header row) or JSON (a list of objects)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(
            [dict(zip(result.columns, r, strict=True)) for r in result.rows], indent=2
        )
    cells = [
        [
            ("" if v is None else f"{v:.4g}" if isinstance(v, float) and fmt == "table" else str(v))
            for v in r
        ]
        for r in result.rows
    ]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(result.columns)
        w.writerows(cells)
        return buf.getvalue().rstrip("\n")
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)
