"""Every catalog query on a small fixture graph, on rdflib and on Oxigraph; parameters as terms."""

from __future__ import annotations

import json
from itertools import combinations

import pytest
from rdflib import RDF, SKOS, XSD, Literal, URIRef
from sem_helpers import BASE, FM, TAGGED, coarsening_triples, concept_triples, dataset, fm_tagset, tags_graph, to_store

from kgfilters.errors import ConfigError, GraphError
from kgfilters.queries._vocab import KGF, class_iri, filter_iri
from kgfilters.queries.catalog import (
    CatalogQuery,
    Param,
    bind_params,
    catalog,
    format_result,
    get_query,
    parse_query_file,
    run_query,
    with_values,
)
from kgfilters.queries.coarsen import coarsen_tags

pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")
WEIRD = 'judge\'s "robe" {x} } UNION { ?s ?p ?o } #'


def extras() -> list[tuple]:
    """Sensitive areas, an explanation (the graph part's terms), and an 11th class with a hostile
    label that tags conv2:3."""
    f0, f1 = filter_iri(BASE, "conv2", 0), filter_iri(BASE, "conv2", 1)
    out: list[tuple] = []
    areas = [(f0, KGF.Reservation, 0.25), (f0, KGF.Occlusion, 0.1), (f1, KGF.Reservation, 0.5)]
    for n, (f, strategy, area) in enumerate(areas):
        a = URIRef(f"{BASE}area/{n}")
        out += [
            (a, RDF.type, KGF.SensitiveArea),
            (a, KGF.areaFilter, f),
            (a, KGF.strategy, strategy),
            (a, KGF.method, Literal("fsagn")),
            (a, KGF["split"], Literal("heldout")),
            (a, KGF.imageIndex, Literal(1, datatype=XSD.integer)),
            (a, KGF.areaFraction, Literal(area, datatype=XSD.double)),
            (a, KGF.maskFile, Literal(f"masks/{n}.npz")),
        ]
    e = URIRef(f"{BASE}explanation/heldout/1")
    node = URIRef(f"{e}/filter/1")
    out += [
        (e, RDF.type, KGF.Explanation),
        (e, KGF["split"], Literal("heldout")),
        (e, KGF.imageIndex, Literal(1, datatype=XSD.integer)),
        (e, KGF.predictedClass, class_iri(BASE, 6)),
        (e, KGF.trueClass, class_iri(BASE, 0)),
        (e, KGF.confidence, Literal(0.7, datatype=XSD.double)),
        (e, KGF.hasTopFilter, node),
        (node, KGF.rank, Literal(1, datatype=XSD.integer)),
        (node, KGF.activeFilter, f0),
        (node, KGF.activation, Literal(0.9, datatype=XSD.double)),
        (node, KGF.votesFor, class_iri(BASE, 0)),
        (node, KGF.votesFor, class_iri(BASE, 6)),
    ]
    w, f3 = class_iri(BASE, 10), filter_iri(BASE, "conv2", 3)
    t = URIRef(f"{f3}/tag/10")
    out += [
        (w, RDF.type, KGF.ClassLabel),
        (w, SKOS.prefLabel, Literal(WEIRD, lang="en")),
        (f3, KGF.taggedWith, w),
        (t, RDF.type, KGF.Tag),
        (t, KGF.tagFilter, f3),
        (t, KGF.tagClass, w),
        (t, KGF.score, Literal(0.9, datatype=XSD.double)),
        (t, KGF.rank, Literal(1, datatype=XSD.integer)),
        (t, KGF.method, Literal("k-best")),
    ]
    return out


@pytest.fixture(scope="module")
def graphs(fm_links):
    tags = fm_tagset()
    ds = dataset(
        {
            "tags": tags_graph(tags) + extras(),
            "concepts": concept_triples(fm_links, BASE),
            "coarsening": coarsening_triples(coarsen_tags(tags, fm_links), BASE),
        }
    )
    return ds, to_store(ds)


def run_both(graphs, name: str, **params: str) -> list[tuple]:
    ds, store = graphs
    a = run_query(ds, get_query(name), params)
    b = run_query(store, get_query(name), params)
    assert a.columns == b.columns
    assert a.rows == b.rows, name  # same rows in the same order on rdflib and Oxigraph
    return list(a.rows)


def test_catalog_has_every_query_with_a_question() -> None:
    q = catalog()
    assert set(q) == {
        "filters-tagged-with",
        "tags-of-filter",
        "co-tagged-classes",
        "filters-under-concept",
        "top-filters",
        "never-tagged",
        "polysemantic",
        "sensitive-areas",
        "explanation",
        "coarse-concepts",
        "co-tagged-with",
        "tags-per-layer",
        "generic-filters",
    }
    assert all(x.question.endswith("?") for x in q.values())


def test_filters_tagged_with(graphs) -> None:
    assert run_both(graphs, "filters-tagged-with", label="Sandal") == [
        ("conv1", 0, 0.5, 1),
        ("conv1", 4, 0.54, 1),
        ("conv1", 5, 0.55, 2),
        ("conv2", 1, 0.51, 1),
    ]
    assert run_both(graphs, "filters-tagged-with", label="Hat") == []


def test_tags_of_filter(graphs) -> None:
    rows = run_both(graphs, "tags-of-filter", layer="conv1", filter="2")
    assert [r[0] for r in rows] == ["Coat", "Dress", "Pullover", "Shirt", "T-shirt/top"]
    assert {r[2] for r in rows} == {1, 2, 3, 4, 5} and {r[3] for r in rows} == {"k-best"}
    assert run_both(graphs, "tags-of-filter", layer="conv1", filter="1") == []


def test_co_tagged_classes(graphs) -> None:
    pairs: dict[tuple[str, str], int] = {}
    for filters in TAGGED.values():
        for classes in filters.values():
            for a, b in combinations(sorted(classes, key=lambda c: str(class_iri(BASE, c))), 2):
                pairs[(FM[a], FM[b])] = pairs.get((FM[a], FM[b]), 0) + 1
    assert len(run_both(graphs, "co-tagged-classes", n="3")) == 3
    rows = run_both(graphs, "co-tagged-classes", min="2")
    assert {(a, b): n for a, b, n in rows} == {k: v for k, v in pairs.items() if v >= 2}
    assert rows[0][2] == max(pairs.values()) == 3  # Sandal and Sneaker share 3 filters
    # every pair of the 10 classes is listed (each class has at most 10 partners); the hostile
    # class's tag (added beside tags.json's) is not counted by the aids
    assert len(run_both(graphs, "co-tagged-classes")) == len(pairs)


def test_co_tagged_with(graphs) -> None:
    want: dict[str, int] = {}
    for filters in TAGGED.values():
        for classes in filters.values():
            if 7 in classes:  # Sneaker
                for c in classes:
                    if c != 7:
                        want[FM[c]] = want.get(FM[c], 0) + 1
    rows = run_both(graphs, "co-tagged-with", label="Sneaker")
    assert dict(rows) == want and rows[0] == ("Sandal", 3)
    assert [r[1] for r in rows] == sorted(want.values(), reverse=True)
    assert run_both(graphs, "co-tagged-with", label="Sneaker", min="3") == [("Sandal", 3)]
    assert run_both(graphs, "co-tagged-with", label="Hat") == []


def test_tags_per_layer_and_generic(graphs) -> None:
    tags = fm_tagset()
    rows = run_both(graphs, "tags-per-layer")
    assert [r[:4] for r in rows] == [("conv1", 0, 6, 14), ("conv2", 1, 4, 10)]
    for layer, _, _, n, mean, generic in rows:
        scores = [t.score for t in tags.tags if t.layer == layer]
        assert n == len(scores) and mean == pytest.approx(sum(scores) / len(scores), abs=1e-12)
        assert generic == 0  # no filter is tagged by 8 of the 10 classes
    assert run_both(graphs, "generic-filters") == []


def test_filters_under_concept(graphs) -> None:
    rows = run_both(graphs, "filters-under-concept", concept="footwear")
    assert rows == [
        ("conv1", 0, "footwear", 3),
        ("conv1", 0, "shoe", 2),
        ("conv1", 5, "shoe", 2),
        ("conv2", 1, "footwear", 3),
        ("conv2", 1, "shoe", 2),
    ]
    assert run_both(graphs, "filters-under-concept", concept="footwear.n.02") == rows
    garments = run_both(graphs, "filters-under-concept", concept="clothing")
    assert {(r[0], r[1]) for r in garments} == {
        ("conv1", 2),
        ("conv2", 0),
        ("conv2", 3),
    }  # shirt too


def test_top_filters(graphs) -> None:
    assert run_both(graphs, "top-filters", label="Sneaker", n="1") == []
    assert run_both(graphs, "top-filters", label="Sneaker", n="2") == [
        ("conv1", 2, 0, 0.5),
        ("conv2", 2, 1, 0.51),
    ]
    assert len(run_both(graphs, "top-filters", label="Sneaker")) == 3  # default n = 3


def test_never_tagged(graphs) -> None:
    assert run_both(graphs, "never-tagged") == [("conv1", 1), ("conv2", 2)]
    assert run_both(graphs, "never-tagged", only="conv2") == [("conv2", 2)]


def test_polysemantic(graphs) -> None:
    # the pairs sharing no informative concept: Trouser-Bag on conv1:3; Bag with each of
    # Sandal, Sneaker and Ankle boot on conv2:1 (the old query listed these four pairs)
    assert run_both(graphs, "polysemantic") == [("conv2", 1, 4, 3), ("conv1", 3, 2, 1)]
    assert run_both(graphs, "polysemantic", min="2") == [("conv2", 1, 4, 3)]
    assert run_both(graphs, "polysemantic", n="1") == [("conv2", 1, 4, 3)]


def test_sensitive_areas_and_explanation(graphs) -> None:
    assert run_both(graphs, "sensitive-areas", layer="conv2", filter="0") == [
        ("Occlusion", "fsagn", "heldout", 1, 0.1, "masks/1.npz"),
        ("Reservation", "fsagn", "heldout", 1, 0.25, "masks/0.npz"),
    ]
    assert run_both(graphs, "sensitive-areas", layer="conv1", filter="0") == []
    rows = run_both(graphs, "explanation", split="heldout", index="1")
    assert rows == [
        ("Shirt", "T-shirt/top", 0.7, 1, "conv2", 0, 0.9, "Shirt"),
        ("Shirt", "T-shirt/top", 0.7, 1, "conv2", 0, 0.9, "T-shirt/top"),
    ]
    assert run_both(graphs, "explanation", split="heldout", index="2") == []
    assert run_both(graphs, "explanation", split="train", index="1") == []


def test_coarse_concepts_query_matches_emitted(graphs, fm_links) -> None:
    result = coarsen_tags(fm_tagset(), fm_links)
    want = {(f.layer, f.filter, c.concept, c.support) for f in result.filters for c in f.concepts}
    assert set(run_both(graphs, "coarse-concepts")) == want


def test_hostile_values_are_literals(graphs) -> None:
    # the hostile label finds exactly its own class, and nothing else leaks in
    assert run_both(graphs, "filters-tagged-with", label=WEIRD) == [("conv2", 3, 0.9, 1)]
    for hostile in ['Sandal" || true || "', "Sandal} UNION {?f ?p ?o}", "?label", "Sandal\\"]:
        assert run_both(graphs, "filters-tagged-with", label=hostile) == []
    assert run_both(graphs, "never-tagged", only='*" || "1" = "1') == []
    assert run_both(graphs, "explanation", split='heldout" } UNION { ?e ?p ?o', index="1") == []
    with pytest.raises(ConfigError, match="expected a value of type integer"):
        run_both(graphs, "explanation", split="heldout", index="1 } UNION {")
    iri = Param("x", "iri", None, "")
    for bad in ["http://x.org/a> } UNION { ?s ?p ?o", "not an iri", "http://x.org/{x}"]:
        with pytest.raises(ConfigError, match="expected a value of type iri"):
            bind_params(CatalogQuery("q", "", (iri,), ""), {"x": bad})
    text = with_values(get_query("filters-tagged-with").text, {"label": Literal(WEIRD)})
    assert text.count("VALUES") == 1 and r"\"robe\"" in text


def test_bad_parameters() -> None:
    q = get_query("tags-of-filter")
    with pytest.raises(ConfigError, match=r"filter.*is required"):
        bind_params(q, {"layer": "conv1"})
    with pytest.raises(ConfigError, match=r"unknown parameter.*nope"):
        bind_params(q, {"layer": "conv1", "filter": "1", "nope": "x"})
    with pytest.raises(ConfigError, match=r"filter='one'.*integer"):
        bind_params(q, {"layer": "conv1", "filter": "one"})
    with pytest.raises(ConfigError, match=r"share='nan'.*double"):
        bind_params(get_query("coarse-concepts"), {"share": "nan"})
    with pytest.raises(ConfigError, match="not in the catalog"):
        get_query("no-such-query")


def test_query_files_and_errors(tmp_path, graphs) -> None:
    good = tmp_path / "count.rq"
    good.write_text(
        "# question: How many filters?\n"
        f"# param: kind iri = {KGF.Filter}  the class\n"
        "SELECT (COUNT(?f) AS ?n) WHERE { ?f a ?kind }\n"
    )
    q = get_query(str(good))
    assert q.name == "count" and q.params[0].type == "iri"
    assert run_query(graphs[0], q).rows == ((10,),) == run_query(graphs[1], q).rows
    bad = tmp_path / "bad.rq"
    bad.write_text("# param: x notatype\nSELECT * WHERE { ?s ?p ?o }\n")
    with pytest.raises(GraphError, match=r"bad.rq:1: bad parameter line"):
        parse_query_file(bad)
    broken = tmp_path / "broken.rq"
    broken.write_text("SELECT * WHERE { ?s ?p \n")
    with pytest.raises(GraphError, match="query broken"):
        run_query(graphs[0], get_query(str(broken)))
    with pytest.raises(GraphError, match="query broken"):
        run_query(graphs[1], get_query(str(broken)))
    with pytest.raises(ConfigError, match="no such file"):
        get_query(str(tmp_path / "missing.rq"))


def test_formats(graphs) -> None:
    res = run_query(graphs[0], get_query("never-tagged"))
    assert json.loads(format_result(res, "json")) == [
        {"layer": "conv1", "filter": 1},
        {"layer": "conv2", "filter": 2},
    ]
    assert format_result(res, "csv") == "layer,filter\nconv1,1\nconv2,2"
    table = format_result(res, "table").splitlines()
    assert table[0].split() == ["layer", "filter"] and table[-1] == "(2 rows)"
    with pytest.raises(ConfigError, match="--format 'xml'"):
        format_result(res, "xml")
