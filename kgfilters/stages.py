"""The stage registry: one table naming every stage of a run, and what follows from it.

A stage is a command (``kgfilters tag``) that reads files of the run and writes its own. Its name
is the command's name, the key of its record in ``run.json`` (``stages.<name>``), the key of the
graph build's ``AFTER_STAGE`` and the name the demo, the CLI's hints and the TUI's empty states use.
Each stage lists its inputs and outputs (``RunPaths`` attribute names), its named graph and the
stages it depends on.

An *optional* input is one a stage reads when it is there and runs without (``explain`` computes
its explanations' sensitive areas with the trained generators of ``sensitive`` when the run has
them). It counts in the fingerprints like an input (absent: ``None``), so its appearance, change or
removal makes the stage stale, and a stale producing stage makes it stale when the input is there;
its absence never makes the stage unrunnable.

Fingerprints: when a stage is recorded (``kgfilters.run.record_stage``) the fingerprints of its
inputs and optional inputs are kept with it (``stages.<name>.fingerprints``): the model's sha256
(from run.json), else a file's or folder's sha256, ``None`` for an absent optional input. A stage
whose recorded fingerprints differ from the current ones, or that depends on a stale stage, or that
``train --force`` (or a partial ``explain --save``) marked (``stages.<name>.stale``), is
**stale**. ``run_status(root)`` reports each stage as done / stale / missing with the command that
makes it; ``require_fresh(root, name)`` refuses to run a stage on stale inputs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgfilters.errors import ConfigError, RunError
from kgfilters.run import RunPaths, read_run_json, sha256_file

__all__ = [
    "GRAPHS",
    "GRAPH_FORMAT",
    "LEGACY_NAMES",
    "STAGES",
    "RunStatus",
    "Stage",
    "StageStatus",
    "changed_since",
    "dependants",
    "fingerprint",
    "fingerprints",
    "generation",
    "get_stage",
    "graph_sources",
    "hint",
    "mark_stale",
    "note_graphs",
    "producer",
    "records",
    "require_fresh",
    "run_status",
]

DONE, STALE, MISSING = "done", "stale", "missing"


@dataclass(frozen=True)
class Stage:
    """One stage of a run.

    name: the CLI command and the run.json ``stages`` key. product: what it makes, in words
    (plural, for messages: "statistics are stale"). inputs / outputs: ``RunPaths`` attribute names
    (``model`` is the model's weights, fingerprinted by run.json's sha256). graph: its named graph,
    or None. needs: the stages whose outputs it reads. optional: inputs it reads when they are
    there (``RunPaths`` names, each the output of a stage not in ``needs``). make / rerun: the
    arguments its command takes to make it the first time / again over stale outputs.
    """

    name: str
    product: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    graph: str | None = None
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    make: str = ""
    rerun: str = ""

    def command(self, run: str | os.PathLike[str] | None = None, *, stale: bool = False) -> str:
        """The command that makes this stage (``stale``: that makes it again over stale outputs):
        ``kgfilters tag --run RUN``, ``kgfilters train --run RUN --force`` (``RUN`` left out if
        None)."""
        extra = self.rerun if stale else self.make
        return (f"kgfilters {self.name}" + ("" if run is None else f" --run {run}")
                + (f" {extra}" if extra else ""))


#: Every stage, in an order where a stage comes after the stages it needs and the stages that make
#: its optional inputs.
STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("train", "the model weights", (), ("model",), "model", rerun="--force"),
    Stage("stats", "statistics", ("model",), ("stats",), None, ("train",)),
    Stage("tag", "tags", ("stats",), ("tags",), "tags", ("stats",)),
    Stage("hits", "Hits@n results", ("model", "stats"), ("hits_json", "hits_csv"), "hits",
          ("train", "stats")),
    Stage("select", "filter selections", ("model",), (), None, ("train",)),
    Stage("sensitive", "sensitive areas", ("model",), ("masks_metrics", "generators"), "areas",
          ("train",)),
    Stage("explain", "saved explanations", ("model", "tags"), ("explanations",), "explanations",
          ("train", "tag"), optional=("generators",), make="--index 0 --save", rerun="--resave"),
    Stage("link", "concept links", (), ("concepts",), "concepts"),
    Stage("coarsen", "coarse concepts", ("tags", "concepts"), ("coarse",), "coarsening",
          ("tag", "link")),
    Stage("evaluate", "evaluation results", ("model", "stats", "tags"), ("evaluation",),
          "evaluation", ("train", "stats", "tag")),
    Stage("graph", "graphs", (), ("graph",)),
)}

#: The named graphs of a run: one per stage that has one, and the provenance graph (run.json).
GRAPHS: tuple[str, ...] = (*(s.graph for s in STAGES.values() if s.graph), "provenance")

#: What ``ontology``'s emitters write into each named graph, as a number recorded per graph in
#: run.json (``graph.formats``) when the graph is written. Raise it when an emitter adds or changes
#: triples that queries read, so a graph written by an older kgfilters shows as stale instead of
#: answering those queries with nothing. 2: query aids (tags, coarsening), concepts'
#: ``skos:hiddenLabel``, an explanation's sensitive areas.
GRAPH_FORMAT = 2

#: Record names of runs written before the registry, read as the stage they were.
LEGACY_NAMES: dict[str, str] = {"concepts": "link", "coarsening": "coarsen", "masks": "sensitive"}

#: Input keys as they read in messages.
_INPUT_WORDS = {"model": "model", "stats": "statistics", "tags": "tags", "concepts": "concept links",
                "generators": "trained generators"}


def get_stage(name: str) -> Stage:
    """The stage called ``name``; ConfigError naming the valid stages otherwise."""
    name = LEGACY_NAMES.get(name, name)
    if name not in STAGES:
        raise ConfigError(f"stage {name!r}: expected one of {', '.join(STAGES)}")
    return STAGES[name]


def hint(name: str, run: str | os.PathLike[str] | None = None) -> str:
    """``run `kgfilters tag --run RUN` first``: the hint for a missing stage, for messages."""
    return f"run `{get_stage(name).command(run)}` first"


def producer(key: str) -> str | None:
    """The stage whose outputs include ``key`` (a ``RunPaths`` attribute name); None if none."""
    return next((s.name for s in STAGES.values() if key in s.outputs), None)


def dependants(name: str) -> tuple[str, ...]:
    """Every stage that depends on ``name``, directly or through others, in registry order."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in STAGES.values():
            if s.name not in found and any(n == name or n in found for n in s.needs):
                found.add(s.name)
                changed = True
    return tuple(n for n in STAGES if n in found)


# -- fingerprints ---------------------------------------------------------------------------------

def fingerprint(paths: RunPaths, key: str, config: Mapping[str, Any]) -> str | None:
    """The fingerprint of input ``key`` (a ``RunPaths`` attribute name) as it is now; None if absent.

    ``model``: run.json's ``model.sha256`` (the weights as registered; they are checked against it
    when loaded). A file: ``sha256:<hex>`` of its bytes. A folder: sha256 over its sorted
    (name, file sha256) pairs.
    """
    if key == "model":
        m = config.get("model") or {}
        if m.get("sha256"):
            return f"sha256:{m['sha256']}"
        return f"weights:{m.get('name')}:{m.get('weights')}" if m.get("name") else None
    path = getattr(paths, key)
    if path.is_file():
        return f"sha256:{sha256_file(path)}"
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            h.update(f"{f.relative_to(path)}\0{sha256_file(f)}\n".encode())
        return f"sha256:{h.hexdigest()}"
    return None


def fingerprints(root: str | os.PathLike[str], name: str,
                 config: Mapping[str, Any] | None = None) -> dict[str, str | None]:
    """{input key: fingerprint} of stage ``name``'s inputs and optional inputs as they are now
    (None: an optional input the run does not have)."""
    config = read_run_json(root) if config is None else config
    paths = RunPaths(Path(root))
    stage = get_stage(name)
    return {k: fingerprint(paths, k, config) for k in (*stage.inputs, *stage.optional)}


# -- status ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageStatus:
    """A stage's state: ``done``, ``stale`` (with why) or ``missing``; the command that makes it
    (again, when stale); ``note``: what a done stage was made without (its optional inputs the
    run did not have then, e.g. ``without trained generators``)."""

    name: str
    state: str
    reason: str
    command: str
    finished: str | None = None
    graph: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RunStatus:
    """Every stage of a run, in registry order, and run.json's ``generation`` counter."""

    root: Path
    generation: int
    stages: tuple[StageStatus, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> StageStatus:
        name = get_stage(name).name
        return next(s for s in self.stages if s.name == name)

    def __iter__(self) -> Iterator[StageStatus]:
        return iter(self.stages)

    def to_json(self) -> dict[str, Any]:
        return {"run": str(self.root), "generation": self.generation,
                "stages": [{"name": s.name, "state": s.state, "reason": s.reason,
                            "command": s.command, "finished": s.finished, "graph": s.graph,
                            "note": s.note}
                           for s in self.stages]}


def records(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """run.json's stage records by registry name (legacy names mapped; non-objects skipped)."""
    raw = config.get("stages") or {}
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, info in raw.items():
        name = LEGACY_NAMES.get(key, key)
        if name in STAGES and isinstance(info, Mapping) and (key == name or name not in out):
            out[name] = dict(info)
    return out


def _time(text: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _model_state(paths: RunPaths, config: Mapping[str, Any], rec: dict[str, Any] | None) -> tuple[str, str]:
    m = config.get("model") or {}
    weights = m.get("weights")
    if weights == "model.safetensors":
        if not paths.model.is_file():
            return MISSING, f"{paths.model} is missing"
        if m.get("sha256") and sha256_file(paths.model) != m["sha256"]:
            return STALE, f"{paths.model} differs from the sha256 in run.json"
        return DONE, ""
    if weights is not None or rec is not None:
        return DONE, ""
    from kgfilters.models import get_model_spec  # only for a run without weights (torch import)

    if m.get("name") and get_model_spec(m["name"]).source in ("torchvision", "export"):
        return DONE, ""  # the hub cache's weights, or the exported archive's own
    return MISSING, "no weights yet"


def _outputs_missing(paths: RunPaths, stage: Stage) -> str | None:
    for key in stage.outputs:
        path = getattr(paths, key)
        if not path.exists():
            return f"{path.name} is missing"
    return None


def run_status(root: str | os.PathLike[str]) -> RunStatus:
    """The state of every stage of the run at ``root`` (reads files; writes nothing)."""
    root = Path(root)
    config = read_run_json(root)
    paths = RunPaths(root)
    recs = records(config)
    cache: dict[str, str | None] = {}

    def now(key: str) -> str | None:
        if key not in cache:
            cache[key] = fingerprint(paths, key, config)
        return cache[key]

    out: dict[str, StageStatus] = {}
    for stage in STAGES.values():
        rec = recs.get(stage.name)
        finished = rec.get("finished") if rec else None
        if stage.name == "train":
            state, reason = _model_state(paths, config, rec)
        elif stage.name == "graph":
            graph = config.get("graph")
            rec = graph if isinstance(graph, Mapping) else None
            finished = rec.get("updated") if rec else None
            state, reason = _graph_state(paths, config, rec, out, now)
        elif rec is None:
            present = stage.outputs and _outputs_missing(paths, stage) is None
            state, reason = (DONE, "files present, no record in run.json") if present else (
                MISSING, "not run yet")
        elif (gone := _outputs_missing(paths, stage)) is not None:
            state, reason = MISSING, gone
        else:
            state, reason = _record_state(stage, rec, recs, out, now)
        out[stage.name] = StageStatus(stage.name, state, reason, stage.command(root, stale=state == STALE),
                                      finished if isinstance(finished, str) else None, stage.graph,
                                      _note(stage, rec) if state == DONE else "")
    generation = config.get("generation", 0)
    return RunStatus(root, generation if isinstance(generation, int) else 0, tuple(out.values()))


def _record_state(stage: Stage, rec: dict[str, Any], recs: Mapping[str, dict[str, Any]],
                  done: Mapping[str, StageStatus], now: Any) -> tuple[str, str]:
    if rec.get("stale"):
        return STALE, str(rec["stale"])
    recorded = rec.get("fingerprints")
    if isinstance(recorded, Mapping):
        for key in (*stage.inputs, *stage.optional):
            if key in recorded and recorded[key] != now(key):
                return STALE, _changed(stage, key, recorded[key], now(key))
        for key in stage.optional:  # a record made before ``key`` was an optional input
            if key not in recorded and now(key) is not None:
                return STALE, (f"{_INPUT_WORDS.get(key, key)} are not in the record of "
                               f"`kgfilters {stage.name}` (made by an older kgfilters)")
    present = tuple(p for key in stage.optional if now(key) is not None and (p := producer(key)))
    for need in (*stage.needs, *present):
        st = done.get(need)
        if st is not None and st.state == STALE:
            return STALE, f"{STAGES[need].product} are stale"
        if not isinstance(recorded, Mapping):  # a record made before fingerprints: compare times
            mine, theirs = _time(rec.get("finished")), _time((recs.get(need) or {}).get("finished"))
            if mine is not None and theirs is not None and theirs > mine:
                return STALE, f"`kgfilters {need}` ran after `kgfilters {stage.name}`"
    return DONE, ""


def _changed(stage: Stage, key: str, was: Any, now: str | None) -> str:
    """Why ``stage`` is stale when input ``key``'s fingerprint went from ``was`` to ``now``."""
    word, since = _INPUT_WORDS.get(key, key), f"since `kgfilters {stage.name}`"
    if was is None:
        return f"{word} appeared {since}" + (f" (`kgfilters {producer(key)}`)" if producer(key) else "")
    if now is None:
        return f"{word} were removed {since}"
    return f"{word} changed {since}"


def _note(stage: Stage, rec: Mapping[str, Any] | None) -> str:
    recorded = (rec or {}).get("fingerprints")
    if not isinstance(recorded, Mapping):
        return ""
    absent = [_INPUT_WORDS.get(k, k) for k in stage.optional if k in recorded and recorded[k] is None]
    return f"without {', '.join(absent)}" if absent else ""


def _graph_state(paths: RunPaths, config: Mapping[str, Any], rec: dict[str, Any] | None,
                 done: Mapping[str, StageStatus], now: Any) -> tuple[str, str]:
    if not (paths.graph / "CURRENT").is_file():
        return MISSING, "no graph store yet"
    emitted = (rec or {}).get("emitted")
    if not isinstance(emitted, Mapping):
        return DONE, ""  # a store built before graphs were fingerprinted
    formats = (rec or {}).get("formats")
    formats = formats if isinstance(formats, Mapping) else {}
    for st in done.values():
        stage = STAGES[st.name]
        if stage.graph is None or st.state == MISSING or not stage.outputs:
            continue
        if stage.graph in emitted and emitted[stage.graph] != now(stage.outputs[0]):
            return STALE, f"the {stage.graph} graph is older than `kgfilters {stage.name}`'s output"
    old = sorted(g for g in emitted if formats.get(g) != GRAPH_FORMAT)
    if old:
        what = f"the {', '.join(old)} graph" + ("s were" if len(old) > 1 else " was")
        return STALE, f"{what} written by an older kgfilters (graph format {GRAPH_FORMAT} now)"
    return DONE, ""


def graph_sources(root: str | os.PathLike[str], graphs: list[str] | tuple[str, ...],
                  config: Mapping[str, Any]) -> dict[str, str | None]:
    """{named graph: fingerprint of the file it is emitted from} for ``graphs`` (provenance left out)."""
    paths = RunPaths(Path(root))
    by_graph = {s.graph: s for s in STAGES.values() if s.graph and s.outputs}
    return {g: fingerprint(paths, by_graph[g].outputs[0], config) for g in graphs if g in by_graph}


def require_fresh(root: str | os.PathLike[str], name: str, *,
                  allow_missing: tuple[str, ...] = (), optional: bool = True) -> RunStatus:
    """Refuse to run stage ``name`` on stale or missing inputs (one-line RunError naming the
    command to rerun); return the run's status. ``allow_missing``: needs the caller makes itself.
    An optional input that is there counts like a need: a stale producing stage is refused; an
    absent one is no reason to refuse. ``optional=False``: the caller will not read its optional
    inputs this time (``explain`` without areas)."""
    stage = get_stage(name)
    status = run_status(root)
    paths = RunPaths(Path(root))
    present = tuple(p for key in (stage.optional if optional else ())
                    if getattr(paths, key).exists() and (p := producer(key)))
    for need in dict.fromkeys((*stage.needs, *present)):
        st = status[need]
        product = STAGES[need].product
        if st.state == STALE:
            raise RunError(f"{product} are stale ({st.reason}); run `{st.command}`")
        if st.state == MISSING and need not in allow_missing and need in stage.needs:
            raise RunError(f"{root}: no {product} yet ({st.reason}); run `{st.command}` first")
    return status


def mark_stale(data: dict[str, Any], after: str, reason: str) -> list[str]:
    """Mark, in run.json ``data``, the records of the stages that read ``after``'s outputs
    directly as stale with ``reason`` (their own dependants follow through ``needs``); return
    their names. Their files are kept."""
    stages = data.get("stages")
    if not isinstance(stages, dict):
        return []
    produced = set(get_stage(after).outputs)
    marked = []
    for key, info in stages.items():
        name = LEGACY_NAMES.get(key, key)
        if name in STAGES and isinstance(info, dict) and produced & {*STAGES[name].inputs,
                                                                      *STAGES[name].optional}:
            info["stale"] = reason.format(stage=name)
            marked.append(name)
    return marked


def note_graphs(root: str | os.PathLike[str], graphs: list[str] | tuple[str, ...]) -> None:
    """Record, under the run lock, that ``graphs`` were just (re)emitted into the store: run.json's
    ``graph.emitted`` keeps the fingerprint of each graph's source file, ``graph.formats`` the
    ``GRAPH_FORMAT`` it was written in, and ``graph.updated`` the
    time (outside ``stages``, so the provenance graph stays a function of the stage records), and
    ``generation`` goes up (readers such as the TUI and ``serve`` watch it)."""
    from kgfilters.run import now_iso, update_run_json

    def change(data: dict[str, Any]) -> None:
        graph = data.get("graph")
        graph = data["graph"] = dict(graph) if isinstance(graph, dict) else {}
        emitted = dict(graph.get("emitted") or {})
        emitted.update(sources := graph_sources(root, graphs, data))
        formats = dict(graph.get("formats") or {})
        formats.update(dict.fromkeys(sources, GRAPH_FORMAT))
        graph.update(emitted=emitted, formats=formats, updated=now_iso())

    update_run_json(root, change)


def generation(root: str | os.PathLike[str]) -> int | None:
    """run.json's ``generation`` counter now (goes up with every stage record and graph write);
    None when run.json cannot be read. For readers (TUI, ``serve``) that watch the run."""
    try:
        config = read_run_json(root)
    except RunError:
        return None
    gen = config.get("generation", 0)
    return gen if isinstance(gen, int) else 0


def changed_since(root: str | os.PathLike[str], seen: int | None) -> str | None:
    """A line saying the run changed, when its generation is past ``seen`` and no writer holds
    the run lock any more (the stage wrote files, graph and record); else None."""
    from kgfilters.lock import is_locked

    now = generation(root)
    if now is None or seen is None or now <= seen or is_locked(root):
        return None
    recs = records(read_run_json(root))
    last = max(recs.items(), key=lambda kv: str(kv[1].get("finished", "")), default=None)
    what = f"`kgfilters {last[0]}` finished {last[1].get('finished')}" if last else "run.json changed"
    return f"{root} changed since it was opened ({what}; generation {seen} -> {now})"
