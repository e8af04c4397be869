"""Benchmark of image-file input: is decoding or the network the limit of the statistics pass?

Writes a 224x224 ImageFolder of JPEGs (3 classes, ``--per-class`` images each, seed 0) to /tmp,
then measures on CPU, for 0 and 2 DataLoader workers:

- ``decode_img_s``: images/s of the loader alone (JPEG decode, resize, crop, to tensor);
- ``stats_img_s``: images/s of the FILTAG statistics pass (``kgfilters.stats.compute_stats``) of a
  torchvision resnet18 with random weights over all 20 conv layers, reading the same files;

and once ``network_img_s``: images/s of the same statistics pass on images already in memory.
When ``stats_img_s`` with 0 workers is well under ``network_img_s``, decoding is the limit and
workers help; when it is close, the network is. Prints one JSON line.

Run: ``.venv/bin/python benchmarks/bench_data.py [--per-class 64] [--batch-size 32]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path


def _write_folder(root: Path, per_class: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("n02510455", "n03124170", "n04120489"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(a).save(root / c / f"{i:04d}.jpg", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import torch

    from kgfilters.data import TensorImages, iter_batches, load_splits
    from kgfilters.models import build_model, conv_layers, get_model_spec
    from kgfilters.stats import compute_stats

    root = Path(f"/tmp/kgf-bench-data-{os.getpid()}")
    try:
        _write_folder(root, args.per_class)
        spec = get_model_spec("resnet18")
        splits = load_splits(root, image_size=224, channels=3, tag_fraction=0.5)
        ds = splits.train  # every image (the one folder serves all splits)
        n = len(ds)
        torch.manual_seed(0)
        model = build_model("resnet18", num_classes=3, weights="random")
        layers = list(conv_layers(model))
        cpu = torch.device("cpu")
        out: dict[str, object] = {"images": n, "batch_size": args.batch_size, "layers": len(layers),
                                  "torch_threads": torch.get_num_threads()}
        for workers in (0, 2):
            t = time.perf_counter()
            for _ in iter_batches(ds, args.batch_size, num_workers=workers):
                pass
            out[f"decode_img_s_workers{workers}"] = round(n / (time.perf_counter() - t), 1)
            t = time.perf_counter()
            compute_stats(model, spec, ds, layers=layers, class_names=splits.class_names, device=cpu,
                          batch_size=args.batch_size, progress=False, num_workers=workers)
            out[f"stats_img_s_workers{workers}"] = round(n / (time.perf_counter() - t), 1)
        x = torch.stack([ds[i][0] for i in range(n)])
        mem = TensorImages((x * 255).round().to(torch.uint8), torch.as_tensor(ds.targets))
        t = time.perf_counter()
        compute_stats(model, spec, mem, layers=layers, class_names=splits.class_names, device=cpu,
                      batch_size=args.batch_size, progress=False)
        out["network_img_s"] = round(n / (time.perf_counter() - t), 1)
        cpu_name = platform.processor() or platform.machine()
        out["machine"] = (f"{cpu_name}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
                          f"torch {torch.__version__}")
        print(json.dumps(out))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
