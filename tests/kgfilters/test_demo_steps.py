"""``kgfilters demo``'s steps: every stage of the registry once, in an order the registry allows
(explanations after ``sensitive``), and the explain step records its stage with the generators'
fingerprint, its saved explanations carrying the areas the trained generators make."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from kgfilters.demo import STAGES as STEPS
from kgfilters.demo import explain_stage
from kgfilters.run import RunPaths, read_run_json, update_run_json
from kgfilters.stages import STAGES, fingerprint, run_status


def test_the_demo_runs_every_stage_once_in_registry_order() -> None:
    names = [n for step, _ in STEPS for n in step]
    assert names == [n for n in STAGES if n != "train"]  # train is the demo's first, separate step
    assert names.index("explain") > names.index("sensitive")


def test_the_explain_step_records_the_stage_and_saves_areas(pipeline_run: Path) -> None:
    run, paths = pipeline_run, RunPaths(pipeline_run)
    shutil.rmtree(paths.explanations)

    def forget(data: dict) -> None:
        del data["stages"]["explain"]

    update_run_json(run, forget)
    assert run_status(run)["explain"].state == "missing"
    lines = explain_stage(run, device=torch.device("cpu"), progress=False)
    config = read_run_json(run)
    rec = config["stages"]["explain"]
    assert rec["fingerprints"]["generators"] == fingerprint(paths, "generators", config) is not None
    assert run_status(run)["explain"].state == "done"
    saved = sorted(paths.explanations.glob("*.json"))
    assert rec["explanations"] == len(saved) == sum(line.startswith("explanation (") for line in lines)
    covered = {(m["layer"], f) for g in paths.generators.glob("*.json")
               for m in [json.loads(g.read_text())] for f in m["filters"]}
    for line in (ln for ln in lines if ln.startswith("explanation (")):
        f = Path(line.split(": ", 1)[1].split(" (", 1)[0])
        assert f in saved
        data = json.loads(f.read_text())
        got = {(a["layer"], a["filter"]) for a in data["sensitive_areas"]}
        left = {tuple(x) for x in data["no_generator"]}
        assert got <= covered and not (left & covered)  # every covered separating filter has its area
        assert f"sensitive areas of {len(got)} of its {len(got) + len(left)} separating filters" in line
