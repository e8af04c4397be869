"""Model zoo: the FSAGN paper's small MNIST network and any torchvision classifier, by name; timm
models (``timm:NAME``), ``torch.export`` files (``export:PATH``) and a user's factory
(``package.module:factory``) through ``kgfilters.model_sources``.

Models are found through a registry (``get_model_spec(name)``, ``list_models()``). Weights come
from a local file or the torch hub cache; nothing is ever downloaded. A run's recorded input size,
channels, mean and std (run.json ``model.input``) override the spec's (``with_input``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kgfilters.errors import LayerError, ModelError

__all__ = [
    "FsagnMnistNet",
    "LayerInfo",
    "ModelSpec",
    "build_model",
    "conv_layers",
    "file_sha256",
    "get_model_spec",
    "layer_table",
    "list_models",
    "load_weights",
    "resolve_layers",
    "spec_of",
    "with_input",
]

log = logging.getLogger(__name__)


class FsagnMnistNet(nn.Module):
    """The FSAGN paper's MNIST classifier (Fig. 3a): two conv layers, two fully connected.

    The paper gives no sizes; we use 5x5 convolutions with 32 and 64 filters, each followed by
    ReLU and 2x2 max pooling, then 3136 -> 256 -> classes. Input (B, 1, 28, 28), output logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 256)
        self.dropout = nn.Dropout(0.25)
        self.fc2 = nn.Linear(256, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv layer's feature maps after ReLU, (B, 64, 14, 14)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.relu(self.conv2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.features(x), 2).flatten(1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


@dataclass(frozen=True)
class ModelSpec:
    """What kgfilters needs to know about a model family.

    ``mean`` and ``std`` normalise [0, 1] images per channel; ``in_channels`` and ``input_size``
    (square side, pixels) are what the network expects.
    """

    name: str
    builder: Callable[[int], nn.Module]
    in_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    torchvision: bool = False
    source: str = "builtin"  # builtin, torchvision, timm, export or import

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Turn images (B, C, H, W) in [0, 1] into the network's input, on x's device.

        Grayscale is repeated to three channels for RGB networks, and images of another size are
        resized bilinearly to ``input_size``.
        """
        if x.shape[1] == 1 and self.in_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_REGISTRY: dict[str, ModelSpec] = {
    "fsagn-mnist": ModelSpec("fsagn-mnist", FsagnMnistNet, 1, 28, (0.5,), (0.5,)),
}


def _torchvision_names() -> list[str]:
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def list_models() -> list[str]:
    """Every model name this registry knows: ours first, then torchvision's classifiers."""
    return [*_REGISTRY, *_torchvision_names()]


def get_model_spec(name: str) -> ModelSpec:
    """The spec of ``name``; ModelError naming the valid choices for an unknown name."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _torchvision_names():
        import torchvision.models as tvm

        size = 299 if name.startswith("inception") else 224

        def build(num_classes: int, _name: str = name) -> nn.Module:
            kwargs = {"aux_logits": True, "init_weights": False} if _name.startswith("inception") else {}
            return tvm.get_model(_name, weights=None, num_classes=num_classes, **kwargs)

        return ModelSpec(name, build, 3, size, _IMAGENET_MEAN, _IMAGENET_STD, torchvision=True,
                         source="torchvision")
    from kgfilters.model_sources import external_spec

    spec = external_spec(name)
    if spec is not None:
        return spec
    raise ModelError(
        f"unknown model {name!r}; choose 'fsagn-mnist', a torchvision classifier "
        f"such as vgg16, resnet50 (see `kgfilters models`), timm:NAME, export:FILE.pt2 "
        f"or package.module:factory"
    )


def with_input(spec: ModelSpec, info: dict | None) -> ModelSpec:
    """``spec`` with ``in_channels``, ``input_size``, ``mean``, ``std`` taken from ``info`` where
    present (run.json ``model.input``)."""
    if not info:
        return spec
    from dataclasses import replace

    keep = {k: info[k] for k in ("in_channels", "input_size") if info.get(k) is not None}
    keep.update({k: tuple(float(v) for v in info[k]) for k in ("mean", "std") if info.get(k) is not None})
    return replace(spec, **keep)


def spec_of(model_config: dict) -> ModelSpec:
    """The spec of a run's model from run.json's ``model`` section (name plus recorded input)."""
    return with_input(get_model_spec(model_config["name"]), model_config.get("input"))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hub_checkpoint(name: str) -> Path | None:
    """Path the torch hub cache would hold for torchvision's default weights of ``name``."""
    import torchvision.models as tvm

    try:
        url = tvm.get_model_weights(name).DEFAULT.url
    except (ValueError, AttributeError):
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, or of a PyTorch file loaded with ``weights_only=True``
    (never unpickling code: a pickle of other objects is refused). ModelError naming the file."""
    import pickle

    from safetensors import SafetensorError

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        kind = "safetensors" if path.suffix == ".safetensors" else "PyTorch state-dict (weights_only)"
        raise ModelError(f"{path}: not a readable {kind} weights file ({type(exc).__name__}: {first}); "
                         "expected .safetensors or a plain torch.save(state_dict) file") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    return state


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a ``.safetensors`` or ``.pth`` state dict into ``model`` (strict)."""
    from kgfilters.model_sources import _refuse_torchscript, is_torchscript

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    if is_torchscript(path):
        _refuse_torchscript(path)
    state = _read_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{path}: weights do not fit the model ({first})") from None


def build_model(
    name: str, *, num_classes: int, weights: str | Path | None = None, device: torch.device | None = None
) -> nn.Module:
    """Build model ``name`` in eval mode, on ``device``.

    weights: a file path; ``"random"`` for untrained weights (benchmarks); or None, which means
    our own networks start untrained and torchvision ones load torchvision's default weights
    from the torch hub cache (ModelError saying where to put the file when it is absent).
    """
    spec = get_model_spec(name)
    if spec.source == "export" and weights not in (None, "random"):
        raise ModelError(f"{name}: an exported program holds its weights; drop --weights {weights}")
    if spec.source in ("timm", "import") and weights is None:
        raise ModelError(f"{name}: no weights; pass --weights FILE (.safetensors or .pth; "
                         "nothing is downloaded)")
    model = spec.builder(num_classes)
    if weights == "random" or spec.source == "export":
        pass
    elif weights is not None:
        load_weights(model, weights)
    elif spec.torchvision:
        ckpt = _hub_checkpoint(name)
        if ckpt is None or not ckpt.is_file():
            where = ckpt if ckpt is not None else Path(torch.hub.get_dir()) / "checkpoints"
            raise ModelError(
                f"no weights for {name!r}: put torchvision's weights file at {where} "
                "or pass --weights FILE (nothing is downloaded)"
            )
        load_weights(model, ckpt)
    model.eval()
    return model.to(device) if device is not None else model


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """All Conv2d modules of ``model`` by their qualified name, in definition order (for an
    exported program: the submodules calling ``aten.conv2d``, which carry ``out_channels``)."""
    return {n: m for n, m in model.named_modules()
            if isinstance(m, nn.Conv2d) or getattr(m, "kgf_conv2d", False)}


def _is_pattern(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def resolve_layers(model: nn.Module, names: list[str] | None) -> list[str]:
    """Validate layer names (default: every conv layer); LayerError names the valid choices.

    A name with ``*``, ``?`` or ``[`` is a glob (``fnmatch``) over the conv layers' names, e.g.
    ``layer4.*`` or ``features.2?``; it expands in model order and must match at least one.
    """
    from fnmatch import fnmatchcase

    convs = conv_layers(model)
    if not names:
        if not convs:
            raise LayerError("the model has no Conv2d layer to explain")
        return list(convs)
    modules = dict(model.named_modules())
    out: list[str] = []
    for n in names:
        if _is_pattern(n):
            hit = [c for c in convs if fnmatchcase(c, n)]
            if not hit:
                raise LayerError(f"layer pattern {n!r} matches no conv layer; conv layers are: {', '.join(convs)}")
            out.extend(hit)
            continue
        if n not in modules:
            raise LayerError(f"unknown layer {n!r}; conv layers are: {', '.join(convs)}")
        if n not in convs:
            raise LayerError(
                f"layer {n!r} is a {type(modules[n]).__name__}, not convolutional; "
                f"conv layers are: {', '.join(convs)}"
            )
        out.append(n)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class LayerInfo:
    """A conv layer: qualified name, filter count, and its output map's height and width (pixels)
    for one input of the model's size."""

    name: str
    filters: int
    height: int
    width: int


@torch.no_grad()
def layer_table(model: nn.Module, spec: ModelSpec) -> tuple[LayerInfo, ...]:
    """Every conv layer of ``model`` with its filters and output size, measured by one forward
    pass of a zero image (1, in_channels, input_size, input_size) on the model's device."""
    from kgfilters.hooks import capture

    convs = conv_layers(model)
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size, device=device)
    with capture(model, list(convs), lambda t: torch.tensor(t.shape)) as out:
        model(spec.prepare(x))
    return tuple(LayerInfo(n, int(out[n][1]), int(out[n][2]), int(out[n][3])) for n in convs)
