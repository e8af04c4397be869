"""``benchmarks/bench_export.py`` on the small built run: one JSON line, the streamed union equal to
the ``SELECT DISTINCT`` one it replaced, and a bad ``--run`` / ``--formats`` refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_export.py"


def test_bench_export_small(built_run: Path) -> None:
    r = subprocess.run([sys.executable, str(BENCH), "--run", str(built_run), "--formats", "nt,nq"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert set(out["export_s"]) == {"nt", "nq", "nt_select_distinct"}
    assert out["nt_equal_to_select_distinct"] is True
    assert out["export_peak_mb"]["nt"] > out["base_mb"] > 0
    assert set(out["nt_over_select_distinct"]) == {"seconds", "peak_mb"}


def test_bench_export_bad_options(tmp_path: Path, built_run: Path) -> None:
    for argv, message in ((["--run", str(tmp_path)], "no graph store"),
                          (["--run", str(built_run), "--formats", "nt,owl"], "--formats: owl: expected")):
        r = subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and message in r.stderr and r.stdout == ""
