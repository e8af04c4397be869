"""SHACL validation of a run's graph or an exported file against ``shapes.ttl`` (pySHACL).

A run is validated as the union of its named graphs; a file as whatever it holds. The report
names, for each violation, the focus node, the property path, the constraint and pySHACL's message.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from xml.sax import SAXException

import pyoxigraph as ox
from rdflib import Dataset, Graph, URIRef
from rdflib.exceptions import Error as RdflibError
from rdflib.namespace import SH, NamespaceManager

from kgfilters.errors import GraphError
from kgfilters.ontology.export import FORMATS, prefixes
from kgfilters.ontology.store import open_store

__all__ = ["ValidationReport", "Violation", "format_report", "load_file", "load_run_graph",
           "load_target", "shapes_graph", "validate_graph"]

log = logging.getLogger(__name__)

_SUFFIXES = {f".{f.extension}": f.rdflib_format for f in FORMATS.values()} | {
    ".json": "json-ld", ".xml": "xml", ".owl": "xml", ".n3": "n3", ".turtle": "turtle",
}


@dataclass(frozen=True)
class Violation:
    """One SHACL result: focus node, property path, constraint component, message, bad value."""

    focus: str
    path: str | None
    component: str
    message: str
    severity: str
    value: str | None


@dataclass(frozen=True)
class ValidationReport:
    """Whether the data conforms, and every result pySHACL reported (violations and warnings)."""

    conforms: bool
    violations: tuple[Violation, ...]
    triples: int


@cache
def _shapes_text() -> str:
    return resources.files("kgfilters.ontology").joinpath("shapes.ttl").read_text("utf-8")


def shapes_graph() -> Graph:
    """The SHACL shapes of ontology/shapes.ttl."""
    return Graph().parse(data=_shapes_text(), format="turtle")


def load_file(path: str | os.PathLike[str]) -> Graph:
    """Parse an RDF file (format from its extension) into one graph (named graphs merged)."""
    p = Path(path)
    fmt = _SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        raise GraphError(f"{p}: unknown RDF file extension {p.suffix!r}; expected one of "
                         f"{', '.join(sorted(_SUFFIXES))}")
    if not p.is_file():
        raise GraphError(f"{p}: no such file")
    ds = Dataset(default_union=True)
    try:
        ds.parse(str(p), format=fmt)
    except (RdflibError, SyntaxError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            SAXException) as exc:  # what rdflib's parsers raise on bad input
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"{p}: not valid {fmt} ({type(exc).__name__}: {first[:200]})") from None
    g = Graph()
    for s, p_, o, _ in ds.quads((None, None, None, None)):
        g.add((s, p_, o))
    return g


def load_run_graph(run_root: str | os.PathLike[str]) -> Graph:
    """The union of the named graphs of the run's store (opened read-only)."""
    store = open_store(run_root, read_only=True)
    mem = ox.Store()
    mem.extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph()) for q in store)
    del store
    data = mem.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    return Graph().parse(data=data.decode("utf-8"), format="nt")


def load_target(target: str | os.PathLike[str]) -> Graph:
    """A run directory (its store) or an RDF file."""
    p = Path(target)
    return load_run_graph(p) if p.is_dir() else load_file(p)


def validate_graph(data: Graph) -> ValidationReport:
    """Validate ``data`` against the shapes (no inference: types must be stated)."""
    from pyshacl import validate

    conforms, results, _text = validate(
        data, shacl_graph=shapes_graph(), inference="none", abort_on_first=False,
        allow_warnings=True, advanced=False,
    )
    violations = []
    for r in results.subjects(URIRef(SH.resultSeverity), None):
        def one(prop: URIRef, r: object = r) -> str | None:
            v = results.value(r, prop)
            return None if v is None else str(v)

        violations.append(Violation(
            focus=one(SH.focusNode) or "?", path=one(SH.resultPath),
            component=(one(SH.sourceConstraintComponent) or "?").rsplit("#", 1)[-1],
            message=one(SH.resultMessage) or "",
            severity=(one(SH.resultSeverity) or "").rsplit("#", 1)[-1],
            value=one(SH.value),
        ))
    violations.sort(key=lambda v: (v.focus, v.path or "", v.component, v.message))
    return ValidationReport(bool(conforms), tuple(violations), len(data))


def _short(nsm: NamespaceManager, iri: str | None) -> str:
    if iri is None:
        return "-"
    try:
        return nsm.normalizeUri(URIRef(iri))
    except ValueError:
        return f"<{iri}>"


def format_report(
    report: ValidationReport, *, base: str | None = None, limit: int = 50
) -> list[str]:
    """Readable lines: a verdict, then one per violation (focus node, path, constraint, message)."""
    nsm = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, ns in prefixes(base).items():
        nsm.bind(prefix, ns, override=True)
    n = len(report.violations)
    if report.conforms:
        lines = [f"conforms: yes ({report.triples} triples checked against shapes.ttl)"]
    else:
        lines = [f"conforms: no: {n} result{'s' * (n != 1)} in {report.triples} triples"]
    for v in report.violations[:limit]:
        value = f" (value {v.value})" if v.value is not None else ""
        lines.append(f"  {v.severity}: {_short(nsm, v.focus)} {_short(nsm, v.path)}: "
                     f"{v.component}{value}: {v.message}")
    if n > limit:
        lines.append(f"  ... and {n - limit} more")
    return lines
