"""Shared fixtures: tiny, hand-made data sets written in the real formats, a quickly trained run
and a run through every stage.

Nothing is downloaded: IDX files are written by ``write_idx`` and read by the real loader; the
concept links come from the local WordNet 3.0 (``make data`` installs Debian's ``wordnet-base``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

CLASSES = 10


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """Write a uint8 array as an IDX file (magic 0x08, big-endian sizes), optionally gzipped."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def synthetic_images(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images 28x28 where class c shows a bright 8x8 square at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = 2 + (c // 5) * 14, 1 + (c % 5) * 5
        images[i, r : r + 8, col : col + 8] = 220
    return images, labels.astype(np.uint8)


def make_idx_root(root: Path, *, n_train: int = 600, n_test: int = 300, gz: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for part, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = synthetic_images(n, seed=seed)
        write_idx(root / f"{part}-images-idx3-ubyte", images, gz=gz)
        write_idx(root / f"{part}-labels-idx1-ubyte", labels, gz=gz)
    return root


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_idx_root(tmp_path_factory.mktemp("idx"))


@pytest.fixture(scope="session")
def trained_run_template(tmp_path_factory: pytest.TempPathFactory, idx_root: Path) -> Path:
    """A run directory with the small network trained for 2 epochs on the synthetic data."""
    from kgfilters.pipeline import create_run, train_run

    root = tmp_path_factory.mktemp("runs") / "tiny"
    create_run(root, data_root=idx_root, seed=0)
    train_run(root, device=torch.device("cpu"), epochs=2, batch_size=32, progress=False)
    return root


@pytest.fixture()
def trained_run(tmp_path: Path, trained_run_template: Path) -> Path:
    """A private copy of the trained run, free to write into."""
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(trained_run_template, dst)
    return dst


#: ``sensitive`` at about the smallest settings it accepts: 2 held-out images, a generator trained
#: for 2 steps on 16 images, 2 optimisation steps; both strategies and all three baselines, so every
#: kind of area the stage writes is there (``masks/metrics.json``, the ``areas`` graph).
PIPELINE_SENSITIVE = {"num_images": 2, "train_images": 16, "steps": 2, "batch_size": 8,
                      "optimise_steps": 2, "figure_images": 1, "stride": 7}


def build_pipeline_run(root: Path) -> Path:
    """Run every stage after ``train`` on the trained run at ``root`` through the functions the CLI
    calls, in an order the registry allows, with small settings: stats and k-best (k = 5) tags, the
    Hits@n study, ``select`` (64 samples, 2 targets), ``sensitive`` (``PIPELINE_SENSITIVE``) on the
    selected filters and the most active separating filter of the first held-out image that has
    one (``explain_text.contrast``, ``separating_filter``), saved explanations of held-out images 0,
    1 and that image (after ``sensitive``, so they carry the trained generators' areas,
    ``sensitive_areas``), ``link`` (WordNet, offline), ``coarsen``, ``evaluate`` (200 random-tags
    draws; the ablation and FSAGN sections left out: they retrain or re-mask and cost most of its
    time) and the graph. ``kgfilters status`` shows every stage done."""
    from kgfilters.evaluate.run import evaluate_run
    from kgfilters.fsagn.stage import SensitiveOptions, select_stage, sensitive_stage
    from kgfilters.ontology.build import build_graph
    from kgfilters.pipeline import explain_run, hits_run, tag_run
    from kgfilters.queries.stage import coarsen_run, link_run

    cpu = torch.device("cpu")
    tag_run(root, device=cpu, progress=False)  # computes the statistics first (stage stats)
    hits_run(root, device=cpu, progress=False)
    sel = select_stage(root, num_samples=64, k=2, device=cpu)
    index, extra = separating_filter(root, sel.layer)
    filters = [(sel.layer, int(f)) for f in sel.targets] + [(sel.layer, extra)]
    sensitive_stage(root, filters=filters, options=SensitiveOptions(**PIPELINE_SENSITIVE), device=cpu)
    for i in dict.fromkeys((0, 1, index)):  # after ``sensitive``: they carry its generators' areas
        explain_run(root, device=cpu, index=i, save=True)
    link_run(root)
    coarsen_run(root)
    evaluate_run(root, device=cpu, draws=200, ablation=False, fsagn=False)
    build_graph(root)
    return root


def separating_filter(root: Path, layer: str, *, first: int = 16) -> tuple[int, int]:
    """(held-out index, filter): the first of the run's first ``first`` held-out images with a
    separating filter in ``layer``, and its most active one there. AssertionError if none has."""
    from kgfilters.explain import explain_image
    from kgfilters.explain_text import contrast
    from kgfilters.run import load_run

    run = load_run(root)
    for index in range(first):
        sep = [f.filter for f, _ in contrast(explain_image(run, index=index)).separating if f.layer == layer]
        if sep:
            return index, int(sep[0])  # most active first
    raise AssertionError(f"none of the first {first} held-out images has a separating filter in {layer}")


@pytest.fixture(scope="session")
def pipeline_run_template(tmp_path_factory: pytest.TempPathFactory, trained_run_template: Path) -> Path:
    """The trained run taken through every stage (``build_pipeline_run``): a small stand-in for a
    finished ``make demo`` run that any clean clone can build. Tests must not write into it: take
    ``pipeline_run`` (a private copy) for that."""
    import shutil

    root = tmp_path_factory.mktemp("pipeline") / "run"
    shutil.copytree(trained_run_template, root)
    return build_pipeline_run(root)


@pytest.fixture()
def pipeline_run(tmp_path: Path, pipeline_run_template: Path) -> Path:
    """A private copy of the run through every stage, free to write into."""
    import shutil

    dst = tmp_path / "pipeline"
    shutil.copytree(pipeline_run_template, dst)
    return dst
