"""App settings: schema migration and round trip (no Qt needed)."""

from __future__ import annotations

import json
from pathlib import Path

from app.settings import SCHEMA_VERSION, Settings, migrate


def test_migrates_v1_flat_settings() -> None:
    v1 = {
        "version": 1,
        "input_device": "USB Mic",
        "output_device": "Headphones",
        "voice": "robot",
        "pitch": -2,
        "formant": 0.9,
        "block_frames": 512,
        "geometry": "AAAA",
    }
    s = migrate(v1)
    assert s["schema"] == SCHEMA_VERSION
    assert s["devices"]["input"] == {"name": "USB Mic", "host_api": None}
    assert s["devices"]["output"] == {"name": "Headphones", "host_api": None}
    assert s["devices"]["monitor"] is None
    assert s["voice"] == "robot"
    assert s["controls"]["pitch_semitones"] == -2
    assert s["controls"]["formant_ratio"] == 0.9
    assert s["controls"]["gate_enabled"] is True  # new keys get defaults
    assert s["latency_preset"] == "safe"
    assert s["window"]["geometry"] == "AAAA"


def test_migrates_unversioned_and_repairs_bad_values() -> None:
    s = migrate({"input_device": 3, "block_frames": "big", "voice": "deep"})
    assert s["devices"]["input"] is None
    assert s["latency_preset"] == "balanced"
    s = migrate(
        {"schema": 2, "latency_preset": "ultra", "convert": {"format": "mp3"}, "controls": {"pitch_semitones": "x"}}
    )
    assert s["latency_preset"] == "balanced"
    assert s["convert"]["format"] == "wav"
    assert s["controls"]["pitch_semitones"] == 0.0


def test_newer_schema_keeps_what_it_understands() -> None:
    s = migrate({"schema": 99, "voice": "high", "hologram": True})
    assert s["schema"] == SCHEMA_VERSION
    assert s["voice"] == "high"
    assert "hologram" not in s


def test_round_trip_and_old_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "app_settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "output_device": "spk", "block_frames": 128}))
    s = Settings(path).load()
    assert s["devices"]["output"]["name"] == "spk"
    assert s["latency_preset"] == "low"
    s["voice"] = "giant"
    s.save()
    again = Settings(path).load()
    assert again["voice"] == "giant"
    assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION
    path.write_text("{not json")
    assert Settings(path).load()["voice"] == "deep"  # unreadable: defaults, no crash


def test_every_latency_preset_is_a_valid_setting_and_others_are_repaired() -> None:
    from app.viewmodels.live import PRESETS

    for name in PRESETS:
        assert migrate({"schema": SCHEMA_VERSION, "latency_preset": name})["latency_preset"] == name
    assert migrate({"schema": SCHEMA_VERSION, "latency_preset": "ludicrous"})["latency_preset"] == "balanced"
    assert sorted(p.block_frames for p in PRESETS.values()) == [64, 128, 256, 512, 1024]
