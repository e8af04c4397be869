"""``kgfilters stats|tag|hits|explain|models``: the FILTAG commands."""

from __future__ import annotations

import argparse
import json

from kgfilters.cli.common import (
    add_device,
    add_run,
    comma_list,
    device_of,
    nonnegative_int,
    positive_int,
    probability,
    refresh_graph,
    writing,
)

ORDER = 20
LAYERS_HELP = ("comma-separated conv layer names or glob patterns, e.g. 'layer4.*,features.2?' "
               "(default: all; see `kgfilters layers`)")


def _layers(text: str | None) -> list[str] | None:
    return [s for s in text.split(",") if s] if text else None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model names kgfilters knows",
                       description="List 'fsagn-mnist' and every torchvision classifier name. --model also takes "
                       "timm:NAME, export:FILE.pt2 and package.module:factory (see the README).",
                       epilog="example: kgfilters models | grep vgg")
    p.set_defaults(func=_models)

    p = sub.add_parser(
        "stats", help="FILTAG activation statistics of conv layers (resumable, torchrun-ready)",
        description="Stream the tag split through the model and accumulate, per class and filter, "
        "the mean of min-max scaled activations (FILTAG 2.1) in float64. A killed run resumes from "
        "its last checkpoint. Under torchrun each rank takes a shard and one all-reduce joins them.",
        epilog="examples:\n  kgfilters stats --run runs/fm --layers conv1,conv2\n"
        "  torchrun --nproc_per_node 2 --no-python kgfilters stats --run-dir runs/fm --device cpu",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--layers", default=None, help=LAYERS_HELP)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU)")
    p.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="BATCHES",
                   help="batches between checkpoints (default: a tenth of the batches)")
    add_device(p)
    p.set_defaults(func=_stats)

    p = sub.add_parser(
        "tag", help="tag filters with classes (FILTAG k-best or q-quantile, or contrastive) -> tags.json",
        description="Tag each conv filter with the classes whose images activate it most "
        "(FILTAG 2.1). 'contrastive' ranks filters by z_c minus the mean of the other classes, so "
        "filters that fire for every class are not tagged (docs/methods.md). Computes the "
        "statistics first when they are missing.",
        epilog="examples:\n  kgfilters tag --run runs/fm --method k-best --k 5\n"
        "  kgfilters tag --run runs/fm --method q-quantile --q 0.1\n"
        "  kgfilters tag --run runs/fm --method contrastive --k 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--method", choices=["k-best", "q-quantile", "contrastive"], default="k-best")
    p.add_argument("--k", type=positive_int, default=5, help="filters per class and layer (k-best, contrastive)")
    p.add_argument("--q", type=probability, default=0.1, help="share of filters per class and layer (q-quantile)")
    p.add_argument("--layers", default=None, help=LAYERS_HELP)
    p.add_argument("--recompute", action="store_true",
                   help="recompute stale statistics (the model changed) instead of refusing")
    add_device(p)
    p.set_defaults(func=_tag)

    p = sub.add_parser(
        "hits", help="Hits@n study over held-out images for a grid of k, q and n (FILTAG Fig. 4)",
        description="Compute Hits@n on the held-out split for every k, q and n, per class and "
        "overall, and the correlation of per-class Hits@n with per-class accuracy. Writes "
        "hits.json, hits.csv and figures/hits.png.",
        epilog="examples:\n  kgfilters hits --run runs/fm --k 1,3,5 --q 0.1,0.25 --n 1,2,3\n"
        "  kgfilters hits --run runs/fm --contrastive 3,5 --draws 500",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("--layers", default=None,
                   help="layers (names or glob patterns) whose tags vote (default: the last conv layer)")
    p.add_argument("--k", type=comma_list(positive_int), default=None,
                   help="comma-separated k values (default 1,2,3,5,10)")
    p.add_argument("--q", type=comma_list(probability), default=None,
                   help="comma-separated q values in (0, 1] (default 0.05,0.1,0.25,0.5)")
    p.add_argument("--n", type=comma_list(positive_int), default=None,
                   help="comma-separated n values (default 1,2,3,5)")
    p.add_argument("--top", type=probability, default=0.2, help="share of a layer's filters that count as activated")
    p.add_argument("--contrastive", type=comma_list(positive_int), default=None, metavar="K,...",
                   help="also the contrastive method with these k values (default: none)")
    p.add_argument("--draws", type=nonnegative_int, default=200, help="random-tags draws per k or q for the "
                   "baseline columns (default: 200; 0: none)")
    p.add_argument("--recompute", action="store_true",
                   help="recompute stale statistics (the model changed) instead of refusing")
    add_device(p)
    p.set_defaults(func=_hits)

    p = sub.add_parser(
        "explain", help="explain one prediction with the tags of the filters it activates",
        description="Prediction and confidence, the most activated filters per layer with their "
        "tags, the tag ranking and Hits@n for the predicted and the true class (FILTAG 2.2); for a "
        "misclassified image, how the tags of the true and predicted classes compare (FILTAG 3.4).",
        epilog="examples:\n  kgfilters explain --run runs/fm --index 7\n"
        "  kgfilters explain --run runs/fm --image shoe.png --json\n"
        "  kgfilters explain --run runs/fm --index 7 --areas\n"
        "  kgfilters explain --run runs/fm --index 7 --save   # with its areas, into the graph\n"
        "  kgfilters explain --run runs/fm --resave   # every saved one again (after `sensitive`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--index", type=nonnegative_int, help="index of a held-out image")
    g.add_argument("--image", help="path of an image file")
    g.add_argument("--resave", action="store_true",
                   help="explain every saved explanation's image again, with its areas, and save each "
                        "over its own file (what `kgfilters status` asks for when saved explanations "
                        "are stale: the tags or the trained generators changed); --layers/--top apply")
    p.add_argument("--layers", default=None, help="tagged layers that vote (default: all tagged)")
    p.add_argument("--top", type=probability, default=0.2,
                   help="share of a layer's filters that count as activated")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--save", action="store_true",
                   help="also write explanations/heldout-INDEX.json (file-STEM-HASH.json for --image) and "
                        "update the graph; implies --areas: the saved explanation carries its sensitive "
                        "areas, emitted as kgf:SensitiveArea nodes of the image (held-out images)")
    p.add_argument("--areas", action="store_true",
                   help="also compute where the separating filters look in this image, with the run's "
                        "trained FSAGN generators (masks/generators/), and their fidelity figures")
    add_device(p)
    p.set_defaults(func=_explain)


def _models(args: argparse.Namespace) -> int:
    from kgfilters.models import list_models

    print("\n".join(list_models()))
    return 0


def _stats(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from kgfilters.pipeline import stats_run

    rank0 = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone writes and reports
    with writing(args, "stats") if rank0 else contextlib.nullcontext():
        stats = stats_run(args.run, device=device_of(args), layers=_layers(args.layers),
                          batch_size=args.batch_size, bf16=args.bf16,
                          channels_last=args.channels_last, checkpoint_every=args.checkpoint_every,
                          progress=args.progress)
    if rank0:
        print(f"statistics of {stats.num_images} images, layers "
              + ", ".join(f"{n} ({s.num_filters} filters)" for n, s in stats.layers.items()))
        print(f"written: {args.run}/stats/stats.safetensors")
    return 0


def _tag(args: argparse.Namespace) -> int:
    from collections import Counter

    from kgfilters.filtag import K_METHODS
    from kgfilters.pipeline import tag_run

    param = args.k if args.method in K_METHODS else args.q
    with writing(args, "tag"):
        tags = tag_run(args.run, method=args.method, param=param, layers=_layers(args.layers),
                       device=device_of(args), progress=args.progress, recompute=args.recompute)
        refresh_graph(args, "tag", quiet=True)
    print(f"{len(tags.tags)} tags ({args.method}, {'k' if args.method in K_METHODS else 'q'}={param:g})")
    for layer, size in tags.layer_sizes.items():
        per = Counter(t.filter for t in tags.tags if t.layer == layer)
        print(f"  {layer}: {len(per)}/{size} filters tagged, up to {max(per.values(), default=0)} tags each")
        for c, name in enumerate(tags.class_names):
            best = [t.filter for t in tags.tags if t.layer == layer and t.class_index == c][:5]
            print(f"    {name:<14} {', '.join(map(str, best))}")
    print(f"written: {args.run}/tags.json; graph updated")
    return 0


def _hits(args: argparse.Namespace) -> int:
    from kgfilters.pipeline import hits_run

    with writing(args, "hits"):
        study = hits_run(args.run, device=device_of(args), layers=_layers(args.layers),
                         ks=args.k, qs=args.q, ns=args.n, top_fraction=args.top, progress=args.progress,
                         draws=args.draws, contrastive_ks=tuple(args.contrastive or ()),
                         recompute=args.recompute)
        refresh_graph(args, "hits", quiet=True)
    print(f"Hits@n on held-out images (accuracy {study.accuracy:.2%}), layers {', '.join(study.layers)}")
    print("  tie rule: activation sum; baselines: random and pessimistic tie-breaks, random tags "
          f"({args.draws} draws, same tag count per class) mean and 95th percentile")
    print(f"  {'method':<11} {'param':>6} {'n':>3} {'hits(true)':>11} {'rand.tie':>9} {'pessim.':>8} "
          f"{'rnd.tags':>9} {'95th':>7} {'hits(pred)':>11} {'corr(acc)':>10}")

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    for c in study.grid:
        corr = "n/a" if c.correlation is None else f"{c.correlation:+.3f}"
        print(f"  {c.method:<11} {c.param:>6g} {c.n:>3} {c.hits_true:>11.2%} {pct(c.hits_random_tie):>9} "
              f"{pct(c.hits_pessimistic):>8} {pct(c.random_tags_mean):>9} {pct(c.random_tags_p95):>7} "
              f"{c.hits_predicted:>11.2%} {corr:>10}")
    print("  correlations have no interval or p-value here: see `kgfilters evaluate` (Holm over the grid)")
    print(f"written: {args.run}/hits.json, {args.run}/hits.csv, {args.run}/figures/hits.png; "
          "graph updated")
    return 0


def _explain(args: argparse.Namespace) -> int:
    import contextlib

    from kgfilters.pipeline import explain_run

    if args.resave:
        return _resave(args)
    with writing(args, "explain") if args.save else contextlib.nullcontext():
        e = explain_run(args.run, device=device_of(args), index=args.index, image=args.image,
                        layers=_layers(args.layers), top_fraction=args.top, save=args.save,
                        areas=True if args.areas else None)
        if args.save:
            refresh_graph(args, "explain", quiet=args.json)
    if args.json:
        from kgfilters.explain import explanation_to_json

        print(json.dumps(explanation_to_json(e), indent=2))
        return 0
    from kgfilters.cli.render import render_explanation

    print(render_explanation(e, class_names=_names(args)))
    if e.areas is not None:
        print("  where the separating filters look (FSAGN masks by the run's trained generators):")
        for a in e.areas.masks:
            kept = a.metrics.get("correlation" if a.strategy == "reservation" else "response_ratio")
            what = "" if kept is None else (f", response correlation {kept:.2f}" if a.strategy == "reservation"
                                            else f", response left {kept:.0%}")
            print(f"    {a.layer}:{a.filter} {a.strategy}: {a.area:.0%} of the image{what} ({a.generator})")
        if e.areas.missing:
            print("    no trained generator for " + ", ".join(f"{lay}:{f}" for lay, f in e.areas.missing)
                  + " (kgfilters sensitive --filter LAYER:INDEX trains one)")
    return 0


def _resave(args: argparse.Namespace) -> int:
    from kgfilters.explain_stage import resave_explanations
    from kgfilters.run import read_json

    with writing(args, "explain"):
        files = resave_explanations(args.run, device=device_of(args), layers=_layers(args.layers),
                                    top_fraction=args.top)
        refresh_graph(args, "explain", quiet=True)
    if args.json:
        print(json.dumps({"resaved": [str(f) for f in files]}, indent=2))
        return 0
    for f in files:
        saved = read_json(f, expect=dict)
        areas, missing = saved.get("sensitive_areas") or [], saved.get("no_generator") or []
        print(f"re-saved: {f} ({len(areas)} sensitive areas, {len(missing)} filters without a generator)")
    print(f"{len(files)} explanations re-saved; graph updated")
    return 0


def _names(args: argparse.Namespace) -> tuple[str, ...]:
    from kgfilters.run import read_run_json

    return tuple(read_run_json(args.run)["dataset"]["class_names"])
