"""Label normalisation (spaCy) and WordNet 3.0 linking: known answers on real labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sem_helpers import FM

from kgfilters.errors import ConfigError, DataError
from kgfilters.queries.labels import normalise_labels, split_synonyms
from kgfilters.queries.linking import imagenet_wnids, link_wordnet, load_mapping
from kgfilters.queries.wordnet import (
    SYNSET_PREFIX,
    corpus_dir,
    hypernym_closure,
    parse_synset_ref,
    synset_from_wnid,
    synset_iri,
)


def keys(label: str) -> list[tuple[str, str, str]]:
    return [(c.key, c.lemma, c.kind) for c in normalise_labels([label])[0].candidates]


def test_synonyms_split_on_slash_and_comma() -> None:
    assert split_synonyms("T-shirt/top") == ("T-shirt", "top")
    assert split_synonyms("academic gown, academic robe, judge's robe") == (
        "academic gown",
        "academic robe",
        "judge's robe",
    )
    assert split_synonyms("Bag, bag") == ("Bag",)


def test_candidates_known_answers() -> None:
    assert keys("T-shirt/top")[:2] == [("t_shirt", "t-shirt", "synonym"), ("top", "top", "synonym")]
    assert keys("Ankle boots") == [
        ("ankle_boots", "ankle_boots", "synonym"),
        ("ankle_boot", "ankle_boot", "lemma"),
        ("boot", "boot", "head"),
    ]
    assert keys("The Sneakers") == [
        ("sneakers", "sneakers", "synonym"),
        ("sneaker", "sneaker", "lemma"),
    ]
    assert keys("jack-o'-lantern")[0] == ("jack_o_lantern", "jack-o'-lantern", "synonym")
    assert keys("academic gown, academic robe, judge's robe")[0][0] == "academic_gown"


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_bad_label(bad: object) -> None:
    with pytest.raises(ConfigError, match="class label"):
        normalise_labels([bad])  # type: ignore[list-item]


def test_corpus_dir_is_built_once_with_lexnames(tmp_path: Path) -> None:
    d = corpus_dir(cache=tmp_path)
    assert d == tmp_path / "nltk_data" / "corpora" / "wordnet"
    lex = (d / "lexnames").read_text().splitlines()
    assert len(lex) == 45 and lex[3] == "03\tnoun.Tops\t1" and lex[44] == "44\tadj.ppl\t3"
    assert not any(p.is_symlink() for p in d.iterdir())
    mtime = (d / "data.noun").stat().st_mtime_ns
    assert corpus_dir(cache=tmp_path) == d and (d / "data.noun").stat().st_mtime_ns == mtime
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".wordnet.")]  # no leftovers


def test_corpus_dir_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing .*data.noun.*wordnet-base"):
        corpus_dir(tmp_path / "nowhere", cache=tmp_path / "c")
    assert not (tmp_path / "c" / "nltk_data" / "corpora" / "wordnet").exists()


def _ancestors(wn, iri: str) -> set[str]:
    s = parse_synset_ref(wn, iri)
    nodes, _ = hypernym_closure([s])
    return {n.name() for n in nodes}


def test_fashion_mnist_links(wn, fm_links) -> None:
    name = {lk.label: parse_synset_ref(wn, lk.concept).name() for lk in fm_links.links}
    assert name == {
        "T-shirt/top": "jersey.n.03",
        "Trouser": "trouser.n.01",
        "Pullover": "pullover.n.01",
        "Dress": "dress.n.01",
        "Coat": "coat.n.01",
        "Sandal": "sandal.n.01",
        "Shirt": "shirt.n.01",
        "Sneaker": "gym_shoe.n.01",
        "Bag": "bag.n.01",
        "Ankle boot": "boot.n.01",
    }
    footwear = [
        lk.concept for lk in fm_links.links if lk.label in ("Sandal", "Sneaker", "Ankle boot")
    ]
    garments = [
        lk.concept
        for lk in fm_links.links
        if lk.label in ("T-shirt/top", "Pullover", "Coat", "Shirt", "Dress")
    ]
    assert all("footwear.n.02" in _ancestors(wn, c) for c in footwear)
    assert all("clothing.n.01" in _ancestors(wn, c) for c in garments)
    assert not any("footwear.n.02" in _ancestors(wn, c) for c in garments)
    # the closure is in the links as skos:broader edges, child -> parent
    fw = synset_iri(wn.synset("footwear.n.02"))
    assert (synset_iri(wn.synset("shoe.n.01")), fw) in fm_links.broader
    assert (synset_iri(wn.synset("boot.n.01")), fw) in fm_links.broader


@pytest.mark.parametrize(
    ("wnid", "name", "ancestor"),
    [
        ("n02510455", "giant_panda.n.01", "mammal.n.01"),
        ("n01440764", "tench.n.01", "fish.n.01"),
        ("n02012849", "crane.n.05", "bird.n.01"),
        ("n03126707", "crane.n.04", "device.n.01"),
        ("n03617480", "kimono.n.01", "garment.n.01"),
    ],
)
def test_imagenet_wnids_resolve(wn, wnid: str, name: str, ancestor: str) -> None:
    s = synset_from_wnid(wn, wnid)
    assert s.name() == name
    assert synset_iri(s) == f"{SYNSET_PREFIX}{wnid[1:]}-n"
    assert ancestor in {n.name() for n in hypernym_closure([s])[0]}


def test_imagenet_class_list_links_through_wnids(wn) -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    names = list(_IMAGENET_CATEGORIES)
    wnids = imagenet_wnids(names)
    assert wnids[388] == "n02510455" and wnids[0] == "n01440764" and None not in wnids
    links = link_wordnet(names, wn=wn)
    assert len(links.links) == 1000 and {lk.source for lk in links.links} == {"wnid"}
    panda = links.links[388]
    assert panda.label == "giant panda" and panda.concept == f"{SYNSET_PREFIX}02510455-n"
    # the two ImageNet cranes stay apart (134: bird, 517: machine)
    assert links.links[134].concept != links.links[517].concept
    assert imagenet_wnids(["n02510455", "Sandal"]) == ("n02510455", None)


@pytest.mark.parametrize("bad", ["x02510455", "n0251045", "n99999999"])
def test_bad_wnid(wn, bad: str) -> None:
    with pytest.raises((ConfigError, DataError), match=bad):
        synset_from_wnid(wn, bad)


def test_mapping_overrides(tmp_path: Path, wn) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("label,concept\nBag,handbag.n.01\nCoat,http://example.org/my/coat\n")
    js = tmp_path / "m.json"
    js.write_text(json.dumps({"Bag": "n02774152"}))
    assert load_mapping(csv) == {"Bag": "handbag.n.01", "Coat": "http://example.org/my/coat"}
    links = link_wordnet(FM, mapping=load_mapping(csv), wn=wn)
    by = {lk.label: lk for lk in links.links}
    assert parse_synset_ref(wn, by["Bag"].concept).name() == "bag.n.04"  # handbag's synset
    assert by["Bag"].source == "mapping" and by["Coat"].concept == "http://example.org/my/coat"
    assert links.concept("http://example.org/my/coat").source == "mapping"
    assert by["Sandal"].source == "wordnet"
    assert link_wordnet(FM, mapping=load_mapping(js), wn=wn).links[8].concept.endswith("02774152-n")


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        ("{not json", ".json", "not valid JSON"),
        ("[1, 2]", ".json", "JSON object"),
        ("Bag\n", ".csv", "two columns"),
    ],
)
def test_bad_mapping(tmp_path: Path, content: str, suffix: str, match: str) -> None:
    p = tmp_path / f"m{suffix}"
    p.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_mapping(p)


def test_mapping_unknown_label_or_synset(wn) -> None:
    with pytest.raises(ConfigError, match="'Hat'"):
        link_wordnet(FM, mapping={"Hat": "hat.n.01"}, wn=wn)
    with pytest.raises(DataError, match=r"nosuch.n.01"):
        link_wordnet(FM, mapping={"Bag": "nosuch.n.01"}, wn=wn)
