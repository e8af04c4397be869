"""Helpers of the semantics tests: Fashion-MNIST tags, a tiny run, and a small RDF graph built
with the documented IRIs (a stand-in for the graph part's emission)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rdflib import RDF, SKOS, XSD, Dataset, Literal, URIRef

from kgfilters.filtag import Tag, TagSet, save_tags
from kgfilters.queries._vocab import KGF, class_iri, filter_iri, graph_iri, layer_iri

FM = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
BASE = "https://example.org/run/fm/"
# layer -> {filter: tag class indices}; conv1:1 and conv2:2 stay untagged.
TAGGED = {
    "conv1": {0: (5, 7, 9), 2: (0, 2, 3, 4, 6), 3: (1, 8), 4: (5,), 5: (3, 5, 7)},
    "conv2": {0: (0, 6), 1: (5, 7, 9, 8), 3: (1, 2, 3, 4)},
}
SIZES = {"conv1": 6, "conv2": 4}


def fm_tagset() -> TagSet:
    tags = []
    for layer, filters in TAGGED.items():
        for f, classes in filters.items():
            for rank, c in enumerate(classes, 1):
                tags.append(Tag(layer, f, c, FM[c], 0.5 + 0.01 * f, rank, "k-best", 2.0))
    return TagSet("k-best", 2.0, FM, dict(SIZES), tuple(tags))


def tags_graph(tags: TagSet, base: str = BASE) -> list[tuple]:
    """The triples the graph part emits for layers, filters, class labels and tags."""
    out: list[tuple] = []
    for c, name in enumerate(tags.class_names):
        ci = class_iri(base, c)
        out += [
            (ci, RDF.type, KGF.ClassLabel),
            (ci, SKOS.prefLabel, Literal(name, lang="en")),
            (ci, SKOS.notation, Literal(str(c))),
        ]
    for order, (layer, n) in enumerate(tags.layer_sizes.items()):
        li = layer_iri(base, layer)
        out += [(li, RDF.type, KGF.Layer), (li, KGF.layerName, Literal(layer)),
                (li, KGF.layerOrder, Literal(order, datatype=XSD.integer)),
                (li, KGF.filterCount, Literal(n, datatype=XSD.integer))]
        for i in range(n):
            fi = filter_iri(base, layer, i)
            out += [
                (fi, RDF.type, KGF.Filter),
                (fi, KGF.inLayer, li),
                (fi, KGF.channelIndex, Literal(i, datatype=XSD.integer)),
            ]
    for t in tags.tags:
        fi, ci = filter_iri(base, t.layer, t.filter), class_iri(base, t.class_index)
        ti = URIRef(f"{fi}/tag/{t.class_index}")
        out += [
            (fi, KGF.taggedWith, ci),
            (ti, RDF.type, KGF.Tag),
            (ti, KGF.tagFilter, fi),
            (ti, KGF.tagClass, ci),
            (ti, KGF.score, Literal(t.score, datatype=XSD.double)),
            (ti, KGF.rank, Literal(t.rank, datatype=XSD.integer)),
            (ti, KGF.method, Literal(t.method)),
            (ti, KGF.k, Literal(2, datatype=XSD.integer)),
        ]
    from kgfilters.ontology.aids import tag_aids
    from kgfilters.ontology.iris import Iris

    return out + list(tag_aids(Iris(base), tags))  # the query aids the tags graph carries


def dataset(stages: dict[str, list[tuple]], base: str = BASE) -> Dataset:
    ds = Dataset(default_union=True)
    for stage, triples in stages.items():
        g = ds.graph(graph_iri(base, stage))
        for t in triples:
            g.add(t)
    return ds


def concept_triples(links, base: str = BASE) -> list[tuple]:
    """The ``concepts`` graph the graph part emits for ``links``, through the file contract:
    concepts.json as ``kgfilters link`` writes it, read by the real emitter."""
    from kgfilters.ontology.emit import concept_triples as emit_concepts
    from kgfilters.ontology.iris import Iris
    from kgfilters.queries.linking import save_concepts

    with tempfile.TemporaryDirectory() as d:
        obj = json.loads(save_concepts(links, Path(d) / "concepts.json").read_text())
    return list(emit_concepts(Iris(base), obj))


def coarsening_triples(coarsening, base: str = BASE) -> list[tuple]:
    """The ``coarsening`` graph the graph part emits, through coarse.json and the real emitter."""
    from kgfilters.ontology.aids import coarsening_aids
    from kgfilters.ontology.emit import coarsening_triples as emit_coarse
    from kgfilters.ontology.iris import Iris
    from kgfilters.queries.coarsen import save_coarsening

    with tempfile.TemporaryDirectory() as d:
        obj = json.loads(save_coarsening(coarsening, Path(d) / "coarse.json").read_text())
    return list(emit_coarse(Iris(base), obj)) + list(coarsening_aids(Iris(base), obj))


def make_run(root: Path, names=FM, tags: TagSet | None = None) -> Path:
    """A run directory with just what linking and coarsening read (run.json, tags.json)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").write_text(
        json.dumps(
            {
                "dataset": {"class_names": list(names)},
                "model": {"name": "fsagn-mnist", "num_classes": len(names)},
                "stages": {},
            }
        )
    )
    if tags is not None:
        save_tags(tags, root / "tags.json")
    return root


def to_store(ds: Dataset):
    """The same quads in an in-memory Oxigraph store."""
    import pyoxigraph as ox

    def conv(x):
        if isinstance(x, URIRef):
            return ox.NamedNode(str(x))
        if x.language:
            return ox.Literal(str(x), language=x.language)
        return ox.Literal(str(x), datatype=ox.NamedNode(str(x.datatype or XSD.string)))

    store = ox.Store()
    for s, p, o, g in ds.quads():
        store.add(
            ox.Quad(conv(s), conv(p), conv(o), ox.NamedNode(str(getattr(g, "identifier", g))))
        )
    return store
