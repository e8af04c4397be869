"""Small run directories for the graph tests, made by hand (no data set, no training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from kgfilters.filtag import save_tags, tag_layers

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SHA = "ab" * 32


def write_run(root: Path) -> Path:
    """A fsagn-mnist run (conv1: 32 filters, conv2: 64) with tags, hits, explanations, areas and an
    evaluation."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "created": "2026-11-22T04:04:00+00:00",
        "dataset": {"class_names": CLASSES, "kind": "idx", "root": "/data/fashion-mnist",
                    "sizes": {"heldout": 20, "tag": 80, "train": 600}, "split_seed": 0,
                    "tag_fraction": 0.8},
        "model": {"name": "fsagn-mnist", "num_classes": 10, "sha256": SHA, "test_accuracy": 0.9,
                  "weights": "model.safetensors"},
        "seed": 0,
        "stages": {
            "train": {"batch_size": 64, "device": "cpu", "epoch_losses": [0.4, 0.3], "epochs": 2,
                      "started": "2026-11-22T04:04:00+00:00",
                      "finished": "2026-11-22T04:07:06+00:00", "lr": 0.001, "test_accuracy": 0.9},
            "tag": {"method": "k-best", "k": 3, "started": "2026-11-22T04:08:00+00:00",
                    "finished": "2026-11-22T04:08:30+00:00", "note": None, "cuda": False},
        },
        "versions": {"kgfilters": "0.1.0", "python": "3.11.7", "torch": "2.14.1"},
    }
    (root / "run.json").write_text(json.dumps(config, indent=2))
    gen = torch.Generator().manual_seed(0)
    z = {"conv1": torch.rand(10, 32, generator=gen), "conv2": torch.rand(10, 64, generator=gen)}
    save_tags(tag_layers(z, CLASSES, method="k-best", param=3), root / "tags.json")
    hits = {
        "layers": ["conv1", "conv2"], "layer": "conv1,conv2", "top_fraction": 0.1, "accuracy": 0.9,
        "per_class_accuracy": [0.9, 0.95, 0.8, 0.85, 0.8, 0.97, 0.7, 0.95, 0.97, 0.96],
        "class_names": CLASSES,
        "grid": [
            {"method": "k-best", "param": 3, "n": n, "hits_true": 0.5 + 0.1 * n,
             "hits_predicted": 0.55 + 0.1 * n, "per_class_hits": [0.5] * 10,
             "correlation": 0.4 if n == 1 else None}
            for n in (1, 2, 3)
        ] + [{"method": "q-quantile", "param": 0.05, "n": 1, "hits_true": 0.4,
              "hits_predicted": 0.45, "per_class_hits": [0.4] * 10, "correlation": -0.2}],
    }
    (root / "hits.json").write_text(json.dumps(hits))
    (root / "explanations").mkdir(exist_ok=True)
    for index, (true, pred) in enumerate([(0, 0), (6, 2), (None, 9)]):
        expl = {
            "split": "heldout", "index": index, "true_class": true, "predicted": pred,
            "confidence": 0.8,
            "top_filters": [
                {"layer": "conv2", "filter": f, "activation": 0.9 - 0.1 * r, "tags": [pred, 3]}
                for r, f in enumerate((5, 17, 40))
            ],
            "ranking": [
                {"class_index": pred, "label": CLASSES[pred], "count": 3, "activation": 2.1},
                {"class_index": 3, "label": CLASSES[3], "count": 1, "activation": 0.7},
            ],
            "hits_true": None if true is None else {"1": true == pred, "2": True},
            "hits_predicted": {"1": True, "2": True},
            "extra_field": "ignored",
        }
        (root / "explanations" / f"heldout-{index}.json").write_text(json.dumps(expl))
    outside = {"split": None, "index": None, "path": "/tmp/cat.png", "predicted": 1,
               "confidence": 0.5, "top_filters": [], "ranking": [], "hits_true": None,
               "hits_predicted": {}}
    (root / "explanations" / "image-cat.json").write_text(json.dumps(outside))
    areas = [
        {"layer": layer, "filter": f, "strategy": strategy, "method": method, "split": "heldout",
         "image": img, "area_fraction": 0.25, "mask_file": f"masks/{layer}-{f}.npz",
         "mask_key": f"{strategy}/{method}/{img}",
         "metrics": {"fidelity": 0.8, "response_ratio": 1.3}}
        for layer, f in (("conv1", 3), ("conv2", 13))
        for strategy in ("reservation", "occlusion")
        for method in ("fsagn", "zeiler")
        for img in (0, 1)
    ]
    (root / "masks").mkdir(exist_ok=True)
    (root / "masks" / "metrics.json").write_text(json.dumps({"areas": areas, "summary": {}}))
    from kgfilters.evaluate.figure import Figure

    figures = [Figure("Hits@3", 0.75, (0.73, 0.77), {"random tags": 0.29, "random tags p95": 0.38}, 0.005,
                      "random tags", 0, "layer:conv2", "hits"),
               Figure("conformance: enrichment", 0.31, None, {"class shuffle": 0.03}, 0.008,
                      "class shuffle", 20, "tags", "conformance")]
    evaluation = {"run": str(root), "figures": [f.to_dict() for f in figures],
                  "hits": {"layer": "conv2", "n": 3, "observed": 0.75}}
    (root / "evaluation.json").write_text(json.dumps(evaluation))
    (root / "concepts.json").write_text(json.dumps(CONCEPTS))
    (root / "coarse.json").write_text(json.dumps(COARSE))
    return root


WN = "http://wordnet-rdf.princeton.edu/wn30/"
#: concepts.json as ``kgfilters link`` writes it: Sandal, Sneaker and Ankle boot are footwear.
CONCEPTS = {
    "class_names": CLASSES,
    "links": [{"class_index": c, "label": CLASSES[c], "concept": f"{WN}{n}-n", "source": "wordnet",
               "term": CLASSES[c].lower()} for c, n in ((5, "04133789"), (7, "04200000"), (9, "02854739"))],
    "concepts": [{"iri": f"{WN}{n}-n", "label": label, "notation": f"{label}.n.01", "source": "wordnet"}
                 for n, label in (("04133789", "sandal"), ("04200000", "shoe"), ("02854739", "boot"),
                                  ("03381126", "footwear"))],
    "broader": [[f"{WN}{n}-n", f"{WN}03381126-n"] for n in ("04133789", "04200000", "02854739")],
    "related": [{"subject": "http://conceptnet.io/c/en/sandal", "predicate":
                 "http://www.w3.org/2004/02/skos/core#closeMatch", "object": f"{WN}04133789-n"}],
}
#: coarse.json as ``kgfilters coarsen`` writes it: conv1:3 is tagged with the three footwear classes.
COARSE = {
    "share": 0.5, "stop": [], "multi_tag_filters": 1, "conforming_filters": 1, "conformance": 1.0,
    "filters": [{"layer": "conv1", "filter": 3, "classes": [5, 7, 9, 2],
                 "concepts": [{"concept": f"{WN}03381126-n", "label": "footwear", "support": 3,
                               "classes": [5, 7, 9]}]}],
    "clusters": {f"{WN}03381126-n": [["conv1", 3]]},
}


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixture run with its graph built once (tests must not write into it)."""
    from kgfilters.ontology.build import build_graph

    root = write_run(tmp_path_factory.mktemp("graph") / "fm")
    build_graph(root)
    return root


@pytest.fixture
def run_copy(built_run: Path, tmp_path: Path) -> Path:
    """A private copy of ``built_run`` that a test may change."""
    dest = tmp_path / "fm"
    shutil.copytree(built_run, dest)
    return dest
