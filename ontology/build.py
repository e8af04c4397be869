"""Build a run's knowledge graph: read what the run directory holds and (re)write its named graphs.

Each emitted stage reads its own files (``model`` from run.json and the model's structure, ``tags``
from tags.json, ``hits`` from hits.json, ``explanations`` from explanations/*.json, ``areas`` from
masks/metrics.json, ``provenance`` from run.json ``stages``) and replaces its own named graph;
a stage whose files are absent leaves an empty graph. The ``concepts`` and ``coarsening`` graphs
are written by the concept-linking code through ``store.replace_graph`` and never touched here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgfilters.errors import ConfigError, GraphError, RunError
from kgfilters.ontology import emit
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import Triple, open_store, replace_graph
from kgfilters.run import RunPaths, read_json, read_run_json
from kgfilters.stages import STAGES, note_graphs

if TYPE_CHECKING:  # torch only where a model is built: the graph and query commands start without it
    import torch

__all__ = ["AFTER_STAGE", "EMITTERS", "GraphReport", "build_graph", "demo_stage", "emit_stage",
           "model_layers", "refresh_graph"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphReport:
    """What ``build_graph`` wrote: the base IRI, the store and the triples per named graph."""

    base: str
    store: Path
    triples: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.triples.values())


def _read_json(path: Path) -> Any:
    try:
        return read_json(path)
    except RunError as exc:
        raise GraphError(str(exc)) from None


def _guard(path: Path, triples: Iterable[Triple]) -> list[Triple]:
    """Materialise ``triples``; a missing field or bad value is a GraphError naming the file."""
    try:
        return list(triples)
    except (KeyError, TypeError, ValueError) as exc:
        raise GraphError(f"{path}: malformed ({type(exc).__name__}: {exc})") from None


def model_layers(config: dict[str, Any]) -> dict[str, int]:
    """{conv layer name: number of filters} of the run's model, in definition order.

    Only the structure is needed, so the model is built with random weights (no weights file read).
    """
    import torch

    from kgfilters.models import build_model, conv_layers

    m = config["model"]
    with torch.device("meta"):
        model = build_model(m["name"], num_classes=int(m["num_classes"]), weights="random")
    return {name: int(conv.out_channels) for name, conv in conv_layers(model).items()}


def _model(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    m = config.get("model") or {}
    if "name" not in m:
        return None
    d = config.get("dataset") or {}
    return list(emit.model_triples(
        iris, name=m["name"], layers=model_layers(config), class_names=d.get("class_names") or (),
        dataset=d, sha256=m.get("sha256"), test_accuracy=m.get("test_accuracy"),
    ))


def _tags(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    from kgfilters.filtag import load_tags

    path = RunPaths(root).tags
    return list(emit.tag_triples(iris, load_tags(path))) if path.is_file() else None


def _hits(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    path = RunPaths(root).hits_json
    if not path.is_file():
        return None
    obj = _read_json(path)
    objs = obj if isinstance(obj, list) else [obj]
    return _guard(path, (t for o in objs for t in emit.hits_triples(iris, o)))


def _explanations(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    folder = RunPaths(root).explanations
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    out: list[Triple] = []
    for path in files:
        out += _guard(path, emit.explanation_triples(iris, _read_json(path)))
    return out


def _areas(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    path = RunPaths(root).masks_metrics
    return _guard(path, emit.area_triples(iris, _read_json(path))) if path.is_file() else None


def _provenance(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    return list(emit.provenance_triples(iris, config))


#: The stages this module emits, in order, each reading its files from the run directory.
EMITTERS: dict[str, Callable[[Path, Iris, dict[str, Any]], list[Triple] | None]] = {
    "model": _model,
    "tags": _tags,
    "hits": _hits,
    "explanations": _explanations,
    "areas": _areas,
    "provenance": _provenance,
}


#: The named graphs to rebuild after a stage of the registry (``kgfilters.stages``) has finished:
#: its own graph, where this module emits it, and the provenance graph.
AFTER_STAGE: dict[str, tuple[str, ...]] = {
    s.name: tuple(g for g in (s.graph, "provenance") if g in EMITTERS) for s in STAGES.values()
}


def refresh_graph(run_root: str | os.PathLike[str], after: str) -> GraphReport:
    """Rebuild the graphs that run stage ``after`` changes (``AFTER_STAGE``; unknown: provenance).

    For the CLI to call when a stage finishes, so the store is filled as stages finish; the
    first call also emits the model graph when the store is new.
    """
    from kgfilters.ontology.store import has_store

    stages = list(AFTER_STAGE.get(after, ("provenance",)))
    if not has_store(run_root) and "model" not in stages:
        stages.insert(0, "model")
    return build_graph(run_root, stages=stages)


def emit_stage(root: str | os.PathLike[str], stage: str, iris: Iris | None = None) -> list[Triple]:
    """The triples of one stage's named graph for the run at ``root`` (empty without its files)."""
    if stage not in EMITTERS:
        raise ConfigError(f"graph stage {stage!r}: expected one of {', '.join(EMITTERS)}")
    root = Path(root)
    config = read_run_json(root)
    iris = iris if iris is not None else Iris.for_run(root)
    return EMITTERS[stage](root, iris, config) or []


def _set_base(root: Path, base_iri: str) -> bool:
    """Store a user-set base IRI in run.json; True when it changed."""
    from kgfilters.atomic import atomic_write_json

    config = read_run_json(root)
    graph = config.setdefault("graph", {})
    if graph.get("base_iri") == base_iri:
        return False
    old = Iris.for_run(root).base
    graph["base_iri"] = base_iri
    atomic_write_json(RunPaths(root).run_json, config)
    return old != base_iri


def build_graph(
    run_root: str | os.PathLike[str],
    *,
    base_iri: str | None = None,
    stages: Sequence[str] | None = None,
) -> GraphReport:
    """(Re)build the named graphs of ``stages`` (default: every emitted stage) in the run's store.

    base_iri: a new base for the run's IRIs, kept in run.json; when it changes, the whole store is
    cleared and every stage re-emitted (graphs written by other code must then be rebuilt too).
    """
    root = Path(run_root)
    chosen = list(EMITTERS) if stages is None else list(dict.fromkeys(stages))
    for s in chosen:
        if s not in EMITTERS:
            raise ConfigError(f"graph stage {s!r}: expected one of {', '.join(EMITTERS)}")
    config = read_run_json(root)
    changed = False
    if base_iri is not None:
        Iris.for_run(root, base_iri)  # checks the IRI before run.json is touched
        changed = _set_base(root, base_iri)
    iris = Iris.for_run(root)
    if changed:
        chosen = list(EMITTERS)
    store = open_store(root)  # fails fast when another process holds the store
    try:
        emitted = {s: EMITTERS[s](root, iris, config) or [] for s in chosen}
        if changed:
            log.warning("base IRI changed to %s: clearing the graph store", iris.base)
            store.clear()
        counts = {s: replace_graph(store, iris.graph(s), triples) for s, triples in emitted.items()}
        store.optimize()  # compacts what the bulk loader wrote: reads and queries get faster
    finally:
        del store
    note_graphs(root, list(counts))  # the graph stage's record; readers see a new generation
    return GraphReport(iris.base, RunPaths(root).graph, counts)


def demo_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Demo stage: build the graph, write Turtle and JSON-LD exports, validate them (SHACL)."""
    from kgfilters.ontology.export import export_graph
    from kgfilters.ontology.validate import load_file, validate_graph

    del device, progress  # the graph needs neither
    report = build_graph(root)
    parts = ", ".join(f"{s} {n}" for s, n in report.triples.items() if n)
    lines = [f"graph: {report.total} triples in {report.store} ({parts})"]
    for fmt in ("ttl", "jsonld"):
        result = export_graph(root, fmt)
        verdict = validate_graph(load_file(result.path))
        state = "conforms to the shapes" if verdict.conforms else (
            f"does NOT conform: {len(verdict.violations)} violations "
            f"(kgfilters validate {result.path})"
        )
        lines.append(f"export: {result.path} ({result.triples} triples), {state}")
    return lines
