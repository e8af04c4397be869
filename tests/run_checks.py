"""``assert_run_unchanged``: a failing command must leave every file of the run byte-identical.

Usage::

    from tests.run_checks import assert_run_unchanged

    with assert_run_unchanged(run):
        assert main(["tag", "--run", str(run), "--k", "0"]) == 2

The block's run directory is checksummed (SHA-256 of every file, its permission bits, and the set
of files and folders) before and after; any file added, removed, rewritten or re-permissioned
fails the test with the list of differences. The run's lock file (``.lock``, which holds the pid of
the last writer and is not data) is left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["assert_run_unchanged", "run_checksums"]

LOCK_NAME = ".lock"  # kgfilters.run.RunPaths.lock


def run_checksums(root: Path) -> dict[str, str]:
    """``{relative path: "sha256 mode"}`` of every file and ``{folder/: "dir mode"}`` under ``root``
    (an absent root gives ``{}``)."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for d in dirnames:
            rel = (base / d).relative_to(root).as_posix() + "/"
            out[rel] = f"dir {stat.S_IMODE((base / d).stat().st_mode):o}"
        for f in filenames:
            if base == root and f == LOCK_NAME:
                continue
            p = base / f
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[p.relative_to(root).as_posix()] = f"{digest} {stat.S_IMODE(p.stat().st_mode):o}"
    return out


@contextlib.contextmanager
def assert_run_unchanged(root: Path) -> Iterator[dict[str, str]]:
    """Fail if anything under ``root`` changes inside the block; yields the checksums before."""
    before = run_checksums(root)
    assert before or not root.exists(), f"{root}: empty run directory, nothing to compare"
    yield before
    after = run_checksums(root)
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    assert not (changed or added or removed), (
        f"{root} changed: rewritten {changed}, added {added}, removed {removed}"
    )
