"""Persistent app settings: a JSON file in the user config dir, with a schema version and a migration.

Pure Python (no Qt), so migration is testable on its own. Devices are saved by name + host API,
never by PortAudio index. Window geometry is kept as base64 of ``QWidget.saveGeometry()``.

Schema history:

- v0 (no ``schema`` key) and v1: flat keys ``input_device``/``output_device`` (names only),
  ``voice``, ``pitch``, ``formant``, ``block_frames``.
- v2: nested ``devices`` (name + host API each, plus ``monitor``), ``controls`` with units in the
  names, ``latency_preset`` instead of a raw block size, ``convert`` and ``window``. Added later
  without a schema change (a file without it reads as the default): ``neural_base``, the base a
  neural voice runs on (``auto``, ``quality`` or ``realtime``, see :mod:`vc_core.neural.choice`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from vc_core.neural.choice import AUTO, BASE_CHOICES

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
APP_NAME = "voicechanger"
FILE_NAME = "app_settings.json"

DEFAULTS: dict[str, Any] = {
    "schema": SCHEMA_VERSION,
    "devices": {"input": None, "output": None, "monitor": None},  # each {"name": str, "host_api": str} or None
    "voice": "deep",
    "controls": {
        "pitch_semitones": 0.0,
        "formant_ratio": 1.0,
        "gate_enabled": True,
        "gate_threshold_dbfs": -50.0,
        "input_gain_db": 0.0,
        "output_gain_db": 0.0,
        "monitor_gain_db": 0.0,
        "monitor_wet_ratio": 1.0,
        "denoise": "off",  # mic cleanup: off | light (RNNoise) | strong (DeepFilterNet3)
    },
    "latency_preset": "balanced",
    "neural_base": AUTO,
    "convert": {"output_dir": "", "format": "wav"},
    "window": {"geometry": ""},
}


def default_path() -> Path:
    """``<user config dir>/voicechanger/app_settings.json`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / FILE_NAME


def _preset_for_block(block_frames: object) -> str:
    if not isinstance(block_frames, (int, float)):
        return "balanced"
    if block_frames <= 128:
        return "low"
    if block_frames <= 256:
        return "balanced"
    return "safe"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys applied recursively; keys unknown to ``base`` are dropped."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in out:
            continue
        if isinstance(out[k], dict) and isinstance(v, dict) and k != "devices":
            out[k] = _merge(out[k], v)
        elif k == "devices" and isinstance(v, dict):
            for role in ("input", "output", "monitor"):
                d = v.get(role)
                if isinstance(d, dict) and isinstance(d.get("name"), str):
                    out[k][role] = {"name": d["name"], "host_api": d.get("host_api")}
        elif out[k] is None or isinstance(v, type(out[k])) or (isinstance(out[k], float) and isinstance(v, int)):
            out[k] = v
    return out


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Any stored schema → the current one (unknown or malformed values fall back to defaults).

    A file from a newer app (schema above ours) keeps only what this version understands.
    """
    version = raw.get("schema", raw.get("version", 0))
    if not isinstance(version, int):
        version = 0
    data = dict(raw)
    if version < 2:

        def dev(name: object) -> dict[str, Any] | None:
            return {"name": name, "host_api": None} if isinstance(name, str) and name else None

        data = {
            "devices": {
                "input": dev(raw.get("input_device")),
                "output": dev(raw.get("output_device")),
                "monitor": None,
            },
            "voice": raw.get("voice", DEFAULTS["voice"]),
            "controls": {
                k: v
                for k, v in {"pitch_semitones": raw.get("pitch"), "formant_ratio": raw.get("formant")}.items()
                if isinstance(v, (int, float))
            },
            "latency_preset": _preset_for_block(raw.get("block_frames")),
            "window": {"geometry": raw.get("geometry", "")} if isinstance(raw.get("geometry"), str) else {},
        }
        log.info("settings migrated from schema %d to %d", version, SCHEMA_VERSION)
    elif version > SCHEMA_VERSION:
        log.warning(
            "settings schema %d is newer than this app's %d: keeping what is understood", version, SCHEMA_VERSION
        )
    out = _merge(DEFAULTS, data)
    if out["latency_preset"] not in ("lowest", "low", "balanced", "safe", "safest"):
        out["latency_preset"] = "balanced"
    if out["controls"]["denoise"] not in ("off", "light", "strong"):
        out["controls"]["denoise"] = "off"
    if out["neural_base"] not in BASE_CHOICES:
        out["neural_base"] = AUTO
    if out["convert"]["format"] not in ("wav", "flac", "ogg"):
        out["convert"]["format"] = "wav"
    out["schema"] = SCHEMA_VERSION
    return out


class Settings:
    """The settings document, loaded once and saved atomically on request."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.data: dict[str, Any] = copy.deepcopy(DEFAULTS)

    def load(self) -> Settings:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable settings %s: %s", self.path, e)
            return self
        if isinstance(raw, dict):
            self.data = migrate(raw)
        return self

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=2)
        os.replace(tmp, self.path)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
