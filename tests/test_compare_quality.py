"""benchmarks/compare_quality.py: two quality reports paired by clip and voice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare_quality import compare, main

CLIPS = [{"name": "a"}, {"name": "b"}, {"name": "c"}]


def report(errors: dict[str, list[int]]) -> dict[str, Any]:
    rows = [
        {
            "voice": voice,
            "wer": sum(e) / 30,
            "sim_target": 0.8,
            "dnsmos_ovrl": 3.0,
            "f0_corr": None,
            "clips": [{"clip": c["name"], "word_errors": n} for c, n in zip(CLIPS, e, strict=True)],
        }
        for voice, e in errors.items()
    ]
    return {"clips": CLIPS, "rows": rows}


def test_pairs_conversions_by_clip_and_voice_and_leaves_the_source_out_of_the_counts() -> None:
    old = report({"source": [0, 1, 0], "x": [3, 2, 1], "y": [0, 0, 4], "gone": [9, 9, 9]})
    new = report({"source": [0, 1, 0], "x": [1, 2, 2], "y": [0, 0, 0]})
    lines = compare(old, new)
    assert lines[-2] == "word errors of the converted voices: 10 -> 5"
    assert lines[-1] == "paired by clip and voice: 2 better, 1 worse, 3 equal"
    assert [line.split()[0] for line in lines[1:-2]] == ["source", "x", "y"]  # "gone" is not in both
    assert lines[2].startswith("x           6 -> 5")


def test_refuses_reports_of_different_clips_or_files_not_written_by_quality(tmp_path: Path) -> None:
    other = report({"x": [1, 1, 1]})
    other["clips"] = [{"name": "a"}, {"name": "b"}, {"name": "z"}]
    with pytest.raises(SystemExit, match="different clips"):
        compare(report({"x": [1, 1, 1]}), other)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"voices": []}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report({"x": [1, 1, 1]})))
    with pytest.raises(SystemExit, match=r"bad\.json: no 'rows'/'clips'"):
        main([str(good), str(bad)])
    with pytest.raises(SystemExit, match=r"missing\.json: not a readable quality report"):
        main([str(tmp_path / "missing.json"), str(good)])
