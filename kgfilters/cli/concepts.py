"""``kgfilters link`` and ``kgfilters coarsen``: concepts of labels, coarse concepts of filters."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from kgfilters.cli.common import (
    add_run,
    nonnegative_int,
    positive_float,
    probability,
    refresh_graph,
    writing,
)

ORDER = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "link",
        help="link the run's class labels to WordNet (and ConceptNet)",
        description="Link each class label of the run to a WordNet 3.0 synset (offline, always) "
        "and, with --conceptnet, to a ConceptNet concept (HTTP API, cached on disk, rate-limited) "
        "or "
        "from the assertions dump; the hypernym / IsA closure becomes skos:broader edges. Writes "
        "RUN/concepts.json.",
        epilog="example: kgfilters link --run runs/fm --conceptnet --offline",
    )
    add_run(p)
    p.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="CSV (label,concept) or JSON {label: concept}: overrides automatic links; "
        "a concept is an IRI, a wnid (n02510455) or a synset name (boot.n.01)",
    )
    p.add_argument(
        "--conceptnet", action="store_true", help="also link to ConceptNet through its API"
    )
    p.add_argument("--offline", action="store_true", help="ConceptNet from the on-disk cache only")
    p.add_argument(
        "--conceptnet-url",
        default=None,
        metavar="URL",
        help="ConceptNet API root (default: https://api.conceptnet.io)",
    )
    p.add_argument(
        "--conceptnet-dump",
        type=Path,
        default=None,
        metavar="FILE",
        help="read ConceptNet from conceptnet-assertions-5.7.0.csv.gz instead of the API",
    )
    p.add_argument(
        "--relations",
        default="IsA,PartOf,HasA,UsedFor,Synonym",
        help="ConceptNet relations to keep, comma-separated (default: all five)",
    )
    p.add_argument("--depth", type=nonnegative_int, default=2, help="IsA levels to follow up (default: 2)")
    p.add_argument(
        "--rate", type=positive_float, default=1.0, help="ConceptNet requests per second (default: 1)"
    )
    p.set_defaults(func=run_link)

    c = sub.add_parser(
        "coarsen",
        help="print each filter's coarse concepts (shared concepts of its tags)",
        description="For every tagged filter, the most specific concepts shared by at least "
        "--share of its tags (and two), skipping uninformative roots; prints them, the "
        "coverage figure and the enrichment test, each beside its class-shuffle baseline (1000 "
        "permutations, seed 0), writes RUN/coarse.json. Needs `kgfilters tag` and `kgfilters link`.",
        epilog="example: kgfilters coarsen --run runs/fm --share 0.5",
    )
    add_run(c)
    c.add_argument(
        "--share", type=probability, default=0.5, help="share of a filter's tags (default: 0.5)"
    )
    c.add_argument(
        "--stop",
        default="",
        metavar="CONCEPTS",
        help="comma-separated concepts to skip besides the default roots (entity, physical "
        "entity, object, whole, artifact): IRIs, synset names (covering.n.02) or wnids",
    )
    c.add_argument("--no-default-stop", action="store_true", help="do not skip the default roots")
    c.add_argument("--all", action="store_true", help="also print filters without a coarse concept")
    c.set_defaults(func=run_coarsen)


def run_link(args: argparse.Namespace) -> int:
    from kgfilters.queries.conceptnet import DEFAULT_BASE_URL
    from kgfilters.queries.stage import concepts_path, link_run

    rels = tuple(r.strip() for r in args.relations.split(",") if r.strip())
    with writing(args, "link"):
        links = link_run(
            args.run,
            conceptnet=args.conceptnet,
            offline=args.offline,
            mapping=args.mapping,
            base_url=args.conceptnet_url or DEFAULT_BASE_URL,
            dump=args.conceptnet_dump,
            relations=rels,
            depth=args.depth,
            rate=args.rate,
        )
        refresh_graph(args, "link", quiet=True)  # files and graph are written before anything is printed
    notation = {c.iri: c.notation for c in links.concepts}
    for i, name in enumerate(links.class_names):
        found = [
            f"{notation.get(lk.concept, lk.concept)} ({lk.source})"
            for lk in links.links
            if lk.class_index == i
        ]
        print(f"{name:24s} {', '.join(found) or '- (not linked)'}")
    print(
        f"{len(links.concepts)} concepts, {len(links.broader)} broader edges -> "
        f"{concepts_path(args.run)}"
    )
    return 0


def run_coarsen(args: argparse.Namespace) -> int:
    from kgfilters.errors import ConfigError
    from kgfilters.queries.coarsen import DEFAULT_STOP
    from kgfilters.queries.linking import load_concepts
    from kgfilters.queries.stage import coarse_path, coarsen_run, concepts_path
    from kgfilters.queries.wordnet import load_wordnet, parse_synset_ref, synset_iri

    stop = set() if args.no_default_stop else set(DEFAULT_STOP)
    for item in (s.strip() for s in args.stop.split(",")):
        if item:
            synset = None if "://" in item else parse_synset_ref(load_wordnet(), item)
            if synset is None and "://" not in item:
                raise ConfigError(f"--stop {item!r}: expected an IRI, a synset name or a wnid")
            stop.add(synset_iri(synset) if synset is not None else item)
    from kgfilters.stages import require_fresh

    with writing(args, "coarsen"):
        require_fresh(args.run, "coarsen", allow_missing=("tag", "link"))  # stale: refused
        result = coarsen_run(args.run, share=args.share, stop=stop)
        refresh_graph(args, "coarsen", quiet=True)
    links = load_concepts(concepts_path(args.run))
    notation = {c.iri: c.notation for c in links.concepts}
    for f in result.filters:
        if not f.concepts and not args.all:
            continue
        tags = ", ".join(links.class_names[c] for c in f.classes)
        concepts = (
            "; ".join(
                f"{notation.get(c.concept, c.concept)} ({c.support}/{len(f.classes)})"
                for c in f.concepts
            )
            or "-"
        )
        print(f"{f.layer}:{f.filter:<5d} {concepts}    [{tags}]")
    from kgfilters.filtag import load_tags
    from kgfilters.queries.coarsen import coverage_with_baseline
    from kgfilters.run import RunPaths

    conf = result.conformance
    base = coverage_with_baseline(load_tags(RunPaths(args.run).tags), links, share=args.share, stop=stop)
    cov, enr = base.coverage, base.enrichment
    print(
        f"coverage: {result.conforming}/{result.multi_tag} multi-tag filters share an informative "
        f"concept ({'n/a' if math.isnan(conf) else f'{conf:.1%}'}; class-shuffle baseline "
        f"{cov.baseline_mean:.1%}, p {cov.p_value:.3f}, {cov.permutations} permutations) "
        f"-> {coarse_path(args.run)}"
    )
    print(
        f"enrichment: {enr.conforming}/{enr.multi_tag} multi-tag filters have an over-represented "
        f"informative concept (hypergeometric p <= {base.alpha:g}; generic filters excluded) "
        f"({'n/a' if math.isnan(enr.observed) else f'{enr.observed:.1%}'}; class-shuffle baseline "
        f"{enr.baseline_mean:.1%}, p {enr.p_value:.3f})"
    )
    return 0
