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
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

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
    (Hits@n) and FSAGN masks. ``class_names[c]`` is the name of label ``c``.
    """

    train: Dataset
    tag: Dataset
    heldout: Dataset
    class_names: tuple[str, ...]
    source: str
    kind: str  # "idx" or "imagefolder"

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


def _load_folder(
    root: Path, *, seed: int, tag_fraction: float, image_size: int, channels: int
) -> Splits:
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    tf = transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.Grayscale(1) if channels == 1 else transforms.Lambda(lambda im: im.convert("RGB")),
            transforms.ToTensor(),
        ]
    )
    try:
        if (root / "train").is_dir() and any((root / s).is_dir() for s in ("val", "test")):
            train = ImageFolder(str(root / "train"), transform=tf)
            rest = ImageFolder(str(root / ("val" if (root / "val").is_dir() else "test")), transform=tf)
        else:
            train = rest = ImageFolder(str(root), transform=tf)
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"{root}: not an ImageFolder ({exc})") from None
    tag_idx, held_idx = stratified_split(targets_of(rest), tag_fraction, seed=seed)
    return Splits(
        train,
        Subset(rest, tag_idx.tolist()),
        Subset(rest, held_idx.tolist()),
        tuple(rest.classes),
        str(root),
        "imagefolder",
    )


def load_splits(
    data_root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    tag_fraction: float = 0.8,
    image_size: int = 28,
    channels: int = 1,
) -> Splits:
    """Load a data set and split it deterministically.

    IDX directory: ``train`` is the training file; the test file is split per class into ``tag``
    (``tag_fraction``, the paper's 80%) and ``heldout`` (the rest). ImageFolder: ``root/train`` and
    ``root/val`` (or ``root/test``) when both exist, else the one folder serves all splits; the
    evaluation part is split as above. ``image_size`` and ``channels`` apply to ImageFolder only.

    Raises DataError naming the directory and the missing or unreadable file.
    """
    root = Path(data_root) if data_root is not None else DEFAULT_DATA_ROOT
    if not 0.0 < tag_fraction < 1.0:
        raise DataError(f"tag_fraction={tag_fraction}: expected a number in (0, 1)")
    if not root.is_dir():
        raise DataError(
            f"{root}: no such data directory; install Debian's 'dataset-fashion-mnist' or pass "
            "--data-root DIR with the four Fashion-MNIST IDX files or an ImageFolder"
        )
    if any(_find_idx(root, stem) for stem in IDX_FILES.values()):
        return _load_idx(root, seed=seed, tag_fraction=tag_fraction)
    if any(p.is_dir() for p in root.iterdir()):
        return _load_folder(
            root, seed=seed, tag_fraction=tag_fraction, image_size=image_size, channels=channels
        )
    raise DataError(
        f"{root}: holds neither the four IDX files ({', '.join(IDX_FILES.values())}) "
        "nor ImageFolder class folders"
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
    loader = DataLoader(Subset(ds, order[start:]), batch_size=batch_size, num_workers=num_workers)
    for x, y in loader:
        yield x, y.long()
