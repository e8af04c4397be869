"""Bad input of every kind (issue 11): a one-line error naming the file or option, a non-zero exit,
and not one byte of the run changed (``assert_run_unchanged`` checksums every file)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from kgfilters.cli import main
from tests.run_checks import assert_run_unchanged, run_checksums

pytestmark = pytest.mark.slow


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="session")
def full_run_template(trained_run_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained tiny run with statistics, k = 3 tags and its graph."""
    from kgfilters.ontology.build import build_graph
    from kgfilters.pipeline import tag_run

    root = tmp_path_factory.mktemp("guard") / "full"
    shutil.copytree(trained_run_template, root)
    tag_run(root, param=3, progress=False)
    build_graph(root)
    return root


@pytest.fixture
def full_run(full_run_template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(full_run_template, dst)
    return dst


# --- numbers and lists checked by argparse, before anything runs ---------------------------------

BAD_OPTIONS = [
    (["train", "--batch-size", "0"], "--batch-size", "0: expected an integer >= 1"),
    (["train", "--lr", "-1"], "--lr", "-1: expected a number > 0"),
    (["train", "--lr", "nan"], "--lr", "'nan' is not a number"),
    (["stats", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["stats", "--checkpoint-every", "0"], "--checkpoint-every", ">= 1"),
    (["tag", "--k", "0"], "--k", ">= 1"),
    (["tag", "--method", "q-quantile", "--q", "1.5"], "--q", "in (0, 1]"),
    (["hits", "--n", "0"], "--n", "0: expected an integer >= 1"),
    (["hits", "--k", "a,b"], "--k", "'a' is not an integer (in 'a,b')"),
    (["hits", "--q", "0.1,0"], "--q", "in (0, 1]"),
    (["hits", "--top", "0"], "--top", "in (0, 1]"),
    (["explain", "--index", "-1"], "--index", ">= 0"),
    (["sensitive", "--fill", "5"], "--fill", "5: expected a number in [0, 1]"),
    (["sensitive", "--images", "0"], "--images", ">= 1"),
    (["link", "--depth", "-1"], "--depth", "-1: expected an integer >= 0"),
    (["coarsen", "--share", "0"], "--share", "in (0, 1]"),
    (["push", "--endpoint", "http://127.0.0.1:9/store", "--retries", "-1"], "--retries", ">= 0"),
    (["push", "--endpoint", "http://127.0.0.1:9/store", "--timeout", "0"], "--timeout", "> 0"),
    (["push", "--endpoint", "http://127.0.0.1:9/store", "--chunk-size", "0"], "--chunk-size", ">= 1"),
    (["serve", "--port", "70000"], "--port", "70000: expected a TCP port in 1-65535"),
    (["serve", "--timeout", "0"], "--timeout", ">= 1"),
    (["validate", "--limit", "0"], "--limit", ">= 1"),
]


@pytest.mark.parametrize(("argv", "option", "expected"), BAD_OPTIONS, ids=[" ".join(c[0]) for c in BAD_OPTIONS])
def test_bad_numbers_are_refused_before_anything_runs(
    full_run: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str, expected: str
) -> None:
    with assert_run_unchanged(full_run):
        code, out, err = _cli(capsys, *argv[:1], "--run", full_run, *argv[1:])
    assert code == 2 and out == ""
    _one_line_error(err, f"kgfilters {argv[0]}: error: argument {option}", expected, "--help")


def test_hits_with_an_unknown_layer_lists_the_layers(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "hits", "--run", full_run, "--layers", "conv9", "--no-progress")
    assert code == 2
    _one_line_error(err, "unknown layer 'conv9'", "conv layers are: conv1, conv2")


# --- damaged files of the run --------------------------------------------------------------------


def test_corrupt_model_is_one_line(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (full_run / "model.safetensors").write_bytes(b"\x00" * 100)
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "explain", "--run", full_run, "--index", "0")
    assert code == 2
    _one_line_error(err, "model.safetensors")


def test_corrupt_statistics_are_one_line(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = full_run / "stats" / "stats.safetensors"
    stats.write_bytes(stats.read_bytes()[:200])
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "tag", "--run", full_run, "--k", "2", "--no-progress")
    assert code == 2
    _one_line_error(err, "stats/stats.safetensors", "kgfilters stats")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_is_reported_and_ignored(
    full_run: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    from kgfilters.stats import load_stats

    expected = load_stats(full_run / "stats" / "stats.safetensors")
    ckpt = full_run / "stats" / "checkpoint.safetensors"
    if damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    else:  # a real checkpoint cut short, as a kill during a non-atomic copy would leave it
        from kgfilters.stats import _save_checkpoint

        _save_checkpoint(ckpt, "{}", 8, {"conv1": torch.zeros(10, 32, dtype=torch.float64)},
                         torch.zeros(10, dtype=torch.int64))
        ckpt.write_bytes(ckpt.read_bytes()[:-40])
    code, out, _ = _cli(capsys, "stats", "--run", full_run, "--no-progress")
    assert code == 0 and "statistics of 240 images" in out
    assert any("checkpoint.safetensors: unreadable checkpoint" in r.getMessage()
               and "starting from the first image" in r.getMessage() for r in caplog.records)
    assert not ckpt.exists()  # replaced by fresh checkpoints, removed when done
    got = load_stats(full_run / "stats" / "stats.safetensors")
    for name in ("conv1", "conv2"):  # same model, same images: the very same sums
        assert torch.equal(got.layers[name].sums, expected.layers[name].sums)
        assert torch.equal(got.layers[name].counts, expected.layers[name].counts)


def _tag_fails_on_the_store(full_run: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with assert_run_unchanged(full_run):
        code, out, err = _cli(capsys, "tag", "--run", full_run, "--k", "2", "--no-progress")
    assert code == 2 and out == ""
    _one_line_error(err, f"{full_run / 'graph'}: the graph store is damaged", "nothing was written",
                    "kgfilters graph")
    return err


def test_garbage_current_fails_before_tags_are_rewritten(full_run: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (full_run / "graph" / "CURRENT").write_text("MANIFEST-999999\n")
    _tag_fails_on_the_store(full_run, capsys)


def test_truncated_sst_fails_before_tags_are_rewritten(full_run: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    sst = max((full_run / "graph").glob("*.sst"), key=lambda p: p.stat().st_size)
    sst.write_bytes(sst.read_bytes()[: sst.stat().st_size // 2])
    err = _tag_fails_on_the_store(full_run, capsys)
    assert "Corruption" in err or "mismatch" in err


def test_graph_folder_without_a_store_is_refused(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(full_run / "graph")
    (full_run / "graph").mkdir()
    (full_run / "graph" / "notes.txt").write_text("mine")
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "tag", "--run", full_run, "--k", "2", "--no-progress")
    assert code == 2
    _one_line_error(err, "not a graph store")


# --- user files given to a command ---------------------------------------------------------------


def test_link_mapping_with_a_bad_iri_leaves_concepts_alone(full_run: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (full_run / "concepts.json").write_text('{"kept": true}\n')
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"Trouser": "http://example.org/a pair of trousers"}))
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "link", "--run", full_run, "--mapping", mapping)
    assert code == 2
    _one_line_error(err, "--mapping", "'Trouser'", "neither a WordNet synset", "absolute IRI")
    mapping.write_text(json.dumps({"Trouser": "trousers-please"}))
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "link", "--run", full_run, "--mapping", mapping)
    assert code == 2
    _one_line_error(err, "'trousers-please'", "no scheme")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` grey pixels (what a decompression bomb declares)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(("side", "kind"), [(100_000, "DecompressionBombError"),
                                            (10_000, "DecompressionBombWarning")])
def test_decompression_bomb_is_one_line(full_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        side: int, kind: str) -> None:
    from PIL import Image

    from kgfilters.errors import DataError
    from kgfilters.explain import load_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(side, side))
    with pytest.raises(DataError, match=f"bomb.png: image too large to decode safely \\({kind}"):
        load_image(str(bomb), channels=1, size=None)  # torchvision models: no fixed size
    assert side * side > Image.MAX_IMAGE_PIXELS
    with assert_run_unchanged(full_run):  # Pillow refuses it from the header, before decoding
        code, _, err = _cli(capsys, "explain", "--run", full_run, "--image", bomb, "--save")
    assert code == 2
    _one_line_error(err, "bomb.png: image too large to decode safely")


class _Payload:
    """Unpickling this would run ``os.mkdir(marker)``: what a malicious weights file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_pickle_weights_are_refused_unrun(tmp_path: Path, idx_root: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"conv1.weight": _Payload(marker)}))
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(pickle.dumps({"conv1.weight": [1.0]}))
    new = tmp_path / "new-run"
    for weights, needle in ((evil, "not a readable PyTorch state-dict (weights_only) weights file"),
                            (fake, "not a readable safetensors weights file")):
        code, _, err = _cli(capsys, "train", "--run", new, "--data-root", idx_root, "--weights", weights)
        assert code == 2
        _one_line_error(err, str(weights), needle)
    assert not marker.exists() and not new.exists()


def test_validate_names_a_missing_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(capsys, "validate", "--run", tmp_path / "nonexist")
    assert code == 2
    _one_line_error(err, "nonexist: no such run directory")
    assert "extension" not in err


# --- export -o ------------------------------------------------------------------------------------


@pytest.mark.parametrize("inside", ["run.json", "model.safetensors", "graph/CURRENT", "tags.json",
                                    "stats/new.ttl", "graph.ttl", "graph/../run.json"])
def test_export_never_writes_into_the_run(full_run: Path, capsys: pytest.CaptureFixture[str], inside: str) -> None:
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "export", "--run", full_run, "-o", full_run / inside)
    assert code == 2
    _one_line_error(err, "inside the run directory", "exports")


def test_export_through_a_link_into_the_run_is_refused(full_run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "innocent.ttl"
    link.symlink_to(full_run / "run.json")
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "export", "--run", full_run, "-o", link)
    assert code == 2
    _one_line_error(err, "inside the run directory")


def test_export_makes_no_directories(full_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a" / "b" / "graph.ttl"
    with assert_run_unchanged(full_run):
        code, _, err = _cli(capsys, "export", "--run", full_run, "-o", target)
    assert code == 2
    _one_line_error(err, f"directory {target.parent} does not exist")
    assert not (tmp_path / "a").exists()
    # the run's exports/ folder and a directory outside the run are fine
    code, _, _ = _cli(capsys, "export", "--run", full_run, "-o", full_run / "exports" / "x.nt", "-f", "nt")
    assert code == 0 and (full_run / "exports" / "x.nt").stat().st_size > 0
    code, _, _ = _cli(capsys, "export", "--run", full_run, "-o", tmp_path / "g.ttl")
    assert code == 0 and (tmp_path / "g.ttl").is_file()


# --- output into a closed pipe ----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["models"], ["validate", "RUN"], ["query", "--run", "RUN", "never-tagged"]])
def test_closed_stdout_is_quiet(full_run: Path, argv: list[str]) -> None:
    """``kgfilters ... | head``: the reader is gone before the first line; no traceback, exit 141."""
    cmd = [sys.executable, "-m", "kgfilters.cli", *(str(full_run) if a == "RUN" else a for a in argv)]
    read, write = os.pipe()
    os.close(read)  # nobody will ever read: every write fails with EPIPE
    try:
        proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[2])
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr == "" and proc.returncode == 141, (proc.returncode, proc.stderr)


# --- smaller: saved names, permissions, checkpoint cadence -------------------------------------------


def test_explain_save_of_two_files_with_one_name(full_run: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    for folder, col in (("a", 1), ("b", 6)):
        (tmp_path / folder).mkdir()
        img = np.zeros((28, 28), dtype=np.uint8)
        img[2:10, col:col + 8] = 220
        Image.fromarray(img).save(tmp_path / folder / "shoe.png")
    for folder in ("a", "b", "a"):
        code, _, err = _cli(capsys, "explain", "--run", full_run, "--image", tmp_path / folder / "shoe.png",
                            "--save", "--json")
        assert code == 0, err
    saved = sorted((full_run / "explanations").glob("file-shoe-*.json"))
    assert len(saved) == 2  # one per file; explaining a/shoe.png again replaced its own
    paths = {json.loads(p.read_text())["path"] for p in saved}
    assert paths == {str(tmp_path / "a" / "shoe.png"), str(tmp_path / "b" / "shoe.png")}


def test_rewritten_files_keep_their_permissions(tmp_path: Path) -> None:
    from kgfilters.atomic import atomic_write_json, atomic_write_text

    private = tmp_path / "run.json"
    private.write_text("{}")
    private.chmod(0o600)
    atomic_write_json(private, {"a": 1})
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and json.loads(private.read_text()) == {"a": 1}
    shared = tmp_path / "shared.txt"
    shared.write_text("x")
    shared.chmod(0o664)
    atomic_write_text(shared, "y")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    umask = os.umask(0)
    os.umask(umask)
    fresh = atomic_write_text(tmp_path / "new.txt", "z")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_tag_rewrites_tags_with_their_permissions(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (full_run / "tags.json").chmod(0o600)
    (full_run / "run.json").chmod(0o640)
    before = run_checksums(full_run)
    code, _, err = _cli(capsys, "tag", "--run", full_run, "--k", "2", "--no-progress")
    assert code == 0, err
    after = run_checksums(full_run)
    assert before["tags.json"] != after["tags.json"]  # rewritten...
    assert stat.S_IMODE((full_run / "tags.json").stat().st_mode) == 0o600  # ...with its mode
    assert stat.S_IMODE((full_run / "run.json").stat().st_mode) == 0o640


def test_checkpoints_by_default_every_tenth_of_the_images(tmp_path: Path) -> None:
    from torch import nn

    from kgfilters.data import TensorImages
    from kgfilters.models import ModelSpec
    from kgfilters.stats import compute_stats, default_checkpoint_every

    assert default_checkpoint_every(8000, 256) == 3  # the defaults: 32 batches
    assert default_checkpoint_every(100, 256) == 1 and default_checkpoint_every(1000, 10) == 10
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3))
    spec = ModelSpec("t", lambda n: model, 1, 8, (0.5,), (0.5,))
    ds = TensorImages(torch.randint(0, 256, (100, 1, 8, 8), dtype=torch.uint8), torch.arange(100) % 2)
    kw = dict(layers=["0"], class_names=("a", "b"), device=torch.device("cpu"), batch_size=5, progress=False)
    whole = compute_stats(model, spec, ds, **kw)
    ckpt = tmp_path / "ckpt.safetensors"

    def kill(batch: int) -> None:
        if batch == 3:  # 15% of the images: one checkpoint (after 2 of 20 batches) must exist
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compute_stats(model, spec, ds, checkpoint=ckpt, on_batch=kill, **kw)
    from safetensors import safe_open

    with safe_open(str(ckpt), framework="pt") as f:
        assert f.metadata()["done"] == "10"
    seen: list[int] = []
    resumed = compute_stats(model, spec, ds, checkpoint=ckpt, on_batch=seen.append, **kw)
    assert seen[0] == 3 and torch.equal(resumed.layers["0"].sums, whole.layers["0"].sums)
    assert not ckpt.exists()


def test_inconsistent_checkpoint_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from torch import nn

    from kgfilters.data import TensorImages
    from kgfilters.models import ModelSpec
    from kgfilters.stats import _checkpoint_meta, _save_checkpoint, compute_stats

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3))
    spec = ModelSpec("t", lambda n: model, 1, 8, (0.5,), (0.5,))
    ds = TensorImages(torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8), torch.arange(20) % 2)
    kw = dict(layers=["0"], class_names=("a", "b"), device=torch.device("cpu"), batch_size=5, progress=False)
    whole = compute_stats(model, spec, ds, **kw)
    ckpt = tmp_path / "ckpt.safetensors"
    # right settings, but counts that do not add up to the images it claims
    _save_checkpoint(ckpt, _checkpoint_meta(["0"], 20, 5, 1, ""), 10,
                     {"0": torch.full((2, 3), 7.0, dtype=torch.float64)}, torch.tensor([1, 1]))
    got = compute_stats(model, spec, ds, checkpoint=ckpt, **kw)
    assert torch.equal(got.layers["0"].sums, whole.layers["0"].sums)
    assert any("inconsistent checkpoint" in r.getMessage() and "2 images counted but 10" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize(("content", "message"), [(b"not a png at all", "not a readable image"),
                                                  (None, "image too large to decode safely")])
def test_damaged_image_in_an_imagefolder_names_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    import numpy as np
    from PIL import Image

    from kgfilters.data import iter_batches, load_splits
    from kgfilters.errors import DataError

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((12, 12, 3), 40 * i, dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    bad = tmp_path / "dog" / "9.png"
    bad.write_bytes(content if content is not None else _png_header_only(100_000, 100_000))
    splits = load_splits(tmp_path, image_size=8, channels=1)
    with pytest.raises(DataError, match=f"9.png: {message}") as info:
        for _ in iter_batches(splits.train, 4):
            pass
    assert "\n" not in str(info.value)
