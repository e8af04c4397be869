"""The ``explain`` stage: saved explanations (``explanations/*.json``) and their run.json record.

An explanation is saved one image at a time (``explain --save``), but the stage's record covers
every saved file: its fingerprints (the model, the tags and, when the run has them, the trained
generators that made the explanations' sensitive areas; ``kgfilters.stages``) say what they were
all made from. So saving one explanation while the stage is stale leaves the stage stale (the
others still predate the change), and ``resave_explanations`` (``explain --resave``, the command
``kgfilters status`` names) re-explains every saved one with the run as it is now.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import RunError
from kgfilters.lock import run_lock
from kgfilters.run import RunPaths, read_json, record_stage

if TYPE_CHECKING:
    import torch

    from kgfilters.explain import Explanation
    from kgfilters.stages import RunStatus

__all__ = ["explain_run", "resave_explanations", "save_explanation"]


def explain_run(
    root: str | os.PathLike[str],
    *,
    device: torch.device,
    index: int | None = None,
    image: str | None = None,
    layers: list[str] | None = None,
    top_fraction: float = 0.2,
    save: bool = False,
    areas: bool | None = None,
) -> Explanation:
    """Explain one held-out image or image file (FILTAG 2.2); with ``save``, write
    ``explanations/heldout-<index>.json`` (or ``file-<stem>-<hash>.json``) and record the stage.

    ``areas``: compute where the separating filters look (``Explanation.areas``, by the run's
    trained FSAGN generators); None (default) computes them when saving, so a saved explanation
    carries them into the graph as ``kgf:SensitiveArea`` nodes of its image. Refused (RunError
    naming the command to rerun) when the model or the tags are stale, or, when areas are
    computed and the run has trained generators, the ``sensitive`` stage."""
    from kgfilters.explain import explain_image
    from kgfilters.stages import require_fresh

    want_areas = save if areas is None else areas
    with run_lock(root) if save else contextlib.nullcontext():
        status = require_fresh(root, "explain", optional=want_areas)
        run = _open(root, device)
        e = explain_image(run, index=index, image=image, layers=layers, top_fraction=top_fraction,
                          areas=want_areas)
        if save:
            save_explanation(root, e, status=status)
    return e


def save_explanation(root: str | os.PathLike[str], e: Explanation, *,
                     status: RunStatus | None = None) -> Path:
    """Write ``explanations/heldout-<index>.json`` (or ``file-<stem>-<hash>.json``) atomically,
    under the run lock, and record stage ``explain``.

    ``status``: the run's status read before ``e`` was made (read now if None). When the stage
    was stale then, or had no record (files saved by an older kgfilters), and other explanations
    are saved, the record keeps it stale, naming them and why: they were made from other inputs
    (``explain --resave`` re-makes them)."""
    from kgfilters.explain import explanation_file_name
    from kgfilters.run import read_run_json
    from kgfilters.stages import STALE, records, run_status

    paths = RunPaths(Path(root))
    name = explanation_file_name(e)
    with run_lock(root):
        before = (status or run_status(root))["explain"]
        unrecorded = "explain" not in records(read_run_json(root))
        others = [p for p in paths.explanations.glob("*.json") if p.name != name]
        out = _write(paths, name, e)
        info = {"last": name, "explanations": len(others) + 1}
        if others and (before.state == STALE or unrecorded):
            what = "explanation was" if len(others) == 1 else "explanations were"
            why = before.reason if before.state == STALE else "no record of what they were made from"
            info["stale"] = f"{len(others)} other saved {what} made before it ({why})"
        record_stage(root, "explain", info)
    return out


def resave_explanations(root: str | os.PathLike[str], *, device: torch.device,
                        layers: list[str] | None = None, top_fraction: float = 0.2) -> tuple[Path, ...]:
    """Explain every saved explanation's image again, with its areas, and write each over its own
    file; record the stage (fresh). Returns the files, in name order.

    Held-out images are found by their index, image files by the path saved in the explanation.
    ``layers`` / ``top_fraction`` as for ``explain_run`` (the saved files do not keep the ones
    they were made with: the defaults, all tagged layers and 0.2, unless given). Every
    explanation is made before any file is written: a bad file (not an explanation, an image file
    gone) is a one-line RunError naming it, and the run's files are left as they were."""
    from kgfilters.explain import explain_image
    from kgfilters.stages import STAGES, require_fresh

    paths = RunPaths(Path(root))
    with run_lock(root):
        require_fresh(root, "explain")
        files = sorted(paths.explanations.glob("*.json"))
        if not files:
            raise RunError(f"{paths.explanations}: no saved explanations to re-save; save one with "
                           f"`{STAGES['explain'].command(root)}`")
        asked = [_source(f) for f in files]
        run = _open(root, device)
        made = [explain_image(run, index=index, image=image, layers=layers, top_fraction=top_fraction,
                              areas=True) for index, image in asked]
        out = tuple(_write(paths, f.name, e) for f, e in zip(files, made, strict=True))
        record_stage(root, "explain", {"last": files[-1].name, "explanations": len(files),
                                       "resaved": len(files)})
    return out


def _source(path: Path) -> tuple[int | None, str | None]:
    """(held-out index, image file) a saved explanation was made of; RunError naming the file."""
    data = read_json(path, expect=dict, what="explanation")
    image, index, split = data.get("path"), data.get("index"), data.get("split")
    if isinstance(image, str):
        if not Path(image).is_file():
            raise RunError(f"{path}: its image file {image} is gone; restore it or delete {path.name}, "
                           "then run again (nothing was written)")
        return None, image
    if split == "heldout" and isinstance(index, int) and not isinstance(index, bool):
        return index, None
    raise RunError(f"{path}: not a saved explanation (expected 'path': an image file, or 'split': "
                   f"'heldout' and an integer 'index'; found split={split!r}, index={index!r})")


def _write(paths: RunPaths, name: str, e: Explanation) -> Path:
    from kgfilters.explain import explanation_to_json

    return atomic_write_json(paths.explanations / name, explanation_to_json(e))


def _open(root: str | os.PathLike[str], device: torch.device):  # type: ignore[no-untyped-def]
    from kgfilters.pipeline import _open

    return _open(root, device)
