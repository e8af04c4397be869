"""evaluation.json, evaluation.md and figures/evaluation-*.png from one evaluation object.

The Markdown renders whatever sections are present: the figures list (each figure with its value,
interval, baselines, p-value, null model and seed), then section tables it knows (tags, Hits@n
cut-offs, the hits-vs-accuracy grid), then, for a section it does not know, every figure of its
subtree (``figures_from_dict``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kgfilters.atomic import atomic_path, atomic_write_json, atomic_write_text
from kgfilters.evaluate.figure import Figure, figures_from_dict, fmt, fmt_p

__all__ = ["SECTIONS", "load_evaluation", "plot_cutoffs", "render_markdown", "write_outputs"]

#: Section keys of evaluation.json in report order (others follow in file order).
SECTIONS = ("tags", "hits", "hits_vs_accuracy", "conformance", "ablation", "fsagn")


def _ci(ci: Any) -> str:
    return "" if not ci else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _figure_table(figs: list[Figure]) -> list[str]:
    out = ["| figure | value | 95% interval | baselines | p | null model | seed |",
           "|---|---|---|---|---|---|---|"]
    for f in figs:
        base = "; ".join(f"{k} {fmt(v)}" for k, v in f.baselines.items())
        out.append(f"| {f.name} | {fmt(f.value)} | {_ci(f.ci95)} | {base} | "
                   f"{'' if f.p_value is None else fmt_p(f.p_value)} | {f.null_model or ''} | "
                   f"{'' if f.seed is None else f.seed} |")
    return out


def _tags_table(tags: Mapping[str, Any]) -> list[str]:
    out = [f"Tags ({tags['method']} {tags['param']:g}); generic = tagged by >= "
           f"{tags['generic_threshold']:.0%} of the classes.", "",
           "| layer | filters | tagged | tagged share | tags per filter (0, 1, 2, ...) | generic filters |",
           "|---|---|---|---|---|---|"]
    for name, lt in tags["layers"].items():
        gen = ", ".join(map(str, lt["generic_filters"])) or "-"
        out.append(f"| {name} | {lt['filters']} | {lt['tagged']} | {fmt(lt['tagged_share'])} | "
                   f"{', '.join(map(str, lt['tags_per_filter']))} | {gen} |")
    return out


def _cutoff_table(h: Mapping[str, Any]) -> list[str]:
    out = [f"Hits@{h['n']} across activation cut-offs (share of the layer's filters counted as activated):", "",
           "| cut-off | activation-sum ties | random tie-break | pessimistic | random tags mean | random tags p95 |",
           "|---|---|---|---|---|---|"]
    for r in h["cutoffs"]:
        out.append(f"| {r['top_fraction']:.0%} | {fmt(r['activation'])} | {fmt(r['random'])} | "
                   f"{fmt(r['pessimistic'])} | {fmt(r['random_tags_mean'])} | {fmt(r['random_tags_p95'])} |")
    return out


def _grid_table(g: Mapping[str, Any]) -> list[str]:
    out = [f"Per-class r over the Hits@n grid: {g['cells_tried']} cells tried, {g['significant_raw']} with "
           f"p <= 0.05 before and {g['significant_holm']} after {g['correction']}'s correction; r from "
           f"{fmt(g['r_min'])} to {fmt(g['r_max'])}, negative in {g['negative']} cells.", "",
           "| method | param | n | Hits@n | r | p | p (Holm) |", "|---|---|---|---|---|---|---|"]
    for c in g["cells"]:
        out.append(f"| {c['method']} | {c['param']:g} | {c['n']} | {fmt(c['hits'])} | {fmt(c['r'])} | "
                   f"{fmt_p(c['p_value'])} | {fmt_p(c['p_holm'])} |")
    return out


def render_markdown(data: Mapping[str, Any]) -> str:
    """The readable report of an evaluation.json object."""
    figs = [Figure.from_dict(f) for f in data.get("figures") or ()]
    lines = [f"# Evaluation of `{data.get('run', '?')}`", "",
             f"Held-out images: {data.get('images')}, accuracy {fmt(data.get('accuracy'))}; layer "
             f"{data.get('layer')}, n = {data.get('n')}, activation cut-off {data.get('top_fraction')}, "
             f"base seed {data.get('seed')}, {data.get('draws')} random-tags draws. Generated "
             f"{data.get('created')} by", "", f"    {data.get('command', 'kgfilters evaluate')}", "",
             "(add `--markdown FILE` to write this report elsewhere too). Every figure stands beside its "
             "chance baseline; intervals are 95% percentile bootstraps, p-values add-one Monte-Carlo "
             "(docs/methods.md, \"Evaluation\").", ""]
    present = set(data) | {f.section for f in figs}
    known = [s for s in (*SECTIONS, "methods") if s in present]
    for section in [*known, *(k for k in data if isinstance(data[k], dict) and k not in known
                              and k not in ("figures",))]:
        block = data.get(section) or {}
        lines += [f"## {section}", ""]
        own = [f for f in figs if f.section == section]
        if section == "methods":
            lines += [f"Compared tag methods ({', '.join(block)}): their figures stand beside the run's "
                      "in every section above (same layer, n, activations and seeds).", ""]
            continue
        if not own:
            own = list(figures_from_dict(section, block))
        if own:
            lines += [*_figure_table(own), ""]
        if section == "tags" and "layers" in block:
            lines += [*_tags_table(block), ""]
        if section == "hits" and "cutoffs" in block:
            lines += [f"Tie rule of the observed figure: {block['tie_rule']} (votes, then summed activation, "
                      f"then class index). The true class is tied on votes with another class in "
                      f"{fmt(block['tied_share'])} of the images. Constant top-{block['n']}: classes "
                      f"{block['constant_classes']} for every image.", "", *_cutoff_table(block), ""]
        if section == "conformance" and "enrichment" in block:
            e, c = block["enrichment"], block["coverage"]
            lines += [f"Multi-tag filters of the run's tags: enrichment {e['conforming']}/{e['multi_tag']} "
                      f"(an informative concept over-represented, hypergeometric p <= {e.get('alpha', 0.05)}; "
                      f"generic filters never conform), coverage {c['conforming']}/{c['multi_tag']} (a concept "
                      f"shared by >= max(2, {c.get('share', 0.5):g} x tags)); {block.get('concepts')} concepts; "
                      f"{e['permutations']} class shuffles.", ""]
        if section == "hits_vs_accuracy" and "grid" in block:
            lines += [*_grid_table(block["grid"]), ""]
    return "\n".join(lines) + "\n"


def plot_cutoffs(data: Mapping[str, Any], png_path: str | os.PathLike[str]) -> Path:
    """Hits@n against the activation cut-off, observed beside its tie-breaks and random tags,
    one panel per evaluated method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    blocks = [("run: " + f"{data['hits']['method']} {data['hits']['param']:g}", data["hits"])]
    blocks += [(k, v["hits"]) for k, v in (data.get("methods") or {}).items()]
    fig, axes = plt.subplots(1, len(blocks), figsize=(4.5 * len(blocks), 3.8), sharey=True, squeeze=False)
    for ax, (title, h) in zip(axes[0], blocks, strict=True):
        x = [r["top_fraction"] for r in h["cutoffs"]]
        for key, label in (("activation", "activation-sum ties"), ("random", "random tie-break"),
                           ("pessimistic", "pessimistic"), ("random_tags_mean", "random tags (mean)"),
                           ("random_tags_p95", "random tags (95th)")):
            ax.plot(x, [r[key] for r in h["cutoffs"]], marker="o", label=label,
                    linestyle="--" if key.startswith("random_tags") else "-")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(x)
        ax.set_xticklabels([f"{v:.0%}" for v in x])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("activated filters (share of the layer)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"Hits@{data['hits']['n']} (held-out)")
    axes[0][0].set_ylim(0, 1.02)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(png_path)


def write_outputs(
    root: Path, data: Mapping[str, Any], *, markdown: str | os.PathLike[str] | None = None
) -> tuple[Path, ...]:
    """Write evaluation.json, evaluation.md (and ``markdown`` when given) and the plots, atomically."""
    md = render_markdown(data)
    from kgfilters.run import RunPaths

    paths = RunPaths(root)
    files = [atomic_write_json(paths.evaluation, dict(data)),
             atomic_write_text(paths.evaluation.with_suffix(".md"), md)]
    if markdown is not None:
        files.append(atomic_write_text(markdown, md))
    if "hits" in data:
        files.append(plot_cutoffs(data, paths.figures / "evaluation-hits-cutoffs.png"))
    return tuple(files)


def load_evaluation(root: str | os.PathLike[str]) -> dict[str, Any]:
    """evaluation.json of a run; RunError when it is missing or malformed."""
    import json

    from kgfilters.errors import RunError
    from kgfilters.run import RunPaths

    path = RunPaths(Path(root)).evaluation
    if not path.is_file():
        raise RunError(f"{path}: no evaluation yet; run `kgfilters evaluate --run {root}`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
