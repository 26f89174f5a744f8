"""Voice bundles are verified on load: every failure names the bundle, file and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vc_core.errors import ConfigError, ModelBundleError
from vc_core.voices.bundle import read_manifest
from vc_core.voices.library import VoiceLibrary, load_bundle, shipped_models_dir


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "models" / "deep"
    shutil.copytree(shipped_models_dir() / "deep", dst)
    return dst


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    path.write_text(json.dumps(raw))


def test_every_shipped_bundle_verifies_and_loads() -> None:
    entries = VoiceLibrary([shipped_models_dir()]).scan(verify_hashes=True)
    assert len(entries) >= 6
    for e in entries:
        assert e.error is None, e.error
        assert e.manifest is not None and e.manifest.licence and e.manifest.provenance
        load_bundle(e.folder)


def test_tampered_file_is_caught(bundle: Path) -> None:
    (bundle / "effect.json").write_text('{"pitch_semitones": 12}')
    with pytest.raises(ModelBundleError, match=r"files\['effect.json'\]: sha256 mismatch"):
        load_bundle(bundle)


def test_missing_file(bundle: Path) -> None:
    (bundle / "effect.json").unlink()
    with pytest.raises(ModelBundleError, match=r"effect.json'\]: file is missing"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": None}, "field 'name' is missing"),
        ({"sample_rate_hz": "fast"}, "field 'sample_rate_hz' = 'fast' should be int"),
        ({"kind": "hologram"}, "field 'kind' = 'hologram' is not known"),
        ({"format_version": 99}, "format_version 99 is not supported"),
        ({"hop_samples": 256}, "do not match the effects engine"),
        ({"files": {"../../etc/passwd": {"sha256": "0"}}}, "leaves the bundle folder"),
        ({"onnx": {"model.onnx": {"inputs": ["x"], "outputs": ["y"], "opset": 17}}}, "not listed under 'files'"),
    ],
)
def test_bad_manifest_fields(bundle: Path, changes: dict[str, object], fragment: str) -> None:
    edit_manifest(bundle, **changes)
    with pytest.raises(ModelBundleError, match=fragment.replace("[", r"\[")):
        load_bundle(bundle)


def test_not_json(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(ModelBundleError, match="not valid JSON"):
        read_manifest(bundle)


def test_library_lists_broken_bundles_and_names_unknown_voices(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("[]")
    lib = VoiceLibrary([bundle.parent])
    [entry] = lib.scan()
    assert entry.manifest is None and entry.error and "top level" in entry.error
    with pytest.raises(ModelBundleError, match="top level must be an object"):
        lib.load("deep")  # asking for the broken one says why it is broken
    with pytest.raises(ConfigError, match="unknown voice 'nosuch'"):
        lib.load("nosuch")


def test_the_shipped_models_stay_within_their_size_budget() -> None:
    """``models/`` is in git: at most 120 MB (the neural bases, vocoder, speaker encoder and voices)."""
    total = sum(f.stat().st_size for f in shipped_models_dir().rglob("*") if f.is_file())
    assert 10e6 < total <= 120e6, f"models/ holds {total / 1e6:.1f} MB"
