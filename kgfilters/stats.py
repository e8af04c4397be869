"""Activation statistics of FILTAG 2.1: per-class sums of scaled filter means, streamed.

For each image d and layer m the whole activation tensor is min-max scaled to [0, 1], each
filter's scaled map is averaged (ā(m, i, d)), and the averages are summed per class in float64
together with per-class image counts. Memory is O(classes x filters), whatever the data size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from kgfilters.data import iter_batches
from kgfilters.hooks import capture, forward_until_captured
from kgfilters.models import ModelSpec

__all__ = [
    "ActivationStats",
    "Collected",
    "FilterMeans",
    "LayerStats",
    "collect",
    "compute_stats",
    "default_checkpoint_every",
    "load_stats",
    "one_thread",
    "save_stats",
    "scaled_filter_means",
]

log = logging.getLogger(__name__)


def scaled_filter_means(act: torch.Tensor) -> torch.Tensor:
    """ā(m, i, d) of FILTAG 2.1 for every image and filter of one layer.

    Args:
        act: conv output (B, C, H, W), any float dtype. ReLU is applied first, since the paper's
            Keras layers include their activation.

    Returns:
        (B, C) float32 in [0, 1]: each image's activations min-max scaled over the whole layer
        tensor (all C x H x W values), then averaged per filter. Scaling is affine, so this equals
        (mean - min) / (max - min) of the raw values. An image whose layer is constant gets 0.
        ``FilterMeans`` computes the same values without allocating a ReLU'd copy per call.
    """
    return _scaled_filter_means(act, torch.empty_like(act, dtype=torch.float32))


def _scaled_filter_means(act: torch.Tensor, relu_out: torch.Tensor, relu_done: bool = False) -> torch.Tensor:
    """``scaled_filter_means`` with ReLU(act) written into ``relu_out`` (float32, act's shape and
    strides): the only full-size write. Reads act three times (ReLU, min, max) and relu_out once.
    With ``relu_done`` act is already rectified (a ReLU module's output): a float32 act is
    averaged in place of the copy and nothing is written."""
    if relu_done and act.dtype == torch.float32:
        relu_out = act
    elif act.dtype == relu_out.dtype:
        torch.clamp_min(act, 0, out=relu_out)
    else:  # bf16/fp16/fp64 activations: the float32 values the means have always been taken over
        relu_out.copy_(act)
        if not relu_done:
            relu_out.clamp_min_(0)
    means = relu_out.mean((2, 3))
    # ReLU is monotone, so the scaled tensor's min and max are ReLU of the raw ones; min/max of
    # another float dtype converted to float32 are the float32 values' min/max (rounding is
    # monotone). Reducing the spatial dims first, then the channels, is several times faster on
    # CPU than one flat reduction.
    lo = act.amin((2, 3)).amin(1, keepdim=True).float().clamp_min(0)
    span = act.amax((2, 3)).amax(1, keepdim=True).float().clamp_min(0) - lo
    return torch.where(span > 0, (means - lo) / span.clamp_min(torch.finfo(span.dtype).tiny), 0.0)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block's torch CPU ops on one intra-op thread; the thread count is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class FilterMeans:
    """``scaled_filter_means`` as a hook reduction, without a full-size ReLU'd copy per call.

    Results are bit-identical to ``scaled_filter_means`` (same float32 values, each filter map
    reduced by the same kernel over the same memory layout); only the work is arranged for speed:

    - No fresh (B, C, H, W) ReLU'd copy per layer and batch: on CPU such an allocation is
      page-faulted in and unmapped again on every call (about 60 ms per 100 MB here) and it
      disturbs the allocator for the forward pass too. ReLU goes into one reused float32 buffer.
    - On a CPU with at most ``chunked_up_to_threads`` intra-op threads (default 2) the tensor is
      reduced in chunks of about ``chunk_elements`` values (whole images, or whole filter maps
      where one image is larger than a chunk) on one thread: min, max, ReLU and sum of a chunk
      all read it from the cache, so the layer output is read from memory once instead of four
      times (each image's min and max over its contiguous values in one reduction: rows as
      short as one filter map, 196 values, cost about twice as much per value), and
      no parallel region waits at a barrier for a thread the OS has descheduled (on the loaded
      2-core machine of docs/benchmarks.md those waits cost more than the reductions). The
      reductions are memory-bound, so a second thread gains little. The results were the same
      bit for bit on one and two threads for the benchmarks' layer shapes.
    Elsewhere (GPUs, CPUs with more threads, where one thread would fall behind a forward pass
    that scales with the cores; not measured here) the whole tensor is reduced at once with all
    threads, by ``scaled_filter_means``'s kernels, into the reused buffer.
    ``after_relu`` takes a ReLU module's output instead (``capture(after_relu=)``): nothing to
    rectify, so a float32 tensor is averaged where it lies and nothing is written.
    """

    def __init__(self, chunk_elements: int = 1 << 19, chunked_up_to_threads: int = 2) -> None:
        self.chunk_elements = chunk_elements
        self.chunked_up_to_threads = chunked_up_to_threads
        self._flat: torch.Tensor | None = None

    def _buffer(self, like: torch.Tensor) -> torch.Tensor:
        """A float32 tensor of ``like``'s shape and strides (``like`` dense), on reused memory."""
        n = like.numel()
        if self._flat is None or self._flat.numel() < n or self._flat.device != like.device:
            self._flat = torch.empty(n, dtype=torch.float32, device=like.device)
        return self._flat[:n].as_strided(like.shape, like.stride())

    def __call__(self, act: torch.Tensor, *, relu_done: bool = False) -> torch.Tensor:
        """(B, C) float32 ā of ``act`` (B, C, H, W); see ``scaled_filter_means``.

        ``relu_done``: ``act`` is ReLU(conv output) already (``after_relu``), so it is not
        rectified again: a float32 act is averaged where it lies, without the copy into the
        buffer. The values are the same bit for bit (ReLU is idempotent; up to the sign of zeros,
        which the per-class float64 sums do not keep)."""
        channels_last = not act.is_contiguous() and act.is_contiguous(memory_format=torch.channels_last)
        if not (act.is_contiguous() or channels_last):  # a strided view: as scaled_filter_means
            return scaled_filter_means(act)
        if not self.serial(act.device):
            return _scaled_filter_means(act, self._buffer(act), relu_done)
        with one_thread():
            return self._chunked(act, channels_last, relu_done)

    def after_relu(self, act: torch.Tensor) -> torch.Tensor:
        """``self(t)`` from ``act = ReLU(t)``: the ``after_relu`` reduction of ``capture``."""
        return self(act, relu_done=True)

    def serial(self, device: torch.device) -> bool:
        """Whether work on ``device`` is done on one thread (a CPU with few threads, see above)."""
        return device.type == "cpu" and torch.get_num_threads() <= self.chunked_up_to_threads

    def _chunked(self, act: torch.Tensor, channels_last: bool, relu_done: bool = False) -> torch.Tensor:
        b, c, h, w = act.shape
        per_image = c * h * w <= self.chunk_elements
        if channels_last:  # chunks of whole images, reduced over (H, W) into (images, C)
            src, dims, unit = act, (2, 3), c * h * w
            # each image's (H, W, C) values are contiguous: its min and max in one reduction
            flat = act.permute(0, 2, 3, 1).reshape(b, c * h * w)
        elif per_image:  # chunks of whole images: filter maps as rows of (B*C, H*W)
            src, dims, unit, flat = act.view(b * c, h * w), (1,), c * h * w, act.view(b, c * h * w)
        else:  # an image is larger than a chunk: chunks of whole filter maps
            src, dims, unit, flat = act.view(b * c, h * w), (1,), h * w, act.view(b * c, h * w)
        step = max(1, self.chunk_elements // max(unit, 1))
        # minimum and maximum of each image (or, above, of each filter map), and each filter's mean
        mins = torch.empty(flat.shape[0], dtype=act.dtype)
        maxs, means = torch.empty_like(mins), torch.empty(b, c, dtype=torch.float32)
        rows = 1 if channels_last or not per_image else c  # rows of src per unit of flat
        for i in range(0, flat.shape[0], step):
            part, fpart = src[i * rows:(i + step) * rows], flat[i:i + step]
            torch.amin(fpart, 1, out=mins[i:i + step])
            torch.amax(fpart, 1, out=maxs[i:i + step])
            if relu_done and part.dtype == torch.float32:
                relu = part
            elif part.dtype == torch.float32:
                relu = torch.clamp_min(part, 0, out=self._buffer(part))
            else:
                relu = self._buffer(part).copy_(part)
                if not relu_done:
                    relu.clamp_min_(0)
            out = means[i:i + step] if channels_last else means.view(-1)[i * rows:(i + step) * rows]
            torch.mean(relu, dims, out=out)
        lo = mins.view(b, -1).amin(1, keepdim=True).float().clamp_min(0)
        span = maxs.view(b, -1).amax(1, keepdim=True).float().clamp_min(0) - lo
        return torch.where(span > 0, (means - lo) / span.clamp_min(torch.finfo(span.dtype).tiny), 0.0)


@dataclass(frozen=True)
class LayerStats:
    """Per-class sums (classes, filters) float64 of ā and image counts (classes,) int64."""

    layer: str
    sums: torch.Tensor
    counts: torch.Tensor

    @property
    def num_filters(self) -> int:
        return int(self.sums.shape[1])

    def class_means(self) -> torch.Tensor:
        """z_c(m, i) of FILTAG 2.1: (classes, filters) float64; NaN for a class with no image."""
        return self.sums / self.counts.unsqueeze(1).double()


@dataclass(frozen=True)
class ActivationStats:
    """Statistics of every hooked layer, in layer order, over ``num_images`` images."""

    layers: dict[str, LayerStats]
    class_names: tuple[str, ...]
    num_images: int
    split: str = "tag"

    def z(self, layer: str) -> torch.Tensor:
        return self.layers[layer].class_means()


@dataclass(frozen=True)
class Collected:
    """Per-image values of each layer (N, C), softmax probabilities (N, K) and labels (N,)."""

    values: dict[str, torch.Tensor]
    probs: torch.Tensor
    labels: torch.Tensor


def _forward_ctx(device: torch.device, bf16: bool):  # type: ignore[no-untyped-def]
    if bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _shard(n: int) -> tuple[int, int, int, int]:
    """(rank, world, lo, hi): this process's contiguous share of n images under torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    return rank, world, n * rank // world, n * (rank + 1) // world


def _checkpoint_meta(layers: list[str], n: int, batch_size: int, world: int, tag: str) -> str:
    return json.dumps({"layers": layers, "n": n, "batch_size": batch_size, "world": world, "tag": tag})


@torch.no_grad()
def compute_stats(
    model: nn.Module,
    spec: ModelSpec,
    ds: Dataset,
    *,
    layers: list[str],
    class_names: tuple[str, ...],
    device: torch.device,
    batch_size: int = 256,
    bf16: bool = False,
    channels_last: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    fingerprint: str = "",
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    num_workers: int = 0,
) -> ActivationStats:
    """Stream ``ds`` through ``model`` and accumulate FILTAG statistics for ``layers``.

    Batches are processed in dataset order. With ``checkpoint`` set, the running sums are saved
    atomically every ``checkpoint_every`` batches (default: every tenth of this process's batches,
    see ``default_checkpoint_every``) and a later call with the same arguments resumes from there
    and gives a bit-identical result. An unreadable or inconsistent checkpoint is reported (a
    warning) and ignored: the computation starts from the first image and replaces it. Under
    ``torch.distributed`` each rank takes a contiguous shard and one all-reduce joins the sums
    (exact up to float64 rounding).
    ``on_batch(i)`` is called after batch i (tests use it to simulate a kill).
    ``num_workers``: DataLoader worker processes decoding image files (file-backed data sets).
    """
    model.eval().to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    k = len(class_names)
    rank, world, lo, hi = _shard(len(ds))
    ckpt = Path(f"{checkpoint}.rank{rank}") if checkpoint is not None and world > 1 else checkpoint
    meta = _checkpoint_meta(layers, len(ds), batch_size, world, fingerprint)
    sums: dict[str, torch.Tensor] = {}
    counts = torch.zeros(k, dtype=torch.int64, device=device)
    done = 0
    if ckpt is not None and Path(ckpt).is_file():
        resumed = _load_checkpoint(Path(ckpt), meta, device, layers=layers, classes=k)
        if resumed is not None:
            done, sums, counts = resumed
    if checkpoint_every is None:
        checkpoint_every = default_checkpoint_every(hi - lo, batch_size)
    elif checkpoint_every < 1:
        from kgfilters.errors import ConfigError

        raise ConfigError(f"checkpoint_every={checkpoint_every}: expected at least 1 batch")
    bar = tqdm(total=hi - lo, initial=done, desc="statistics", unit="img", disable=not progress)
    batch_no = done // batch_size
    # Statistics need no logits: the forward pass stops after the last hooked layer.
    reduce = FilterMeans()
    serial = reduce.serial(device)
    # A layer whose output goes straight into an nn.ReLU module (VGG's features) is reduced from
    # that ReLU's output, which the forward computes anyway, instead of rectifying it again.
    with capture(model, layers, reduce, stop=True, after_relu=reduce.after_relu) as out:
        for x, y in iter_batches(ds, batch_size, start=done, indices=range(lo, hi) if world > 1 else None,
                                 num_workers=num_workers):
            x = spec.prepare(x.to(device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _forward_ctx(device, bf16):
                forward_until_captured(model, x, out)
            y = y.to(device, non_blocking=True)
            # On few CPU threads index_add_ is parallel yet tiny: a loaded machine made each call
            # wait up to 0.1 s for the second thread. One thread, as for the reductions.
            with one_thread() if serial else contextlib.nullcontext():
                for name in layers:
                    if name not in sums:
                        sums[name] = torch.zeros(k, out[name].shape[1], dtype=torch.float64, device=device)
                    sums[name].index_add_(0, y, out[name].double())
                counts.index_add_(0, y, torch.ones_like(y))  # bincount would wait for the GPU (max)
            done += x.shape[0]
            batch_no += 1
            bar.update(x.shape[0])
            if ckpt is not None and batch_no % checkpoint_every == 0:
                _save_checkpoint(Path(ckpt), meta, done, sums, counts)
            if on_batch is not None:
                on_batch(batch_no)
    bar.close()
    if world > 1:
        for t in [*sums.values(), counts]:
            dist.all_reduce(t)
    result = ActivationStats(
        {n: LayerStats(n, sums[n].cpu(), counts.cpu()) for n in layers},
        tuple(class_names),
        int(counts.sum()),
    )
    if ckpt is not None and Path(ckpt).is_file():
        Path(ckpt).unlink()
    return result


def _save_checkpoint(
    path: Path, meta: str, done: int, sums: dict[str, torch.Tensor], counts: torch.Tensor
) -> None:
    from safetensors.torch import save_file

    from kgfilters.atomic import atomic_path

    tensors = {f"sums/{n}": s.cpu().contiguous() for n, s in sums.items()}
    tensors["counts"] = counts.cpu().contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"meta": meta, "done": str(done)})


def default_checkpoint_every(num_images: int, batch_size: int) -> int:
    """Batches between checkpoints when none is asked for: a tenth of the batches (at least 1),
    so a killed run loses at most ~10% of its images (8,000 images in batches of 256: every 3)."""
    batches = -(-num_images // max(batch_size, 1))
    return max(1, batches // 10)


def _load_checkpoint(
    path: Path, meta: str, device: torch.device, *, layers: list[str], classes: int
) -> tuple[int, dict[str, torch.Tensor], torch.Tensor] | None:
    """(images done, sums, counts) of a checkpoint made with the same settings, else None.

    A checkpoint of other settings, or one that cannot be read or does not add up (a killed
    write, a damaged disk), is logged and ignored: the caller starts afresh and overwrites it.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            saved = f.metadata() or {}
            if saved.get("meta") != meta:
                log.warning("%s: checkpoint is from other settings; starting afresh", path)
                return None
            sums = {k.split("/", 1)[1]: f.get_tensor(k) for k in f.keys() if k.startswith("sums/")}
            counts = f.get_tensor("counts")
            done = int(saved["done"])
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("%s: unreadable checkpoint (%s); ignoring it and starting from the first image",
                    path, reason)
        return None
    filters = {n: s.shape[1] if s.ndim == 2 else -1 for n, s in sums.items()}
    problem = None
    if tuple(counts.shape) != (classes,) or counts.dtype != torch.int64:
        problem = f"counts of shape {tuple(counts.shape)}, expected ({classes},) int64"
    elif set(sums) != set(layers) or any(s.shape[0] != classes or s.dtype != torch.float64 or s.ndim != 2
                                        for s in sums.values()):
        problem = f"sums of layers {sorted(filters)} do not match {classes} classes x filters (float64)"
    elif int(counts.sum()) != done or done < 0:
        problem = f"{int(counts.sum())} images counted but {done} recorded as done"
    if problem is not None:
        log.warning("%s: inconsistent checkpoint (%s); ignoring it and starting from the first image",
                    path, problem)
        return None
    log.info("%s: resuming after %d images", path, done)
    return done, {n: s.to(device) for n, s in sums.items()}, counts.to(device)


def save_stats(stats: ActivationStats, path: str | Path) -> Path:
    """Write statistics atomically as safetensors (``<layer>/sums``, ``<layer>/counts``)."""
    from safetensors.torch import save_file

    from kgfilters.atomic import atomic_path

    tensors = {}
    for name, ls in stats.layers.items():
        tensors[f"{name}/sums"] = ls.sums.contiguous()
        tensors[f"{name}/counts"] = ls.counts.clone().contiguous()
    meta = {
        "layers": json.dumps(list(stats.layers)),
        "class_names": json.dumps(list(stats.class_names)),
        "num_images": str(stats.num_images),
        "split": stats.split,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)


def load_stats(path: str | Path) -> ActivationStats:
    """Read statistics written by ``save_stats``."""
    from safetensors import SafetensorError, safe_open

    from kgfilters.errors import RunError

    if not os.path.isfile(path):
        raise RunError(f"{path}: no statistics yet; run `kgfilters stats` (or `kgfilters tag`) first")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            names = json.loads(meta["layers"])
            layers = {
                n: LayerStats(n, f.get_tensor(f"{n}/sums"), f.get_tensor(f"{n}/counts")) for n in names
            }
        stats = ActivationStats(
            layers, tuple(json.loads(meta["class_names"])), int(meta["num_images"]), meta.get("split", "tag")
        )
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise RunError(f"{path}: unreadable statistics ({type(exc).__name__}: {reason}); recompute them "
                       "with `kgfilters stats`") from None
    k = len(stats.class_names)
    for ls in layers.values():
        if ls.sums.ndim != 2 or ls.sums.shape[0] != k or tuple(ls.counts.shape) != (k,):
            raise RunError(f"{path}: layer {ls.layer} has sums {tuple(ls.sums.shape)} and counts "
                           f"{tuple(ls.counts.shape)}, expected ({k}, filters) and ({k},); recompute "
                           "them with `kgfilters stats`")
    return stats


@torch.no_grad()
def collect(
    model: nn.Module,
    spec: ModelSpec,
    ds: Dataset,
    *,
    layers: list[str],
    device: torch.device,
    reduce: Callable[[torch.Tensor], torch.Tensor] = scaled_filter_means,
    batch_size: int = 256,
    progress: bool = False,
) -> Collected:
    """Per-image ``reduce`` of each layer's output (default ā, (N, C)) and predictions, on CPU."""
    model.eval().to(device)
    values: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    probs, labels = [], []
    with capture(model, layers, reduce) as out:
        for x, y in tqdm(iter_batches(ds, batch_size), desc="activations", disable=not progress):
            logits = model(spec.prepare(x.to(device)))
            probs.append(torch.softmax(logits.float(), 1).cpu())
            labels.append(y)
            for n in layers:
                values[n].append(out[n].float().cpu())
    return Collected({n: torch.cat(v) for n, v in values.items()}, torch.cat(probs), torch.cat(labels))
