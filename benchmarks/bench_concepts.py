"""Benchmark of the semantics part; prints one JSON line of measured figures.

- WordNet: seconds to load WordNet 3.0 (nltk, corpus directory already built), to link the 1,000
  ImageNet-1k classes through their wnids (with the hypernym closure), and to link the same
  1,000 class names through spaCy normalisation and lemma lookup, with the share of classes whose
  name-based synset is the wnid's synset (a quality figure of the label path).
- Coarsening: seconds to coarsen a VGG16-sized tag set (13 conv layers, 4,224 filters, 1,000
  classes, 5 tags per class and layer = 65,000 synthetic tags drawn at random, seed 0) through
  the ImageNet WordNet links, and the coarse-concept count and conformance of that synthetic set.

Run: ``.venv/bin/python benchmarks/bench_concepts.py``
"""

from __future__ import annotations

import json
import os
import platform
import random
import time


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def main() -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from kgfilters.filtag import Tag, TagSet
    from kgfilters.queries.coarsen import coarsen_tags
    from kgfilters.queries.labels import load_nlp
    from kgfilters.queries.linking import imagenet_wnids, link_wordnet
    from kgfilters.queries.wordnet import corpus_dir, load_wordnet

    corpus_dir()
    t = time.perf_counter()
    wn = load_wordnet()
    wordnet_load_s = time.perf_counter() - t
    names = list(_IMAGENET_CATEGORIES)

    t = time.perf_counter()
    links = link_wordnet(names, wn=wn)
    link_wnid_s = time.perf_counter() - t

    nlp = load_nlp()
    # the label path: the same names, but not recognised as the ImageNet list
    shuffled = [*names[1:], names[0]]
    t = time.perf_counter()
    by_name = link_wordnet(shuffled, wn=wn, nlp=nlp)
    link_names_s = time.perf_counter() - t
    assert imagenet_wnids(shuffled)[0] is None
    wnid_concept = {lk.label: lk.concept for lk in links.links}
    agree = sum(1 for lk in by_name.links if wnid_concept.get(lk.label) == lk.concept)

    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    rng = random.Random(0)
    tags = []
    for n, width in enumerate(widths):
        layer = f"features.{n}"
        for c in range(1000):
            for rank, f in enumerate(rng.sample(range(width), 5), 1):
                tags.append(Tag(layer, f, c, names[c], 0.5, rank, "k-best", 5.0))
    tagset = TagSet(
        "k-best", 5.0, tuple(names), {f"features.{n}": w for n, w in enumerate(widths)}, tuple(tags)
    )
    t = time.perf_counter()
    result = coarsen_tags(tagset, links)
    coarsen_s = time.perf_counter() - t

    print(
        json.dumps(
            {
                "benchmark": "concepts",
                "wordnet_load_s": round(wordnet_load_s, 3),
                "link_imagenet_wnid_s": round(link_wnid_s, 3),
                "imagenet_concepts": len(links.concepts),
                "imagenet_broader_edges": len(links.broader),
                "link_imagenet_names_s": round(link_names_s, 3),
                "names_linked": len(by_name.links),
                "names_agree_with_wnid": round(agree / 1000, 4),
                "coarsen_vgg16_s": round(coarsen_s, 3),
                "vgg16_filters": sum(widths),
                "vgg16_tags": len(tags),
                "vgg16_tagged_filters": len(result.filters),
                "vgg16_coarse_concepts": sum(len(f.concepts) for f in result.filters),
                "vgg16_synthetic_conformance": round(result.conformance, 4),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
