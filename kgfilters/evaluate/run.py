"""``evaluate_run``: every section of the evaluation on one run directory, written as
``evaluation.json``, ``evaluation.md`` and ``figures/evaluation-*.png``.

Held-out activations come through ``kgfilters.stats.collect`` exactly as ``kgfilters hits`` gets
them (``pipeline.hits_run``); the run's tags from ``tags.json``, other methods' tags from the run's
statistics (``tag_matrix``). The conformance section needs the run's concept links: it imports
``kgfilters.queries.coarsen`` lazily (the one place this part reaches right, see the report), and is
left out, with a log line, when ``concepts.json`` is absent. The ``ablation`` and ``fsagn`` sections
come from ``kgfilters.evaluate.ablation`` / ``fsagn_eval`` when those modules are installed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate import correlation as C
from kgfilters.evaluate.conformance import conformance_section
from kgfilters.evaluate.figure import Figure, figures_from_dict
from kgfilters.evaluate.hits import hits_section
from kgfilters.evaluate.tags import tags_section
from kgfilters.filtag import DEFAULT_GENERIC, K_METHODS, METHODS, generic_filters, tag_matrix

__all__ = ["Evaluation", "MethodSpec", "evaluate_run", "parse_methods"]

log = logging.getLogger(__name__)

#: Optional sections from other modules: (json key, module, function).
#: Random-filter draws of the ablation baseline: 200 make p-values down to 1/201 possible (20 would
#: floor them at 0.048) at little extra cost, since the draws run as one batch.
ABLATION_DRAWS = 200


@dataclass(frozen=True)
class MethodSpec:
    """A tagging to evaluate: method and its k or q."""

    method: str
    param: float

    @property
    def label(self) -> str:
        return f"{self.method} {'k' if self.method in K_METHODS else 'q'}={self.param:g}"


def parse_methods(text: str | None, *, default_k: int = 5, default_q: float = 0.1) -> tuple[MethodSpec, ...]:
    """``contrastive:5,q-quantile:0.1`` -> MethodSpecs; a method without ``:param`` takes
    ``default_k`` or ``default_q``. ConfigError naming the valid methods."""
    out = []
    for item in (s.strip() for s in (text or "").split(",")):
        if not item:
            continue
        name, _, param = item.partition(":")
        if name not in METHODS:
            raise ConfigError(f"--method {name!r}: expected one of {', '.join(METHODS)} (optionally :K or :Q)")
        try:
            value = float(param) if param else float(default_k if name in K_METHODS else default_q)
        except ValueError:
            raise ConfigError(f"--method {item!r}: the parameter after ':' must be a number") from None
        out.append(MethodSpec(name, value))
    return tuple(out)


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate_run`` wrote: the evaluation.json object, its figures and the files."""

    data: dict[str, Any]
    figures: tuple[Figure, ...]
    files: tuple[Path, ...] = field(default_factory=tuple)

    def headline(self) -> list[str]:
        """Headline lines, each figure beside its baselines (for the demo and the CLI)."""
        return headline_lines(self.data)


def headline_lines(data: dict[str, Any]) -> list[str]:
    """One line per headline figure of an evaluation.json object."""
    from kgfilters.evaluate.figure import fmt, fmt_p

    lines = []
    for key, block in [("", data), *((f"[{k}] ", v) for k, v in (data.get("methods") or {}).items())]:
        h = block.get("hits")
        if h:
            rt, tp = h["random_tags"], h["tie_policies"]
            lines.append(
                f"{key}Hits@{h['n']} {fmt(h['observed'], 2)} [{fmt(h['ci95'][0], 2)}, {fmt(h['ci95'][1], 2)}] "
                f"(random tags {fmt(rt['mean'], 2)}, 95th {fmt(rt['p95'], 2)}, p {fmt_p(rt['p_value'])}; "
                f"constant top-{h['n']} {fmt(h['constant_top_n'], 2)}; tie rule: {h['tie_rule']}; "
                f"random tie-break {fmt(tp['random'], 2)}, pessimistic {fmt(tp['pessimistic'], 2)})")
        hv = block.get("hits_vs_accuracy")
        if hv:
            pi, pc = hv["per_image"], hv["per_class"]
            lines.append(
                f"{key}hit vs correct: accuracy difference {fmt(pi['effect'], 3)} "
                f"[{fmt(pi['ci95'][0], 3)}, {fmt(pi['ci95'][1], 3)}] (no association 0; permutation p "
                f"{fmt_p(pi['p_value'])}); per-class r {fmt(pc['r'], 2)} [{fmt(pc['ci95'][0], 2)}, "
                f"{fmt(pc['ci95'][1], 2)}] (p {fmt_p(pc['p_value'])})")
        cf = block.get("conformance")
        if cf:
            e, c = cf["enrichment"], cf["coverage"]
            lines.append(
                f"{key}conformance: enrichment {fmt(e['observed'], 2)} (class shuffle "
                f"{fmt(e['baseline_mean'], 2)}, p {fmt_p(e['p_value'])}); coverage "
                f"{fmt(c['observed'], 2)} (class shuffle {fmt(c['baseline_mean'], 2)}, p {fmt_p(c['p_value'])})")
    if isinstance(data.get("ablation"), dict):
        lines.append(_ablation_line(data["ablation"]))
    if isinstance(data.get("fsagn"), dict):
        lines.extend(_fsagn_lines(data["fsagn"]))
    return lines


def _ablation_line(a: dict[str, Any]) -> str:
    """The ablation headline: own-class and other-class accuracy drops, tags against random filters."""
    from kgfilters.evaluate.figure import fmt, fmt_p

    t, r = a["tagged"], a["random"]
    lo, hi = t["own_drop_ci95"]
    return (f"ablation ({a['layer']}): zeroing a class's tagged filters drops its accuracy by "
            f"{fmt(t['own_drop'], 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}] (as many random filters "
            f"{fmt(r['own_drop'], 3)}, 95th {fmt(r['own_drop_p95'], 3)}, {r['draws']} draws; p "
            f"{fmt_p(a['p_value'])}); other classes {fmt(t['other_drop'], 3)} (random {fmt(r['other_drop'], 3)})")


def _fsagn_lines(f: dict[str, Any]) -> list[str]:
    """The FSAGN headlines: soft-mask fidelity of each strategy beside its equal-area baselines."""
    from kgfilters.evaluate.figure import fmt

    measure = f.get("measure") or {}
    out = []
    for strategy, better in (("reservation", "higher"), ("occlusion", "lower")):
        soft = f.get(strategy, {}).get("soft")
        if not soft:
            continue
        m = soft["fsagn"]
        lo, hi = m["ci95"]
        out.append(
            f"FSAGN {strategy} ({measure.get(strategy, 'fidelity')}, {better} is better; "
            f"{len(f['filters'])} filters x {f['images']} images, area {fmt(m['area'], 2)}): "
            f"{fmt(m['mean'], 2)} [{fmt(lo, 2)}, {fmt(hi, 2)}] (equal-area random "
            f"{fmt(soft['random']['mean'], 2)}, blob {fmt(soft['random_blob']['mean'], 2)}, Zeiler "
            f"{fmt(soft['zeiler']['mean'], 2)}; per-image optimum {fmt(soft['optimised']['mean'], 2)})")
    return out


def _grid(values: torch.Tensor, z: torch.Tensor, labels: torch.Tensor, correct: torch.Tensor, k: int, *,
          top_fraction: float, permutations: int, seed: int, methods: tuple[MethodSpec, ...]) -> dict[str, Any]:
    """Per-class r with a permutation p for every cell of the Hits@n grid (FILTAG 3.3's k, q, n and
    the compared methods' own parameter), with Holm-adjusted p-values over all cells tried."""
    from kgfilters import hits as H
    from kgfilters.explain import hits_at

    width = z.shape[1]
    params = [("k-best", float(x)) for x in H.DEFAULT_KS if x <= width] + [("q-quantile", q) for q in H.DEFAULT_QS]
    params += [(m.method, m.param) for m in methods if (m.method, m.param) not in params]
    rows = []
    for i, (method, param) in enumerate(params):
        ranks = H.vote_ranks({"l": values}, {"l": tag_matrix(z, method, param)}, top_fraction)
        for n in H.DEFAULT_NS:
            hit = hits_at(ranks, labels, n)
            pc = C.per_class_r(hit, correct, labels, k, boot=1, permutations=permutations, seed=seed + i)
            rows.append((method, param, n, float(hit.double().mean()), pc.r, pc.p_value))
    adj = C.holm([r[5] for r in rows])
    cells = [C.GridCell(*r, a) for r, a in zip(rows, adj, strict=True)]
    rs = [c.r for c in cells if c.r == c.r]
    return {"cells_tried": len(cells), "correction": "Holm",
            "significant_raw": sum(1 for c in cells if c.p_value <= 0.05),
            "significant_holm": sum(1 for c in cells if c.p_holm <= 0.05),
            "r_min": min(rs, default=None), "r_max": max(rs, default=None),
            "negative": sum(1 for r in rs if r < 0), "cells": [c.to_dict() for c in cells]}


def _method_block(spec: MethodSpec, matrices: dict[str, torch.Tensor], layer: str, values: torch.Tensor,
                  labels: torch.Tensor, correct: torch.Tensor, concepts: Any, *, n: int, top_fraction: float,
                  draws: int, seed: int, threshold: float) -> tuple[dict[str, Any], list[Figure]]:
    k = matrices[layer].shape[0]
    ev = f"layer:{layer}"
    ts = tags_section(matrices, method=spec.method, param=spec.param, threshold=threshold)
    hs = hits_section(values, matrices[layer], labels, layer=layer, method=spec.method, param=spec.param,
                      n=n, top_fraction=top_fraction, draws=draws, seed=seed)
    pi = C.per_image_effect(hs.per_image_hit, correct, seed=seed + 10)
    pc = C.per_class_r(hs.per_image_hit, correct, labels, k, seed=seed + 12)
    block: dict[str, Any] = {"method": spec.method, "param": spec.param, "tags": ts.to_dict(),
                             "hits": hs.to_dict(),
                             "hits_vs_accuracy": {"per_image": pi.to_dict(), "per_class": pc.to_dict()}}
    figs = [*ts.figures(), *hs.figures(spec.label), C.per_image_figure(pi, ev), C.per_class_figure(pc, ev)]
    if concepts is not None:
        members, informative = concepts
        generic = {name: generic_filters(m, threshold) for name, m in matrices.items()}
        cf = conformance_section(matrices, generic, members, informative, generic_threshold=threshold,
                                 permutations=1000, seed=seed + 20)
        block["conformance"] = cf.to_dict()
        figs += cf.figures()
    figs = [f if spec.label in f.name else replace(f, name=f"{f.name} [{spec.label}]") for f in figs]
    return block, figs


def _causal_sections(root: Path, *, layer: str, device: torch.device, seed: int, progress: bool,
                     ablation: bool, fsagn: bool) -> dict[str, Any]:
    """The ablation study (at ``layer``, ``ABLATION_DRAWS`` random draws) and the FSAGN evaluation
    (left out, with a log line, when the run has no sensitive areas yet) as evaluation.json
    sections."""
    from kgfilters.run import RunPaths

    out: dict[str, Any] = {}
    if ablation:
        from kgfilters.evaluate.ablation import ablation_run

        out["ablation"] = ablation_run(root, layer=layer, draws=ABLATION_DRAWS, seed=seed, device=device,
                                       progress=progress).to_dict()
    if fsagn:
        if not RunPaths(root).masks_metrics.is_file():
            log.info("fsagn section left out: no sensitive areas yet (run `kgfilters sensitive`)")
        else:
            from kgfilters.evaluate.fsagn_eval import fsagn_evaluation_run

            out["fsagn"] = fsagn_evaluation_run(root, seed=seed, device=device, progress=progress).to_dict()
    return out


def evaluate_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device | None = None,
    layer: str | None = None,
    n: int = 3,
    draws: int = 200,
    seed: int = 0,
    methods: tuple[MethodSpec, ...] = (),
    generic_threshold: float = DEFAULT_GENERIC,
    top_fraction: float = 0.2,
    ablation: bool = True,
    fsagn: bool = True,
    progress: bool = False,
    markdown: str | os.PathLike[str] | None = None,
) -> Evaluation:
    """Evaluate the run at ``root``; write evaluation.json, evaluation.md and figures/evaluation-*.png.

    Args:
        layer: layer of the Hits@n sections (default: the last conv layer of the statistics).
        n: the n of Hits@n. draws: random-tags draws (>= 200 for the reported baseline).
        seed: base seed of every resampling (each section offsets it; evaluation.json records all).
        methods: other taggings to evaluate side by side with the run's own.
        markdown: also write the Markdown report there (e.g. docs/results.md).
    """
    from kgfilters.evaluate.report import write_outputs
    from kgfilters.lock import run_lock
    from kgfilters.run import load_run, now_iso, record_stage
    from kgfilters.stages import require_fresh
    from kgfilters.stats import collect

    if draws < 200:
        log.warning("draws=%d: fewer than the 200 random-tags draws the reported baseline asks for", draws)
    if not 0.0 < generic_threshold <= 1.0:
        raise ConfigError(f"--generic-threshold {generic_threshold}: expected 0 < threshold <= 1")
    if draws < 1:
        raise ConfigError(f"--draws {draws}: expected at least 1 random-tags draw (200 or more to report)")
    with run_lock(root):  # re-entrant: the CLI holds it already
        require_fresh(root, "evaluate")
        device = device or torch.device("cpu")
        run = load_run(root, device=device)
        if not 1 <= n <= len(run.class_names):
            raise ConfigError(f"--n {n}: expected 1 <= n <= {len(run.class_names)} (the number of classes)")
        stats, tags = run.stats, run.tags
        layer = layer or list(stats.layers)[-1]
        if layer not in stats.layers:
            raise ConfigError(f"--layer {layer!r}: expected one of {', '.join(stats.layers)} (layers with statistics)")
        if layer not in tags.layer_sizes:
            raise ConfigError(f"--layer {layer!r}: not tagged; tagged: {', '.join(tags.layer_sizes)}")
        started = now_iso()
        col = collect(run.model, run.spec, run.splits.heldout, layers=[layer], device=device, progress=progress)
        values, labels = col.values[layer], col.labels
        correct = col.probs.argmax(1) == labels
        concepts = _concepts(Path(root))
        own = MethodSpec(tags.method, tags.param)
        mats = {name: tags.matrix(name) for name in tags.layer_sizes}
        common = {"n": n, "top_fraction": top_fraction, "draws": draws, "seed": seed, "threshold": generic_threshold}
        data, figs = _method_block(own, mats, layer, values, labels, correct, concepts, **common)
        data = {"run": str(Path(root)), "created": started, "seed": seed, "layer": layer, "n": n,
                "top_fraction": top_fraction, "generic_threshold": generic_threshold,
                "accuracy": float(correct.double().mean()), "images": int(labels.numel()),
                "draws": draws, "compared_methods": [m.label for m in methods if m != own],
                "command": _command(root, layer, n, draws, seed, methods, generic_threshold, top_fraction), **data}
        data["hits_vs_accuracy"]["grid"] = _grid(values, stats.z(layer), labels, correct, len(run.class_names),
                                                 top_fraction=top_fraction, permutations=2000, seed=seed + 30,
                                                 methods=(own, *methods))
        compared: dict[str, Any] = {}
        for spec in methods:
            if spec == own:
                continue
            m = {name: tag_matrix(stats.z(name), spec.method, spec.param) for name in tags.layer_sizes}
            block, f2 = _method_block(spec, m, layer, values, labels, correct, concepts, **common)
            compared[spec.label] = block
            figs += f2
        if compared:
            data["methods"] = compared
        for key, sub in _causal_sections(Path(root), layer=layer, device=device, seed=seed, progress=progress,
                                         ablation=ablation, fsagn=fsagn).items():
            data[key] = sub
            figs += list(figures_from_dict(key, sub))
        data["figures"] = [f.to_dict() for f in figs]
        files = write_outputs(Path(root), data, markdown=markdown)
        record_stage(root, "evaluate", {"layer": layer, "n": n, "draws": draws, "seed": seed,
                                        "methods": [own.label, *(s.label for s in methods)],
                                        "sections": [k for k in ("tags", "hits", "hits_vs_accuracy", "conformance",
                                                                 "ablation", "fsagn") if k in data],
                                        "started": started, "finished": now_iso()})
        return Evaluation(data, tuple(figs), files)



def _command(root: str | os.PathLike[str], layer: str, n: int, draws: int, seed: int,
             methods: tuple[MethodSpec, ...], threshold: float, top: float) -> str:
    """The ``kgfilters evaluate`` command line that reproduces this evaluation."""
    parts = ["kgfilters evaluate", f"--run {root}", f"--layer {layer}", f"--n {n}", f"--draws {draws}",
             f"--seed {seed}"]
    if methods:
        parts.append("--method " + ",".join(f"{m.method}:{m.param:g}" for m in methods))
    if threshold != DEFAULT_GENERIC:
        parts.append(f"--generic-threshold {threshold:g}")
    if top != 0.2:
        parts.append(f"--top {top:g}")
    return " ".join(parts)


def _concepts(root: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(members, informative) from the run's concepts.json through ``queries.coarsen``, or None."""
    from kgfilters.run import RunPaths

    path = RunPaths(root).concepts
    if not path.is_file():
        log.info("conformance left out: %s is missing (run `kgfilters link`)", path)
        return None
    from kgfilters.queries.coarsen import DEFAULT_STOP, concept_members
    from kgfilters.queries.linking import load_concepts

    _, members, informative = concept_members(load_concepts(path), DEFAULT_STOP)
    return members, informative
