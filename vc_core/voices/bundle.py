"""Voice bundles: a folder ``models/<name>/`` with a ``manifest.json`` that is verified on load.

Manifest fields (format_version 1)::

    format            "vc-voice-bundle"
    format_version    1
    name              folder-safe id, e.g. "deep"
    display_name      shown in lists
    kind              "effects" (more kinds register in vc_core.voices.kinds)
    description       one line
    sample_rate_hz    the rate the voice runs at
    hop_samples       hop at sample_rate_hz
    lookahead_samples look-ahead at sample_rate_hz
    files             {relative path: {"sha256": hex, "bytes": int}}
    licence           SPDX id or text, of the bundle and of any weights inside
    provenance        where the contents come from
    settings          kind-specific entry, e.g. {"effect": "effect.json"}
    onnx              (model kinds) {file: {"inputs": [...], "outputs": [...], "opset": int}}

Every failure raises :class:`ModelBundleError` naming the bundle, the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vc_core.errors import ModelBundleError

MODELS_DIR_ENV = "VC_MODELS_DIR"


def shipped_models_dir() -> Path:
    """``$VC_MODELS_DIR`` if set, else the repository's ``models/`` folder (voices and shared model bundles)."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


MANIFEST = "manifest.json"
FORMAT = "vc-voice-bundle"
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class OnnxSpec:
    """Declared interface of one ONNX file in a bundle."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    opset: int


@dataclass(frozen=True)
class Manifest:
    """A parsed and verified voice bundle manifest."""

    path: Path  # the bundle folder
    name: str
    display_name: str
    kind: str
    description: str
    sample_rate_hz: int
    hop_samples: int
    lookahead_samples: int
    files: dict[str, str]  # relative path -> sha256
    licence: str
    provenance: str
    settings: dict[str, Any] = field(default_factory=dict)
    onnx: dict[str, OnnxSpec] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency of the voice itself: look-ahead plus one hop."""
        return 1000.0 * (self.lookahead_samples + self.hop_samples) / self.sample_rate_hz

    def file(self, rel: str) -> Path:
        if rel not in self.files:
            raise ModelBundleError(f"{self.name}: manifest lists no file {rel!r}")
        return self.path / rel


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _require(raw: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise ModelBundleError(f"{where}: field {key!r} is missing")
    value = raw[key]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is int):
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ModelBundleError(f"{where}: field {key!r} = {value!r} should be {name}")
    return value


def read_manifest(folder: Path, verify_hashes: bool = True) -> Manifest:
    """Parse ``folder/manifest.json`` and verify it: fields, files present, sha256 match."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    where = str(mpath)
    if not folder.is_dir():
        raise ModelBundleError(f"voice bundle {folder} is not a folder")
    if not mpath.is_file():
        raise ModelBundleError(f"{where}: no manifest.json in the bundle folder")
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelBundleError(f"{where}: not valid JSON ({e})") from e
    if not isinstance(raw, dict):
        raise ModelBundleError(f"{where}: top level must be an object")
    if raw.get("format") != FORMAT:
        raise ModelBundleError(f"{where}: field 'format' = {raw.get('format')!r} should be {FORMAT!r}")
    version = _require(raw, "format_version", int, where)
    if version != FORMAT_VERSION:
        raise ModelBundleError(
            f"{where}: format_version {version} is not supported (this build reads {FORMAT_VERSION})"
        )
    name = _require(raw, "name", str, where)
    if not NAME_PATTERN.match(name):
        raise ModelBundleError(f"{where}: field 'name' = {name!r} must be lower-case letters, digits, '-' or '_'")
    rate = _require(raw, "sample_rate_hz", int, where)
    hop = _require(raw, "hop_samples", int, where)
    look = _require(raw, "lookahead_samples", int, where)
    if not 8000 <= rate <= 96000:
        raise ModelBundleError(f"{where}: field 'sample_rate_hz' = {rate} outside 8000..96000")
    if hop <= 0 or look < 0:
        raise ModelBundleError(f"{where}: hop_samples must be > 0 and lookahead_samples >= 0")
    files_raw = _require(raw, "files", dict, where)
    files: dict[str, str] = {}
    for rel, info in files_raw.items():
        fwhere = f"{where}: files[{rel!r}]"
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise ModelBundleError(f"{fwhere}: needs a 'sha256' string")
        target = (folder / rel).resolve()
        if folder.resolve() not in target.parents:
            raise ModelBundleError(f"{fwhere}: path leaves the bundle folder")
        if not target.is_file():
            raise ModelBundleError(f"{fwhere}: file is missing from {folder}")
        if verify_hashes:
            actual = sha256_file(target)
            if actual != info["sha256"]:
                raise ModelBundleError(
                    f"{fwhere}: sha256 mismatch (manifest {info['sha256'][:12]}…, file {actual[:12]}…): "
                    "the file was changed or damaged; reinstall the bundle"
                )
        files[rel] = info["sha256"]
    onnx: dict[str, OnnxSpec] = {}
    for rel, spec in (raw.get("onnx") or {}).items():
        owhere = f"{where}: onnx[{rel!r}]"
        if rel not in files:
            raise ModelBundleError(f"{owhere}: not listed under 'files'")
        if not isinstance(spec, dict):
            raise ModelBundleError(f"{owhere}: must be an object")
        onnx[rel] = OnnxSpec(
            inputs=tuple(_require(spec, "inputs", list, owhere)),
            outputs=tuple(_require(spec, "outputs", list, owhere)),
            opset=_require(spec, "opset", int, owhere),
        )
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise ModelBundleError(f"{where}: field 'settings' should be an object")
    return Manifest(
        path=folder,
        name=name,
        display_name=_require(raw, "display_name", str, where),
        kind=_require(raw, "kind", str, where),
        description=str(raw.get("description", "")),
        sample_rate_hz=rate,
        hop_samples=hop,
        lookahead_samples=look,
        files=files,
        licence=_require(raw, "licence", str, where),
        provenance=_require(raw, "provenance", str, where),
        settings=settings,
        onnx=onnx,
    )


def write_manifest(folder: Path, fields_: dict[str, Any]) -> Path:
    """Write a manifest for the files already in ``folder``, hashing each one listed.

    ``fields_['files']`` is a list of relative paths; the rest is copied as given.
    """
    folder = Path(folder)
    body = dict(fields_)
    body["format"] = FORMAT
    body["format_version"] = FORMAT_VERSION
    body["files"] = {
        rel: {"sha256": sha256_file(folder / rel), "bytes": (folder / rel).stat().st_size} for rel in fields_["files"]
    }
    out = folder / MANIFEST
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Build a bundle folder in ``<out>.part`` and rename it to ``out`` only when the block succeeds.

    A failure removes the partial folder and leaves an existing ``out`` untouched; on success an
    existing ``out`` is replaced.
    """
    tmp = out.with_name(out.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
