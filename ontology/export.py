"""Export a run's graph to a file: Turtle, N-Triples, N-Quads, TriG, JSON-LD or RDF/XML (atomic).

Dataset formats (N-Quads, TriG, JSON-LD) keep the named graphs; graph formats (Turtle, N-Triples,
RDF/XML) hold their union, each distinct triple once. Every format is streamed from the store:
Oxigraph serialises all but JSON-LD, which ``ontology/jsonld.py`` streams itself, one node object
per subject, compacted with ``context.jsonld`` (plus a ``run:`` prefix for the run's base IRI) and
lossless (every literal keeps its datatype and written form). The graph formats' union is made
without holding its triples (``distinct_triples``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox

from kgfilters.atomic import atomic_path
from kgfilters.errors import GraphError
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import open_store
from kgfilters.run import RunPaths

__all__ = ["FORMATS", "ExportFormat", "ExportResult", "check_output", "distinct_triples", "export_graph",
           "jsonld_context", "prefixes", "write_store"]

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


class _Counter:
    """Pass items through, counting them."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items, self.n = items, 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.n += 1
            yield item


def distinct_triples(store: ox.Store, graph_iris: Sequence[str] | None = None) -> Iterator[ox.Triple]:
    """The distinct triples of the default graph and every named graph (or of the named graphs
    ``graph_iris`` only), streamed: their union as an RDF graph, each triple once.

    Graph by graph, and in each graph subject by subject (the store's graph-subject index): a
    subject that no earlier graph has is written as it is (a graph holds each triple once); one
    that an earlier graph has gets each triple looked up in those graphs, and written unless found.
    Memory: one subject's list of earlier graphs, never the union (a ``SELECT DISTINCT`` held every
    triple: 880 MB for the 962,809 of the ImageNet-scale benchmark run). Cost: one index lookup per
    (subject, earlier graph) and per triple of a subject that several graphs share.
    """
    graphs: list[ox.NamedNode | ox.DefaultGraph] = (
        [ox.DefaultGraph(), *store.named_graphs()] if graph_iris is None
        else [ox.NamedNode(g) for g in dict.fromkeys(graph_iris)])
    for k, graph in enumerate(graphs):
        earlier = graphs[:k]
        for subject, quads in groupby(store.quads_for_pattern(None, None, None, graph),
                                      key=attrgetter("subject")):
            seen = [g for g in earlier
                    if next(iter(store.quads_for_pattern(subject, None, None, g)), None) is not None]
            for quad in quads:
                triple = quad.triple
                if not seen or not any(ox.Quad(subject, triple.predicate, triple.object, g) in store
                                       for g in seen):
                    yield triple


def _quads(store: ox.Store, graph_iris: Sequence[str] | None) -> Iterable[ox.Quad]:
    if graph_iris is None:
        return iter(store)
    return (q for g in graph_iris
            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g)))


def _jsonld(quads: Iterable[ox.Quad], base: str | None, out: IO[str]) -> int:
    """Write ``quads`` to ``out`` as JSON-LD (``jsonld.write_jsonld``); the number of quads."""
    from kgfilters.ontology.jsonld import write_jsonld

    return write_jsonld(quads, out, jsonld_context(), base=base)


def write_store(store: ox.Store, target: str | os.PathLike[str], fmt: str, *,
                graph_iris: Sequence[str] | None = None, base: str | None = None) -> int:
    """Serialise ``store`` (or its named graphs ``graph_iris``) to ``target`` atomically in format
    ``fmt``; return the number of quads (dataset formats) or distinct triples (graph formats)."""
    spec = get_format(fmt)
    target = Path(target)
    try:
        with atomic_path(target, suffix=f".{spec.extension}") as tmp:
            if spec.oxigraph is None:
                with open(tmp, "w", encoding="utf-8", buffering=1 << 20) as fh:
                    count = _jsonld(_quads(store, graph_iris), base, fh)
            elif spec.dataset:
                items = _Counter(_quads(store, graph_iris))
                ox.serialize(items, str(tmp), spec.oxigraph, prefixes=prefixes())
                count = items.n
            else:
                items = _Counter(distinct_triples(store, graph_iris))
                ox.serialize(items, str(tmp), spec.oxigraph, prefixes=prefixes())
                count = items.n
    except OSError as exc:
        raise GraphError(f"{target}: cannot write the export ({exc.strerror or exc})") from None
    return count


def check_output(run_root: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """``output`` as given, once it is known to be a safe place for an export of the run.

    GraphError when it is an existing directory, when its directory does not exist (nothing is
    created for it, but for the run's own ``exports/``), or when it lies inside the run directory
    anywhere but ``exports/``: the run's own files (``run.json``, the model, ``graph/CURRENT``...)
    are never overwritten by an export.
    Symbolic links are followed, so a link into the run is refused as well.
    """
    out = Path(output)
    if out.is_dir():
        raise GraphError(f"-o {out}: is a directory; expected a file name such as {out / 'graph.ttl'}")
    root = Path(run_root).resolve()
    exports = (root / RunPaths(root).exports.name).resolve()
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise GraphError(f"-o {out}: cannot write the export: {parent} is not a directory")
    if not parent.is_dir() and parent.resolve() != exports:  # the run's own exports/ may be made
        raise GraphError(f"-o {out}: directory {parent} does not exist (create it first; export "
                         "makes no directories)")
    resolved = parent.resolve() / out.name
    if resolved.is_symlink() or resolved.exists():
        resolved = resolved.resolve()
    if resolved.is_relative_to(root) and not resolved.is_relative_to(exports):
        raise GraphError(f"-o {out}: inside the run directory {run_root}, whose files an export must "
                         f"not overwrite; write it under {RunPaths(Path(run_root)).exports} or outside "
                         "the run")
    return out


def export_graph(
    run_root: str | os.PathLike[str],
    fmt: str,
    output: str | os.PathLike[str] | None = None,
    *,
    graphs: Sequence[str] | None = None,
) -> ExportResult:
    """Export the run's graph (or only the named graphs of ``graphs``, stage names) to ``output``.

    output: default ``<run>/exports/graph.<ext>``; any other path is checked by ``check_output``
    (never one of the run's own files, never a directory that does not exist). The store is opened
    read-only.
    """
    spec = get_format(fmt)
    root = Path(run_root)
    default = RunPaths(root).exports / f"graph.{spec.extension}"
    target = check_output(root, output) if output is not None else default
    iris = Iris.for_run(root)
    graph_iris = None if graphs is None else [str(iris.graph(s)) for s in graphs]
    store = open_store(root, read_only=True)
    try:
        count = write_store(store, target, fmt, graph_iris=graph_iris, base=iris.base)
    finally:
        del store
    log.info("exported %d to %s", count, target)
    return ExportResult(target, fmt, count)
