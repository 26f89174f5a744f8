"""JSON reports the command line writes (``--json``): whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_json_report(path: Path, report: Any) -> None:
    """Write ``report`` as indented JSON to ``path``, creating its folder: first to
    ``<path>.part``, then renamed, so a stopped run never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(report, indent=2, default=_plain) + "\n", encoding="utf-8")
    tmp.replace(path)


def _plain(value: object) -> object:
    """numpy scalars and arrays as the JSON numbers and lists they hold."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
