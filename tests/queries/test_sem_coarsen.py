"""Coarsening: known answers on Fashion-MNIST tags, conformance, clusters, triples, and the
agreement of networkx with SPARQL (skos:broader+) on rdflib and on Oxigraph."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pytest
from rdflib import RDF, SKOS, Literal, URIRef
from sem_helpers import BASE, FM, coarsening_triples, concept_triples, dataset, fm_tagset, tags_graph, to_store

from kgfilters.errors import ConfigError
from kgfilters.filtag import Tag, TagSet
from kgfilters.queries._vocab import KGF, coarse_iri, filter_iri
from kgfilters.queries.catalog import get_query, run_query
from kgfilters.queries.coarsen import (
    DEFAULT_STOP,
    clusters,
    coarse_concepts,
    coarsen_tags,
    concept_graph,
)
from kgfilters.queries.linking import Concept, ConceptLinks, Link

pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")


def names(wn, concepts) -> dict[str, int]:
    from kgfilters.queries.wordnet import parse_synset_ref

    return {parse_synset_ref(wn, c.concept).name(): c.support for c in concepts}


@pytest.fixture(scope="module")
def result(fm_links):
    return coarsen_tags(fm_tagset(), fm_links)


def by_filter(result, layer: str, i: int):
    return next(f for f in result.filters if (f.layer, f.filter) == (layer, i))


def test_footwear_and_garment(wn, result) -> None:
    # Sandal, Sneaker, Ankle boot -> footwear (all 3); Sandal + Sneaker -> shoe
    assert names(wn, by_filter(result, "conv1", 0).concepts) == {"footwear.n.02": 3, "shoe.n.01": 2}
    # T-shirt/top, Pullover, Dress, Coat, Shirt -> clothing (5) and garment (4, not Dress)
    assert names(wn, by_filter(result, "conv1", 2).concepts) == {
        "clothing.n.01": 5,
        "garment.n.01": 4,
    }
    assert by_filter(result, "conv1", 2).concepts[0].classes == (0, 2, 3, 4, 6)


def test_rules_share_stop_and_single_tags(wn, result) -> None:
    # Trouser + Bag share only artifact (stop list): no coarse concept, a polysemantic filter
    assert by_filter(result, "conv1", 3).concepts == ()
    # one tag: nothing is shared
    assert by_filter(result, "conv1", 4).concepts == ()
    # Dress, Sandal, Sneaker: covering covers all 3, footwear/shoe 2 >= ceil(0.5 * 3)
    assert names(wn, by_filter(result, "conv1", 5).concepts) == {"covering.n.02": 3, "shoe.n.01": 2}
    # Sandal, Sneaker, Ankle boot, Bag: footwear 3/4; nothing informative covers all four
    assert names(wn, by_filter(result, "conv2", 1).concepts) == {"footwear.n.02": 3, "shoe.n.01": 2}
    assert all(c.concept not in DEFAULT_STOP for f in result.filters for c in f.concepts)


def test_share_changes_the_answer(wn, fm_links) -> None:
    strict = coarsen_tags(fm_tagset(), fm_links, share=1.0)
    assert names(wn, by_filter(strict, "conv1", 2).concepts) == {"clothing.n.01": 5}
    assert names(wn, by_filter(strict, "conv2", 1).concepts) == {}
    with pytest.raises(ConfigError, match="share=0"):
        coarsen_tags(fm_tagset(), fm_links, share=0)


def test_conformance_and_clusters(wn, result) -> None:
    multi = [f for f in result.filters if len(f.classes) >= 2]
    assert result.multi_tag == len(multi) == 7
    # all but conv1:3 (Trouser, Bag); conv2:0 (T-shirt/top, Shirt) shares shirt.n.01
    assert result.conforming == 6 and result.conformance == pytest.approx(6 / 7)
    assert names(wn, by_filter(result, "conv2", 0).concepts) == {"shirt.n.01": 2}
    cl = clusters(result)
    shoe = next(k for k in cl if k.endswith("04199027-n"))  # shoe.n.01
    assert set(cl[shoe]) == {("conv1", 0), ("conv1", 5), ("conv2", 1)}
    empty = coarsen_tags(
        TagSet("k-best", 1.0, FM, {"c": 2}, (Tag("c", 0, 5, "Sandal", 0.5, 1, "k-best", 1.0),)),
        result_links(wn),
    )
    assert empty.multi_tag == 0 and math.isnan(empty.conformance)


def result_links(wn):
    from kgfilters.queries.linking import link_wordnet

    return link_wordnet(FM, wn=wn)


def test_hand_made_dag_and_cycles() -> None:
    # a -> x -> top, b -> x, c -> y -> top ; cycle p <-> q above c
    links = ConceptLinks(
        ("A", "B", "C"),
        (Link(0, "A", "a", "t", "a"), Link(1, "B", "b", "t", "b"), Link(2, "C", "c", "t", "c")),
        tuple(Concept(n, n, n, "t") for n in "abcxytpq"),
        (
            ("a", "x"),
            ("b", "x"),
            ("x", "t"),
            ("c", "y"),
            ("y", "t"),
            ("c", "p"),
            ("p", "q"),
            ("q", "p"),
        ),
    )
    g = concept_graph(links)
    assert isinstance(g, nx.DiGraph) and g.has_edge("a", "x")
    from kgfilters.queries.coarsen import _up_sets

    up = _up_sets(g, links)
    assert up[2] == frozenset("cytpq")
    got = coarse_concepts((0, 1, 2), up, g, share=0.5, stop=frozenset())
    assert [(c.concept, c.support, c.classes) for c in got] == [
        ("t", 3, (0, 1, 2)),
        ("x", 2, (0, 1)),
    ]
    assert coarse_concepts((0, 1, 2), up, g, share=0.5, stop=frozenset({"t"}))[0].concept == "x"
    assert coarse_concepts((2,), up, g) == ()


def test_mismatched_classes(fm_links) -> None:
    other = TagSet("k-best", 1.0, ("a", "b"), {"c": 1}, ())
    with pytest.raises(ConfigError, match="re-run `kgfilters link`"):
        coarsen_tags(other, fm_links)


def node_name_ok(iri: str) -> bool:
    return iri.endswith("03380867-n")  # footwear.n.02


def test_triples(result, fm_links) -> None:
    ct = concept_triples(fm_links, BASE)
    sandal = next(lk for lk in fm_links.links if lk.label == "Sandal")
    assert (URIRef(f"{BASE}class/5"), KGF.denotes, URIRef(sandal.concept)) in ct
    assert (URIRef(sandal.concept), RDF.type, SKOS.Concept) in ct
    assert (URIRef(sandal.concept), SKOS.prefLabel, Literal("sandal", lang="en")) in ct
    assert sum(1 for t in ct if t[1] == SKOS.broader) == len(fm_links.broader)
    tt = coarsening_triples(result, BASE)
    f0 = filter_iri(BASE, "conv1", 0)
    footwear = next(c.concept for c in by_filter(result, "conv1", 0).concepts if c.support == 3)
    assert node_name_ok(footwear)
    assert f0 == URIRef(f"{BASE}layer/conv1/filter/0")
    node = coarse_iri(BASE, "conv1", 0, footwear)
    assert node == URIRef(
        f"{BASE}coarse/conv1/0/http%3A%2F%2Fwordnet-rdf.princeton.edu%2Fwn30%2F03380867-n"
    )
    assert (f0, KGF.hasCoarseConcept, node) in tt and (node, RDF.type, KGF.CoarseConcept) in tt
    count = [t[2] for t in tt if t[0] == node and t[1] == KGF.supportCount]
    assert [int(s) for s in count] == [3]
    share = [t[2] for t in tt if t[0] == node and t[1] == KGF.support]
    n_tags = len(by_filter(result, "conv1", 0).classes)
    assert [float(s) for s in share] == [3 / n_tags] and 0 < 3 / n_tags <= 1
    assert len([t for t in tt if t[1] == KGF.coarseConcept]) == sum(
        len(f.concepts) for f in result.filters
    )
    assert concept_triples(fm_links, BASE) == ct  # deterministic


#: The SPARQL twin of coarsen.py from the tags and the hierarchy alone (the catalog's
#: coarse-concepts.rq now reads the emitted coarse concepts instead).
LEGACY_COARSE = str(Path(__file__).resolve().parent / "legacy" / "coarse-concepts.rq")


def _sparql_coarse(target, **params: str) -> set[tuple[str, int, str, int]]:
    res = run_query(target, get_query(LEGACY_COARSE), params or {"share": "0.5"})
    return {(r[0], r[1], r[2], r[3]) for r in res.rows}


def _nx_coarse(result) -> set[tuple[str, int, str, int]]:
    return {(f.layer, f.filter, c.concept, c.support) for f in result.filters for c in f.concepts}


def test_networkx_and_sparql_agree(result, fm_links) -> None:
    ds = dataset({"tags": tags_graph(fm_tagset()), "concepts": concept_triples(fm_links, BASE)})
    expected = _nx_coarse(result)
    assert len(expected) == 11
    assert _sparql_coarse(ds) == expected
    store = to_store(ds)
    assert _sparql_coarse(store) == expected


def test_networkx_and_sparql_agree_on_random_dags() -> None:
    import random

    rng = random.Random(7)
    for trial in range(4):
        nodes = [f"http://ex.org/c{i}" for i in range(25)]
        edges = {
            (nodes[i], nodes[j]) for i in range(1, 25) for j in rng.sample(range(i), min(i, 2))
        }
        classes = tuple(f"k{i}" for i in range(8))
        links = ConceptLinks(
            classes,
            tuple(Link(i, c, rng.choice(nodes[10:]), "t", c) for i, c in enumerate(classes)),
            tuple(Concept(n, n, n, "t") for n in nodes),
            tuple(sorted(edges)),
        )
        tags = tuple(
            Tag("L", f, c, classes[c], 0.5, 1, "k-best", 1.0)
            for f in range(12)
            for c in rng.sample(range(8), rng.randint(1, 5))
        )
        ts = TagSet("k-best", 1.0, classes, {"L": 12}, tags)
        stop = frozenset({nodes[0]})
        res = coarsen_tags(ts, links, share=0.4, stop=stop)
        ds = dataset({"tags": tags_graph(ts), "concepts": concept_triples(links, BASE)})
        got = run_query(ds, get_query(LEGACY_COARSE), {"share": "0.4", "stop": nodes[0]})
        assert {tuple(r) for r in got.rows} == _nx_coarse(res), trial
        assert _sparql_coarse(to_store(ds), share="0.4", stop=nodes[0]) == _nx_coarse(res), trial
        # the catalog query reads the emitted coarsening: the same answer, at that share and at
        # a larger one (rule 3 does not depend on the share)
        full = to_store(dataset({"tags": tags_graph(ts), "concepts": concept_triples(links, BASE),
                                 "coarsening": coarsening_triples(res, BASE)}))
        for share in ("0.4", "0.6"):
            want = _nx_coarse(coarsen_tags(ts, links, share=float(share), stop=stop))
            got = run_query(full, get_query("coarse-concepts"), {"share": share, "stop": nodes[0]})
            assert {tuple(r) for r in got.rows} == want, (trial, share)
