"""Export a run's graph to a file: Turtle, N-Triples, N-Quads, TriG, JSON-LD or RDF/XML (atomic).

Dataset formats (N-Quads, TriG, JSON-LD) keep the named graphs; graph formats (Turtle, N-Triples,
RDF/XML) hold their union. Oxigraph serialises all but JSON-LD, which rdflib writes compacted
with ``context.jsonld`` (plus a ``run:`` prefix for the run's base IRI) so that it reads well.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kgfilters.atomic import atomic_path
from kgfilters.errors import GraphError
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import open_store
from kgfilters.run import RunPaths

__all__ = ["FORMATS", "ExportFormat", "ExportResult", "export_graph", "jsonld_context", "prefixes",
           "write_quads"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportFormat:
    """An export format: file extension, rdflib parser name, whether it keeps named graphs."""

    name: str
    extension: str
    rdflib_format: str
    media_type: str
    dataset: bool
    oxigraph: ox.RdfFormat | None


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("ttl", "ttl", "turtle", "text/turtle", False, ox.RdfFormat.TURTLE),
        ExportFormat("nt", "nt", "nt", "application/n-triples", False, ox.RdfFormat.N_TRIPLES),
        ExportFormat("nq", "nq", "nquads", "application/n-quads", True, ox.RdfFormat.N_QUADS),
        ExportFormat("trig", "trig", "trig", "application/trig", True, ox.RdfFormat.TRIG),
        ExportFormat("jsonld", "jsonld", "json-ld", "application/ld+json", True, None),
        ExportFormat("xml", "rdf", "xml", "application/rdf+xml", False, ox.RdfFormat.RDF_XML),
    )
}


@dataclass(frozen=True)
class ExportResult:
    """Where an export went, its format, and its number of quads (dataset) or triples (graph)."""

    path: Path
    format: str
    triples: int


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; GraphError naming the valid choices."""
    try:
        return FORMATS[name]
    except KeyError:
        raise GraphError(f"format {name!r}: expected one of {', '.join(FORMATS)}") from None


@cache
def jsonld_context() -> dict[str, Any]:
    """The ``@context`` object of ontology/context.jsonld."""
    text = resources.files("kgfilters.ontology").joinpath("context.jsonld").read_text("utf-8")
    return dict(json.loads(text)["@context"])


def prefixes(base: str | None = None) -> dict[str, str]:
    """Prefixes of the context's vocabularies, and ``run:`` for ``base`` when given.

    Turtle, TriG and RDF/XML get the vocabularies only: instance IRIs have ``/`` in their local
    part, which Turtle would have to escape (``run:layer\\/conv1``), so they stay full IRIs.
    """
    ctx = jsonld_context()
    out = {k: v for k, v in ctx.items() if isinstance(v, str) and v.endswith(("#", "/"))}
    if base is not None:
        out["run"] = base
    return out


def _union(quads: Sequence[ox.Quad]) -> ox.Store:
    mem = ox.Store()
    default = ox.DefaultGraph()
    mem.extend(ox.Quad(q.subject, q.predicate, q.object, default) for q in quads)
    return mem


def _jsonld(quads: Sequence[ox.Quad], base: str | None) -> bytes:
    from rdflib import Dataset

    from kgfilters.ontology.store import from_ox

    ds = Dataset()
    graphs: dict[str, Any] = {}
    for q in quads:
        g = q.graph_name
        key = g.value if isinstance(g, ox.NamedNode) else ""
        if key not in graphs:
            graphs[key] = ds.graph(from_ox(g)) if key else ds.default_graph
        graphs[key].add((from_ox(q.subject), from_ox(q.predicate), from_ox(q.object)))
    context = dict(jsonld_context())
    if base is not None:
        context["run"] = base
    return ds.serialize(format="json-ld", context=context, indent=1).encode("utf-8")


def write_quads(quads: Sequence[ox.Quad], target: str | os.PathLike[str], fmt: str,
                *, base: str | None = None) -> int:
    """Serialise ``quads`` to ``target`` atomically in format ``fmt``; return the number written.

    Graph formats get the union of the named graphs (duplicates merged).
    """
    spec = get_format(fmt)
    target = Path(target)
    try:
        with atomic_path(target, suffix=f".{spec.extension}") as tmp:
            if spec.oxigraph is None:
                tmp.write_bytes(_jsonld(quads, base))
                count = len(quads)
            elif spec.dataset:
                mem = ox.Store()
                mem.extend(quads)
                mem.dump(str(tmp), spec.oxigraph, prefixes=prefixes())
                count = len(mem)
            else:
                mem = _union(quads)
                mem.dump(str(tmp), spec.oxigraph, from_graph=ox.DefaultGraph(),
                         prefixes=prefixes())
                count = len(mem)
    except OSError as exc:
        raise GraphError(f"{target}: cannot write the export ({exc.strerror or exc})") from None
    return count


def export_graph(
    run_root: str | os.PathLike[str],
    fmt: str,
    output: str | os.PathLike[str] | None = None,
    *,
    graphs: Sequence[str] | None = None,
) -> ExportResult:
    """Export the run's graph (or only the named graphs of ``graphs``, stage names) to ``output``.

    output: default ``<run>/exports/graph.<ext>``. The store is opened read-only.
    """
    spec = get_format(fmt)
    root = Path(run_root)
    iris = Iris.for_run(root)
    default = RunPaths(root).exports / f"graph.{spec.extension}"
    target = Path(output) if output is not None else default
    store = open_store(root, read_only=True)
    if graphs is None:
        quads = list(store)
    else:
        quads = [q for s in graphs for q in store.quads_for_pattern(None, None, None,
                                                                    ox.NamedNode(iris.graph(s)))]
    del store
    count = write_quads(quads, target, fmt, base=iris.base)
    log.info("exported %d to %s", count, target)
    return ExportResult(target, fmt, count)
