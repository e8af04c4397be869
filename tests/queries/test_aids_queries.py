"""The catalog queries rewritten to read the query aids answer what the old whole-graph formulations
(kept in ``legacy/``) answered: on the Fashion-MNIST fixture graph, and on a copy of the demo run
(re-coarsened and re-emitted with the aids, then validated against the shapes)."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest
from sem_helpers import BASE, TAGGED, coarsening_triples, concept_triples, dataset, fm_tagset, tags_graph, to_store

from kgfilters.errors import GraphError
from kgfilters.ontology.namespace import KGF_IRI
from kgfilters.queries.catalog import get_query, iter_query, page_text, run_query
from kgfilters.queries.coarsen import class_ancestors, coarsen_tags

pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")
LEGACY = Path(__file__).resolve().parent / "legacy"
ALL = "1000000"  # an n beyond any listing: every listed row


def legacy(name: str):  # type: ignore[no-untyped-def]
    return get_query(str(LEGACY / f"{name}.rq"))


@pytest.fixture(scope="module")
def store(fm_links):  # type: ignore[no-untyped-def]
    """tags (with their aids), concepts and coarsening (with its aids) as the emitters write them."""
    tags = fm_tagset()
    return to_store(dataset({
        "tags": tags_graph(tags),
        "concepts": concept_triples(fm_links, BASE),
        "coarsening": coarsening_triples(coarsen_tags(tags, fm_links), BASE),
    }))


def same_as_legacy(target) -> None:  # type: ignore[no-untyped-def]
    """Every rewritten query against its old formulation on ``target`` (a pyoxigraph store)."""
    for name in ("never-tagged", "coarse-concepts"):
        new = run_query(target, get_query(name))
        assert new.rows == run_query(target, legacy(name)).rows, name
    # co-tagged-classes: the first n of the ranking; with every pair listed, the old answer
    old = run_query(target, legacy("co-tagged-classes"))
    assert run_query(target, get_query("co-tagged-classes"), {"n": ALL}).rows == old.rows
    assert run_query(target, get_query("co-tagged-classes"), {"n": "5"}).rows == old.rows[:5]
    # polysemantic: one row per filter with the number of the pairs the old query listed
    pairs = Counter((layer, f) for layer, f, _, _ in run_query(target, legacy("polysemantic")).rows)
    new = run_query(target, get_query("polysemantic"), {"n": ALL}).rows
    assert {(layer, f): u for layer, f, _, u in new} == dict(pairs)
    assert [u for *_, u in new] == sorted(pairs.values(), reverse=True)


def test_rewritten_queries_answer_as_before_on_the_fixture(store) -> None:
    same_as_legacy(store)
    # and the counts are the fixture's: Trouser-Bag on conv1:3, Bag with 3 footwear on conv2:1
    assert run_query(store, get_query("polysemantic")).rows == (("conv2", 1, 4, 3), ("conv1", 3, 2, 1))
    n_pairs = len({p for fs in TAGGED.values() for cs in fs.values() for p in combinations(sorted(cs), 2)})
    assert len(run_query(store, get_query("co-tagged-classes"), {"n": ALL}).rows) == n_pairs


def test_unrelated_pairs_against_ancestor_sets(fm_links) -> None:
    """FilterCoarsening.unrelated_pairs (tensor form) against the pairwise set definition."""
    from kgfilters.queries.coarsen import DEFAULT_STOP

    up = class_ancestors(fm_links)
    result = coarsen_tags(fm_tagset(), fm_links)
    for f in result.filters:
        want = sum(1 for a, b in combinations(f.classes, 2)
                   if not (up[a] - DEFAULT_STOP) & (up[b] - DEFAULT_STOP))
        assert f.unrelated_pairs == want, (f.layer, f.filter)
    assert sum(f.unrelated_pairs for f in result.filters) == 4
    # a larger stop list makes more pairs unrelated: clothing and footwear no longer count
    wider = coarsen_tags(fm_tagset(), fm_links, stop={*DEFAULT_STOP, *(
        x for f in result.filters for c in f.concepts for x in [c.concept])})
    assert sum(f.unrelated_pairs for f in wider.filters) > 4


def test_first_page_streams(store) -> None:
    q = get_query("co-tagged-classes")
    full = run_query(store, q, {"n": ALL})
    page = run_query(store, q, {"n": ALL}, limit=3)
    assert page.columns == full.columns and page.rows == full.rows[:3]
    cols, rows = iter_query(store, q, {"n": ALL})
    assert cols == full.columns and next(rows) == full.rows[0]
    assert run_query(store, q, {"n": ALL}, limit=0).rows == ()


def test_ranked_pages(store) -> None:
    """coarse-concepts declares ``# page: rank``: its pages are ranges of kgf:coarseRank, and they
    put the whole answer back together in order."""
    q = get_query("coarse-concepts")
    assert q.page == "rank"
    full = run_query(store, q).rows
    assert len(full) == 11 and run_query(store, q, limit=4).rows == full[:4]
    pages = []
    for offset in range(0, len(full) + 4, 4):
        text = page_text(q, offset, 4)
        assert f"FILTER(?rank > {offset} && ?rank <= {offset + 4})" in text
        pages += run_query(store, replace(q, text=text)).rows
    assert tuple(pages) == full
    with pytest.raises(GraphError, match="declares no"):
        page_text(get_query("never-tagged"), 0, 10)


@pytest.mark.slow
def test_demo_run_rewritten_queries_and_shapes(tmp_path: Path, pipeline_run_template: Path) -> None:
    from kgfilters.ontology.build import build_graph
    from kgfilters.ontology.export import export_graph
    from kgfilters.ontology.store import open_store
    from kgfilters.ontology.validate import load_file, validate_graph
    from kgfilters.queries.stage import coarsen_run

    run = tmp_path / "demo-run"
    shutil.copytree(pipeline_run_template, run, ignore=shutil.ignore_patterns("model.safetensors", "figures"))
    coarsen_run(run)  # coarse.json with unrelated_pairs
    build_graph(run, stages=["tags", "coarsening"])
    target = open_store(run, read_only=True)
    try:
        same_as_legacy(target)
        scan = run_query(target, f"PREFIX kgf: <{KGF_IRI}>" + """
            SELECT ?layer (COUNT(?t) AS ?tags) (AVG(?s) AS ?mean) WHERE {
              ?t a kgf:Tag ; kgf:tagFilter ?f ; kgf:score ?s . ?f kgf:inLayer ?l .
              ?l kgf:layerName ?layer } GROUP BY ?layer ORDER BY ?layer""").rows
        aid = run_query(target, get_query("tags-per-layer")).rows
        assert [(r[0], r[3]) for r in aid] == [(r[0], r[1]) for r in scan] and len(scan) >= 1
        for got, want in zip(aid, scan, strict=True):
            assert got[4] == pytest.approx(want[2], rel=1e-12)
        assert run_query(target, get_query("co-tagged-classes"), {"n": ALL}).rows
    finally:
        del target
    report = validate_graph(load_file(export_graph(run, "ttl").path))
    assert report.conforms, report.violations[:3]
