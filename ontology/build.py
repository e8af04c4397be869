"""Build a run's knowledge graph: read what the run directory holds and (re)write its named graphs.

The emitters here are the only code that writes triples into a run's store. Each stage reads its
own files (``model`` from run.json and the model's structure, ``tags`` from tags.json, ``hits``
from hits.json, ``explanations`` from explanations/*.json, ``areas`` from masks/metrics.json,
``concepts`` from concepts.json, ``coarsening`` from coarse.json, ``evaluation`` from
evaluation.json, ``provenance`` from run.json ``stages``) and replaces its own named graph; a
stage whose files are absent leaves an empty graph. The large graphs are written as N-Triples
statements by ``ontology.lines`` (``FAST``; the rdflib ``EMITTERS`` of ``ontology.emit`` are the
reference they are tested against), and ``ontology.journal.write_graphs`` replaces the graphs of
one call atomically at bulk-load speed.
So ``build_graph`` rebuilds the whole store from the files.

The run's base IRI is pinned in run.json; ``rebase`` re-emits everything under another base.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgfilters.errors import ConfigError, GraphError, RunError
from kgfilters.ontology import aids, emit, lines
from kgfilters.ontology.iris import Iris, check_base, pinned_base, run_base
from kgfilters.ontology.store import (
    Triple,
    drop_graphs,
    has_store,
    journal_dir,
    open_store,
    prune_logs,
    swap_pending,
    write_graphs,
)
from kgfilters.run import RunPaths, read_json, read_run_json, update_run_json
from kgfilters.stages import STAGES, note_graphs

if TYPE_CHECKING:  # torch only where a model is built: the graph and query commands start without it
    import torch

__all__ = ["AFTER_STAGE", "EMITTERS", "FAST", "GraphReport", "build_graph", "demo_stage",
           "emit_stage", "model_layers", "pin_base", "rebase", "refresh_graph", "stage_lines"]

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


def _guard(path: Path, triples: Iterable[Any]) -> list[Any]:
    """Materialise ``triples`` (or statements); a missing field or bad value is a GraphError
    naming the file."""
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
    if str(m["name"]).startswith("export:"):  # the archive is the model: read it for real
        model = build_model(m["name"], num_classes=int(m["num_classes"]), weights="random")
    else:
        with torch.device("meta"):
            model = build_model(m["name"], num_classes=int(m["num_classes"]), weights="random")
    return {name: int(conv.out_channels) for name, conv in conv_layers(model).items()}


def _model_args(config: dict[str, Any]) -> dict[str, Any] | None:
    m = config.get("model") or {}
    if "name" not in m:
        return None
    d = config.get("dataset") or {}
    return dict(name=m["name"], layers=model_layers(config), class_names=d.get("class_names") or (),
                class_ids=d.get("class_ids") or (), dataset=d, sha256=m.get("sha256"),
                test_accuracy=m.get("test_accuracy"))


def _model(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    args = _model_args(config)
    return None if args is None else list(emit.model_triples(iris, **args))


def _tags(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    from kgfilters.filtag import load_tags

    path = RunPaths(root).tags
    if not path.is_file():
        return None
    tags = load_tags(path)
    return [*emit.tag_triples(iris, tags), *aids.tag_aids(iris, tags)]  # aids: same graph


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


def _evaluation(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    from kgfilters.ontology.evaluation import evaluation_triples

    path = RunPaths(root).evaluation
    return _guard(path, evaluation_triples(iris, _read_json(path))) if path.is_file() else None


def _concepts(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    path = RunPaths(root).concepts
    return _guard(path, emit.concept_triples(iris, _read_json(path))) if path.is_file() else None


def _coarsening(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    path = RunPaths(root).coarse
    if not path.is_file():
        return None
    coarse = _read_json(path)  # the aids go into the same graph: re-emission replaces them too
    return _guard(path, chain(emit.coarsening_triples(iris, coarse), aids.coarsening_aids(iris, coarse)))


def _publishable(value: Any, root: Path) -> Any:
    """A run.json value as it may be published: an absolute path inside the run becomes relative
    to it, one outside the run (a data root, a user's file) is left out (None); lists and
    objects are cleaned item by item."""
    if isinstance(value, str):
        if not os.path.isabs(value):
            return value
        try:
            return Path(value).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return None
    if isinstance(value, list):
        return [v for v in (_publishable(x, root) for x in value) if v is not None]
    if isinstance(value, dict):
        return {k: v for k, x in value.items() if (v := _publishable(x, root)) is not None}
    return value


def _provenance(root: Path, iris: Iris, config: dict[str, Any]) -> list[Triple] | None:
    stages = config.get("stages") or {}
    clean = {**config, "stages": _publishable(stages, root) if isinstance(stages, dict) else {}}
    return list(emit.provenance_triples(iris, clean))


#: The stages this module emits, in order, each reading its files from the run directory.
EMITTERS: dict[str, Callable[[Path, Iris, dict[str, Any]], list[Triple] | None]] = {
    "model": _model,
    "tags": _tags,
    "hits": _hits,
    "explanations": _explanations,
    "areas": _areas,
    "concepts": _concepts,
    "coarsening": _coarsening,
    "evaluation": _evaluation,
    "provenance": _provenance,
}


def _model_fast(root: Path, iris: Iris, config: dict[str, Any]) -> list[str] | None:
    args = _model_args(config)
    return None if args is None else list(lines.model_lines(iris, **args))


def _tags_fast(root: Path, iris: Iris, config: dict[str, Any]) -> list[str] | None:
    from kgfilters.filtag import load_tags

    path = RunPaths(root).tags
    if not path.is_file():
        return None
    tags = load_tags(path)  # the aids share the graph: re-emitting the tags replaces them too
    return lines.tag_lines(iris, tags) + lines.triple_lines(aids.tag_aids(iris, tags))


def _hits_fast(root: Path, iris: Iris, config: dict[str, Any]) -> list[str] | None:
    path = RunPaths(root).hits_json
    if not path.is_file():
        return None
    obj = _read_json(path)
    objs = obj if isinstance(obj, list) else [obj]
    return _guard(path, (t for o in objs for t in lines.hits_lines(iris, o)))


def _explanations_fast(root: Path, iris: Iris, config: dict[str, Any]) -> list[str] | None:
    folder = RunPaths(root).explanations
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    out: list[str] = []
    for path in files:
        out += _guard(path, lines.explanation_lines(iris, _read_json(path)))
    return out


def _areas_fast(root: Path, iris: Iris, config: dict[str, Any]) -> list[str] | None:
    path = RunPaths(root).masks_metrics
    return _guard(path, lines.area_lines(iris, _read_json(path))) if path.is_file() else None


#: Fast emitters (``ontology.lines``: N-Triples statements, no rdflib objects) of the large graphs;
#: each gives exactly its ``EMITTERS`` reference's quads (tests/graph/test_lines.py). The other
#: stages are emitted by their reference and converted (``lines.triple_lines``).
FAST: dict[str, Callable[[Path, Iris, dict[str, Any]], list[str] | None]] = {
    "model": _model_fast,
    "tags": _tags_fast,
    "hits": _hits_fast,
    "explanations": _explanations_fast,
    "areas": _areas_fast,
}


def stage_lines(root: Path, iris: Iris, config: dict[str, Any], stage: str) -> list[str]:
    """The statements of one stage's named graph: its fast emitter, else its reference's triples
    converted (empty without its files)."""
    if stage in FAST:
        return FAST[stage](root, iris, config) or []
    return lines.triple_lines(EMITTERS[stage](root, iris, config) or [])


def _write(store: Any, iris: Iris, emitted: dict[str, list[str]], journal: Path) -> dict[str, int]:
    """Replace the stages' named graphs (``write_graphs``); {stage: triples}. In store mode the
    new store is built aside: the caller then drops ``store`` and opens the store again, which
    moves the new one in place (``journal.finish_swaps``)."""
    by_graph = {str(iris.graph(s)): st for s, st in emitted.items()}
    # well-formed by construction (ontology.lines, pyoxigraph's terms): not parsed again
    counts = write_graphs(store, by_graph, journal=journal, check=False, aside=True)
    return {s: counts[str(iris.graph(s))] for s in emitted}


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
    return build_graph(run_root, stages=AFTER_STAGE.get(after, ("provenance",)))


def emit_stage(root: str | os.PathLike[str], stage: str, iris: Iris | None = None) -> list[Triple]:
    """The triples of one stage's named graph for the run at ``root`` (empty without its files)."""
    if stage not in EMITTERS:
        raise ConfigError(f"graph stage {stage!r}: expected one of {', '.join(EMITTERS)}")
    root = Path(root)
    config = read_run_json(root)
    iris = iris if iris is not None else Iris.for_run(root)
    return EMITTERS[stage](root, iris, config) or []


def pin_base(root: str | os.PathLike[str]) -> str:
    """The run's base IRI, recorded in run.json if it was not yet (a run made by an older
    kgfilters: the base its store was built with, else the default from the directory name)."""
    root = Path(root)
    base = pinned_base(root)
    if base is not None:
        return base
    base = check_base(run_base(root))
    update_run_json(root, lambda data: data.setdefault("graph", {}).__setitem__("base_iri", base))
    log.warning("%s: base IRI pinned to %s (the run had none recorded)", RunPaths(root).run_json,
                base)
    return base


def _foreign(store: Any, iris: Iris) -> list[Any]:
    """Named graphs of ``store`` that are not under the run's base (left by a copy made before
    bases were pinned, or by an interrupted rebase)."""
    return [g for g in store.named_graphs() if not str(g.value).startswith(iris.base)]


def build_graph(
    run_root: str | os.PathLike[str],
    *,
    base_iri: str | None = None,
    stages: Sequence[str] | None = None,
) -> GraphReport:
    """(Re)build the named graphs of ``stages`` (default: every stage: the whole store) from the
    run's files; each graph is replaced atomically (``ontology.journal.write_graphs``: a kill
    leaves it old or new for the next opener).

    base_iri: a new base for the run's IRIs (the same as ``rebase``). Graphs under any other base
    than the run's are dropped; when some are found while only some stages were asked for, every
    stage is rebuilt. The run's base is pinned in run.json first if it was not (older runs).
    """
    root = Path(run_root)
    chosen = list(EMITTERS) if stages is None else list(dict.fromkeys(stages))
    for s in chosen:
        if s not in EMITTERS:
            raise ConfigError(f"graph stage {s!r}: expected one of {', '.join(EMITTERS)}")
    if base_iri is not None and base_iri != pinned_base(root):
        return rebase(root, base_iri)
    config = read_run_json(root)
    pin_base(root)
    iris = Iris.for_run(root)
    if not has_store(root) and "model" not in chosen:
        chosen.insert(0, "model")
    emitted = {s: stage_lines(root, iris, config, s) for s in chosen}
    store = open_store(root)  # fails fast when another process holds the store
    journal = journal_dir(root)
    try:
        foreign = _foreign(store, iris)
        if foreign and len(chosen) < len(EMITTERS):
            log.warning("graph store holds %d graphs under another base than %s: rebuilding "
                        "every stage", len(foreign), iris.base)
            emitted |= {s: stage_lines(root, iris, config, s) for s in EMITTERS
                        if s not in emitted}
        counts = _write(store, iris, emitted, journal)
        if swap_pending(journal):  # a new store was built aside: drop this handle, open that one
            store = None
            store = open_store(root)
        if foreign:
            drop_graphs(store, foreign)
            log.warning("dropped %d graphs not under %s", len(foreign), iris.base)
        store.optimize()  # compacts what was written: reads and queries get faster
    finally:
        del store
    prune_logs(root)
    note_graphs(root, list(counts))  # the graph stage's record; readers see a new generation
    return GraphReport(iris.base, RunPaths(root).graph, counts)


def rebase(run_root: str | os.PathLike[str], base_iri: str) -> GraphReport:
    """Move the run to ``base_iri`` (for publishing): every stage is re-emitted under the new base,
    the graphs under the old one are dropped, and run.json records the new base.

    Nothing is written when the IRI is malformed or a file cannot be read; the store is written
    before run.json, and a write interrupted between the two is repaired by the next one (graphs
    under a base other than run.json's are dropped and every stage rebuilt).
    """
    root = Path(run_root)
    iris = Iris(check_base(base_iri))
    config = read_run_json(root)
    old = pinned_base(root)
    emitted = {s: stage_lines(root, iris, config, s) for s in EMITTERS}
    store = open_store(root)
    journal = journal_dir(root)
    try:
        keep = {str(iris.graph(s)) for s in emitted}
        counts = _write(store, iris, emitted, journal)
        if swap_pending(journal):
            store = None
            store = open_store(root)
        drop_graphs(store, [g for g in store.named_graphs() if str(g.value) not in keep])
        store.optimize()
    finally:
        del store
    update_run_json(root, lambda data: data.setdefault("graph", {}).__setitem__("base_iri", iris.base))
    prune_logs(root)
    note_graphs(root, list(counts))
    log.warning("base IRI %s -> %s: %d triples re-emitted", old, iris.base, sum(counts.values()))
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
