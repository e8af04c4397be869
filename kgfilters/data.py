"""Data sets and their deterministic train / tag / held-out splits.

Fashion-MNIST (or any directory with the four MNIST-style IDX files, gzipped or not) is read with
torchvision's IDX readers into uint8 tensors; any torchvision ``ImageFolder`` works too. Batches
come out as float tensors in [0, 1] of shape (B, C, H, W); the model's own normalisation is applied
later on the device (see ``kgfilters.models.ModelSpec.prepare``).
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from kgfilters.classnames import display_names, read_class_names
from kgfilters.errors import DataError

__all__ = [
    "DEFAULT_DATA_ROOT",
    "IDX_FILES",
    "Splits",
    "TensorImages",
    "iter_batches",
    "load_splits",
    "stratified_split",
]

DEFAULT_DATA_ROOT = Path(os.environ.get("KGF_DATA_ROOT", "/usr/share/datasets/fashion-mnist"))
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class TensorImages(Dataset[tuple[torch.Tensor, int]]):
    """Images held as one uint8 tensor (N, C, H, W) with int64 labels (N,); sliced in batches."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[0] != targets.shape[0]:
            raise DataError(
                f"images of shape {tuple(images.shape)} and labels of shape "
                f"{tuple(targets.shape)}: expected (N, C, H, W) and (N,)"
            )
        self.images = images
        self.targets = targets.long()

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float().div_(255), int(self.targets[i])

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [start, stop) as float (B, C, H, W) in [0, 1] and labels (B,)."""
        return self.images[start:stop].float().div_(255), self.targets[start:stop]

    def subset(self, indices: torch.Tensor) -> TensorImages:
        return TensorImages(self.images[indices], self.targets[indices])


@dataclass(frozen=True)
class Splits:
    """The three splits of one data set.

    ``train`` trains the model, ``tag`` computes FILTAG statistics, ``heldout`` tests explanations
    (Hits@n) and FSAGN masks. ``class_names[c]`` is the name of label ``c`` as people name it;
    ``class_ids[c]`` its raw id (an ImageFolder's folder name, e.g. a wnid), empty for IDX files.
    """

    train: Dataset
    tag: Dataset
    heldout: Dataset
    class_names: tuple[str, ...]
    source: str
    kind: str  # "idx" or "imagefolder"
    class_ids: tuple[str, ...] = ()  # raw ids (folder names, wnids) when they differ from the names
    skipped: tuple[str, ...] = ()  # undecodable images left out (--on-bad-image skip)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def targets_of(ds: Dataset) -> torch.Tensor:
    """All labels of a split as an int64 tensor (N,), without loading images."""
    if isinstance(ds, TensorImages):
        return ds.targets
    if isinstance(ds, Subset):
        return targets_of(ds.dataset)[torch.as_tensor(ds.indices)]
    if isinstance(ds, ConcatDataset):
        return torch.cat([targets_of(d) for d in ds.datasets])
    if hasattr(ds, "targets"):
        return torch.as_tensor(ds.targets, dtype=torch.long)
    raise DataError(f"dataset {type(ds).__name__} exposes no .targets")


def stratified_split(
    targets: torch.Tensor, fraction: float, *, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices per class: ``fraction`` of each class goes to the first part.

    Deterministic for a seed; both parts are returned sorted so that batches follow file order.
    """
    gen = torch.Generator().manual_seed(seed)
    first, second = [], []
    for c in torch.unique(targets).tolist():
        idx = torch.nonzero(targets == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        cut = round(fraction * idx.numel())
        first.append(idx[:cut])
        second.append(idx[cut:])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def _read_idx(path: Path, reader) -> torch.Tensor:  # type: ignore[no-untyped-def]
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f, tempfile.NamedTemporaryFile(suffix=".idx") as tmp:
                tmp.write(f.read())
                tmp.flush()
                return reader(tmp.name)
        return reader(str(path))
    except (OSError, AssertionError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise DataError(f"{path}: not a readable IDX file ({type(exc).__name__}: {exc})") from None


def _load_idx(root: Path, *, seed: int, tag_fraction: float) -> Splits:
    paths = {key: _find_idx(root, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataError(
            f"{root}: missing IDX file(s) {', '.join(missing)} (gzipped or not); install Debian's "
            "'dataset-fashion-mnist' or pass --data-root DIR holding the four files"
        )
    from torchvision.datasets import FashionMNIST  # here, not at import: torchvision takes seconds
    from torchvision.datasets.mnist import read_image_file, read_label_file

    arrays = {
        k: _read_idx(p, read_image_file if k.endswith("images") else read_label_file)  # type: ignore[arg-type]
        for k, p in paths.items()
    }
    for part in ("train", "test"):
        imgs, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if imgs.shape[0] != labels.shape[0]:
            raise DataError(
                f"{paths[part + '_images']}: {imgs.shape[0]} images but "
                f"{paths[part + '_labels']} has {labels.shape[0]} labels"
            )
    train = TensorImages(arrays["train_images"].unsqueeze(1), arrays["train_labels"])
    test = TensorImages(arrays["test_images"].unsqueeze(1), arrays["test_labels"])
    tag_idx, held_idx = stratified_split(test.targets, tag_fraction, seed=seed)
    n_classes = int(torch.cat([train.targets, test.targets]).max()) + 1
    names = tuple(FashionMNIST.classes) if n_classes == len(FashionMNIST.classes) else tuple(
        str(c) for c in range(n_classes)
    )
    return Splits(train, test.subset(tag_idx), test.subset(held_idx), names, str(root), "idx")


def _read_image_file(path: str):  # type: ignore[no-untyped-def]
    """ImageFolder's loader: the file as an RGB PIL image; DataError naming the file when it is not
    an image Pillow can read, or when it declares more pixels than Pillow's decompression-bomb
    limit (``PIL.Image.MAX_IMAGE_PIXELS``; checked from the header, before decoding)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(path, "rb") as f, Image.open(f) as im:
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path}: image too large to decode safely ({type(exc).__name__}: more than "
                        f"{Image.MAX_IMAGE_PIXELS} pixels)") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{path}: not a readable image ({first})") from None


def _transform(image_size: int, channels: int):  # type: ignore[no-untyped-def]
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.Grayscale(1) if channels == 1 else transforms.Lambda(lambda im: im.convert("RGB")),
            transforms.ToTensor(),
        ]
    )


def _load_files(
    root: Path, *, seed: int, tag_fraction: float, image_size: int, channels: int,
    class_names_file: str | os.PathLike[str] | None = None, ground_truth: str | os.PathLike[str] | None = None,
    on_bad_image: str = "stop", skip: Sequence[str] | None = None,
) -> Splits:
    """An ImageFolder (``root/train`` + ``root/val|test``, or one folder), a CSV file of
    ``path,label`` or ImageNet's validation layout (see ``kgfilters.layouts``)."""
    from torchvision.datasets import ImageFolder

    from kgfilters.layouts import drop_samples, find_bad_images, read_csv_layout, read_val_layout

    tf = _transform(image_size, channels)
    kind = "imagefolder"
    try:
        if root.is_file():
            train = rest = read_csv_layout(root, tf, _read_image_file)
            kind = "csv"
        elif ground_truth is not None or not any(p.is_dir() for p in root.iterdir()):
            train = rest = read_val_layout(root, Path(ground_truth) if ground_truth else None, tf, _read_image_file)
            kind = "imagenet-val"
        elif (root / "train").is_dir() and any((root / s).is_dir() for s in ("val", "test")):
            train = ImageFolder(str(root / "train"), transform=tf, loader=_read_image_file)
            rest = ImageFolder(str(root / ("val" if (root / "val").is_dir() else "test")), transform=tf,
                               loader=_read_image_file)
        else:
            train = rest = ImageFolder(str(root), transform=tf, loader=_read_image_file)
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"{root}: not an ImageFolder ({exc})") from None
    parts = [train] if train is rest else [train, rest]
    if skip is None and on_bad_image == "skip":
        skip = [p for ds in parts for p in find_bad_images([s[0] for s in ds.samples], _read_image_file)]
    for ds in parts:
        drop_samples(ds, set(skip or ()))
    if len(rest) == 0:
        raise DataError(f"{root}: no readable images left")
    tag_idx, held_idx = stratified_split(targets_of(rest), tag_fraction, seed=seed)
    ids = tuple(rest.classes)
    return Splits(
        train,
        Subset(rest, tag_idx.tolist()),
        Subset(rest, held_idx.tolist()),
        display_names(ids, class_names_file),
        str(root),
        kind,
        ids,
        tuple(skip or ()),
    )


def load_splits(
    data_root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    tag_fraction: float = 0.8,
    image_size: int = 28,
    channels: int = 1,
    class_names_file: str | os.PathLike[str] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
    on_bad_image: str = "stop",
    skip: Sequence[str] | None = None,
) -> Splits:
    """Load a data set and split it deterministically.

    IDX directory: ``train`` is the training file; the test file is split per class into ``tag``
    (``tag_fraction``, the paper's 80%) and ``heldout`` (the rest). ImageFolder: ``root/train`` and
    ``root/val`` (or ``root/test``) when both exist, else the one folder serves all splits; the
    evaluation part is split as above. ``image_size`` and ``channels`` apply to ImageFolder only.
    ``class_names_file`` names the classes (see ``kgfilters.classnames.read_class_names``); without
    it, ImageFolder classes that are ImageNet wnids get their human names.
    ``data_root`` may also be a CSV file of ``path,label`` rows, or a flat folder of images with a
    ``ground_truth`` file (ImageNet validation layout; see ``kgfilters.layouts``).
    ``on_bad_image``: ``stop`` (an undecodable image is a DataError naming it, when it is read) or
    ``skip`` (every image is decoded once now and the bad ones are left out: ``Splits.skipped``);
    ``skip``: paths to leave out without checking (a run's recorded list).

    Raises DataError naming the directory and the missing or unreadable file.
    """
    root = Path(data_root) if data_root is not None else DEFAULT_DATA_ROOT
    if not 0.0 < tag_fraction < 1.0:
        raise DataError(f"tag_fraction={tag_fraction}: expected a number in (0, 1)")
    if on_bad_image not in ("stop", "skip"):
        raise DataError(f"on_bad_image={on_bad_image!r}: expected 'stop' or 'skip'")
    files = {"seed": seed, "tag_fraction": tag_fraction, "image_size": image_size, "channels": channels,
             "class_names_file": class_names_file, "on_bad_image": on_bad_image, "skip": skip}
    if root.is_file() and root.suffix.lower() == ".csv":
        return _load_files(root, **files)
    if not root.is_dir():
        raise DataError(
            f"{root}: no such data directory; install Debian's 'dataset-fashion-mnist' or pass "
            "--data-root DIR with the four Fashion-MNIST IDX files, an ImageFolder, a flat folder with "
            "--ground-truth FILE, or a CSV file of path,label"
        )
    if ground_truth is not None:
        return _load_files(root, ground_truth=ground_truth, **files)
    if any(_find_idx(root, stem) for stem in IDX_FILES.values()):
        splits = _load_idx(root, seed=seed, tag_fraction=tag_fraction)
        if class_names_file is None:
            return splits
        ids = tuple(str(c) for c in range(splits.num_classes))
        return replace(splits, class_names=read_class_names(class_names_file, ids))
    entries = list(root.iterdir())
    if any(p.is_dir() for p in entries) or any(p.name.startswith("ILSVRC2012_val_") for p in entries):
        return _load_files(root, **files)
    raise DataError(
        f"{root}: holds neither the four IDX files ({', '.join(IDX_FILES.values())}) "
        "nor ImageFolder class folders; for a flat folder of images pass --ground-truth FILE"
    )


def iter_batches(
    ds: Dataset,
    batch_size: int,
    *,
    start: int = 0,
    indices: Sequence[int] | None = None,
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images float (B, C, H, W) in [0, 1], labels int64 (B,)) in dataset order.

    ``start`` skips the first images (resuming); ``indices`` restricts to a shard (torchrun).
    Tensor-backed splits are sliced directly; others go through a DataLoader.
    """
    if isinstance(ds, TensorImages) and indices is None:
        for lo in range(start, len(ds), batch_size):
            yield ds.batch(lo, min(lo + batch_size, len(ds)))
        return
    if isinstance(ds, TensorImages):
        sub = ds.subset(torch.as_tensor(list(indices)[start:], dtype=torch.long))
        yield from iter_batches(sub, batch_size)
        return
    order = list(indices) if indices is not None else list(range(len(ds)))
    loader = DataLoader(Subset(ds, order[start:]), batch_size=batch_size, num_workers=num_workers,
                        pin_memory=torch.cuda.is_available())
    for x, y in loader:
        yield x, y.long()
