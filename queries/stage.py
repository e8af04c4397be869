"""Run-level stages of the semantics part: link a run's class labels, coarsen its tags.

Each reads what it needs from a run directory, writes its result atomically (``concepts.json``,
``coarse.json``) and records the stage in ``run.json``. Neither writes triples: the graph part's
emitters read these files (``kgfilters.ontology.build``, stages ``concepts`` and ``coarsening``),
and the CLI asks it to refresh the stage's named graph afterwards.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from kgfilters.errors import ConfigError
from kgfilters.filtag import load_tags
from kgfilters.queries.coarsen import (
    DEFAULT_SHARE,
    DEFAULT_STOP,
    Coarsening,
    coarsen_tags,
    save_coarsening,
)
from kgfilters.queries.conceptnet import (
    DEFAULT_BASE_URL,
    DEFAULT_RELATIONS,
    ConceptNetClient,
    ConceptNetError,
)
from kgfilters.queries.linking import (
    ConceptLinks,
    link_conceptnet,
    link_wordnet,
    load_concepts,
    load_mapping,
    merge_links,
    save_concepts,
)
from kgfilters.queries.wordnet import cache_dir
from kgfilters.run import RunPaths, now_iso, read_run_json, record_stage

__all__ = ["base_of", "coarse_path", "coarsen_run", "concepts_path", "demo_stage", "link_run"]

log = logging.getLogger(__name__)


def concepts_path(root: str | os.PathLike[str]) -> Path:
    return RunPaths(Path(root)).concepts


def coarse_path(root: str | os.PathLike[str]) -> Path:
    return RunPaths(Path(root)).coarse


def base_of(root: str | os.PathLike[str]) -> str:
    """The run's base IRI (the graph part's ``Iris.for_run``: run.json ``graph.base_iri``, else
    ``https://w3id.org/kgfilters/run/<run directory name>/``)."""
    from kgfilters.ontology.iris import Iris

    return str(Iris.for_run(root).base)


def link_run(
    root: str | os.PathLike[str],
    *,
    conceptnet: bool = False,
    offline: bool = False,
    mapping: str | os.PathLike[str] | None = None,
    base_url: str = DEFAULT_BASE_URL,
    dump: str | os.PathLike[str] | None = None,
    relations: Iterable[str] = DEFAULT_RELATIONS,
    depth: int = 2,
    rate: float = 1.0,
    cache: Path | None = None,
) -> ConceptLinks:
    """Link the run's class labels: WordNet always; ConceptNet (API or ``dump``) when asked.

    Writes ``concepts.json`` and records stage ``link``. ConceptNetError (one line, with
    what to do instead) when the API is unreachable and nothing is cached.
    """
    root = Path(root)
    dataset = read_run_json(root)["dataset"]
    names = tuple(dataset["class_names"])
    user: Mapping[str, str] = load_mapping(mapping) if mapping is not None else {}
    links = link_wordnet(names, mapping=user, class_ids=dataset.get("class_ids"))
    source = "wordnet"
    if dump is not None:
        from kgfilters.queries.dump import DumpIndex

        links = merge_links(
            links,
            link_conceptnet(
                names,
                DumpIndex(dump, relations=relations),
                relations=tuple(relations),
                depth=depth,
                skip=frozenset(user),
            ),
        )
        source += "+conceptnet-dump"
    elif conceptnet:
        cache = cache if cache is not None else cache_dir() / "http"
        with ConceptNetClient(
            base_url=base_url, cache_dir=cache, offline=offline, rate=rate
        ) as client:
            links = merge_links(
                links,
                link_conceptnet(
                    names, client, relations=tuple(relations), depth=depth, skip=frozenset(user)
                ),
            )
        source += "+conceptnet"
    save_concepts(links, concepts_path(root))
    record_stage(
        root,
        "link",
        {
            "finished": now_iso(),
            "sources": source,
            "linked": len({lk.class_index for lk in links.links}),
            "classes": len(names),
            "concepts": len(links.concepts),
            "broader_edges": len(links.broader),
            "mapping": str(mapping) if mapping else None,
        },
    )
    return links


def coarsen_run(
    root: str | os.PathLike[str],
    *,
    share: float = DEFAULT_SHARE,
    stop: Iterable[str] = DEFAULT_STOP,
) -> Coarsening:
    """Coarsen the run's tags (``tags.json``) through its concept links (``concepts.json``);
    writes ``coarse.json`` and records stage ``coarsen``."""
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"--share {share}: expected 0 < share <= 1 (share of a filter's tags)")
    root = Path(root)
    tags = load_tags(RunPaths(root).tags)
    links = load_concepts(concepts_path(root))
    result = coarsen_tags(tags, links, share=share, stop=stop)
    save_coarsening(result, coarse_path(root))
    conf = result.conformance
    record_stage(
        root,
        "coarsen",
        {
            "finished": now_iso(),
            "share": share,
            "multi_tag_filters": result.multi_tag,
            "conformance": None if math.isnan(conf) else conf,
        },
    )
    return result


def _cached_conceptnet() -> bool:
    return (cache_dir() / "http" / "conceptnet.sqlite").is_file()


def demo_stage(root: Path, *, device: torch.device, progress: bool) -> list[str]:
    """Demo: link the run's labels (WordNet; ConceptNet only from an existing cache, offline)
    and coarsen its tags; returns lines to print (``device``, ``progress``: unused, no tensors)."""
    del device, progress
    root = Path(root)
    lines: list[str] = []
    try:
        links = link_run(root, conceptnet=_cached_conceptnet(), offline=True)
    except ConceptNetError as exc:  # a cache without these labels: WordNet alone still works
        log.warning("ConceptNet cache incomplete (%s); linking with WordNet only", exc)
        links = link_run(root)
    names = {c.iri: c.notation for c in links.concepts}
    lines.append(
        f"linked {len({lk.class_index for lk in links.links})}/{len(links.class_names)} "
        f"classes to {len(links.concepts)} concepts ({len(links.broader)} broader edges) "
        f"-> {concepts_path(root)}"
    )
    result = coarsen_run(root)
    from kgfilters.queries.coarsen import clusters

    for concept, members in list(clusters(result).items())[:6]:
        lines.append(
            f"  {names.get(concept, concept)}: {len(members)} filters, e.g. "
            + ", ".join(f"{layer}:{i}" for layer, i in members[:4])
        )
    from kgfilters.queries.coarsen import coverage_with_baseline

    conf = result.conformance
    base = coverage_with_baseline(load_tags(RunPaths(root).tags), links)
    cov, enr = base.coverage, base.enrichment
    lines.append(
        f"coverage: {result.conforming}/{result.multi_tag} multi-tag filters share an "
        f"informative concept ({'n/a' if math.isnan(conf) else f'{conf:.0%}'}; class-shuffle "
        f"baseline {cov.baseline_mean:.0%}, p {cov.p_value:.3f}) -> {coarse_path(root)}"
    )
    lines.append(
        f"enrichment: {enr.conforming}/{enr.multi_tag} multi-tag filters have an over-represented "
        f"informative concept ({'n/a' if math.isnan(enr.observed) else f'{enr.observed:.0%}'}; "
        f"class-shuffle baseline {enr.baseline_mean:.0%}, p {enr.p_value:.3f})"
    )
    return lines
