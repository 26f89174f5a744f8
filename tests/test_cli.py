"""`vc` end to end: real conversions, batches, and every kind of bad input (exit 2, nothing lost)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import REPO, librivox_clip, write_wav
from vc_core.cli import main
from vc_core.io.audiofile import read_audio


def run_vc(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    vc = Path(sys.executable).parent / "vc"
    return subprocess.run([str(vc), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_convert_real_speech_shifts_pitch_and_keeps_length(tmp_path: Path) -> None:
    src = librivox_clip()
    before = digest(src)
    out = tmp_path / "deep.wav"
    r = run_vc("convert", src, out, "--voice", "high", "--pitch", "-1")
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout and "RTF" in r.stdout
    y, rate = read_audio(out)
    x, xr = read_audio(src)
    assert rate == 24000 and abs(len(y) / rate - len(x) / xr) < 1e-3
    assert np.isfinite(y).all() and 0.01 < np.abs(y).max() <= 1.0
    assert digest(src) == before
    assert [p.name for p in tmp_path.iterdir()] == ["deep.wav"]


def test_output_does_not_depend_on_block_size(tmp_path: Path) -> None:
    src = librivox_clip()
    for ms in ("7", "100", "3000"):
        assert main(["convert", str(src), str(tmp_path / f"b{ms}.flac"), "--block-ms", ms, "--voice", "robot"]) == 0
    a, _ = read_audio(tmp_path / "b7.flac")
    for ms in ("100", "3000"):
        b, _ = read_audio(tmp_path / f"b{ms}.flac")
        np.testing.assert_array_equal(a, b)


def test_batch_into_folder_with_stereo_and_other_rates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 200 * t), 0.5 * np.sin(2 * np.pi * 300 * t)], axis=1) * 0.3
    a = write_wav(tmp_path / "a.wav", stereo.astype(np.float32), 44100, "PCM_16")
    b = tmp_path / "b.ogg"
    sf.write(b, (0.1 * rng.standard_normal(22050)).astype(np.float32), 22050, format="OGG", subtype="VORBIS")
    out = tmp_path / "out"
    r = run_vc("convert", a, b, out, "--voice", "deep", "--format", "flac")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.deep.flac", "b.deep.flac"]


def test_voices_lists_the_shipped_presets() -> None:
    r = run_vc("voices", "--verify")
    assert r.returncode == 0, r.stderr
    for name in ("deep", "high", "robot", "giant", "chipmunk", "natural"):
        assert name in r.stdout


def test_simulate_cli_prints_latency_and_xruns(tmp_path: Path) -> None:
    r = run_vc("simulate", librivox_clip(), tmp_path / "live.wav", "--block-frames", "321", "--voice", "natural")
    assert r.returncode == 0, r.stderr
    assert "xruns      0" in r.stdout and "measured" in r.stdout


def test_bench_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = run_vc("bench", "--seconds", "2", "--voices", "deep", "robot", "--json", out)
    assert r.returncode == 0, r.stderr
    assert "RTF" in r.stdout and out.is_file()
    import json

    rows = json.loads(out.read_text())["voices"]
    assert [row["voice"] for row in rows] == ["deep", "robot"]
    assert all(0 < row["rtf_total"] < 5 for row in rows)


def test_bench_writes_no_file_unless_asked(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(Path(sys.executable).parent / "vc"), "bench", "--seconds", "1", "--voices", "robot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "RTF" in r.stdout and "written" not in r.stdout
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ bad input


def _bad_inputs(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, expected message fragment)."""
    good = np.zeros(16000, dtype=np.float32)
    empty = d / "empty.wav"
    empty.write_bytes(b"")
    zero = d / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    nan = good.copy()
    nan[8000] = np.nan
    nanf = write_wav(d / "nan.wav", nan, 16000)
    inf = good.copy()
    inf[100] = np.inf
    inff = write_wav(d / "inf.wav", inf, 16000)
    text = d / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    full = write_wav(d / "full.wav", (0.1 * np.ones(32000)).astype(np.float32), 16000, "PCM_16")
    trunc = d / "truncated.wav"
    trunc.write_bytes(full.read_bytes()[: 44 + 20000])
    return {
        "missing": (d / "nope.wav", "not found"),
        "empty": (empty, "empty"),
        "zero-length": (zero, "no samples"),
        "nan": (nanf, "NaN"),
        "inf": (inff, "NaN or infinite"),
        "not-audio": (text, "cannot read"),
        "truncated": (trunc, "truncated"),
        "folder": (d, "folder"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "zero-length", "nan", "inf", "not-audio", "truncated", "folder"])
def test_bad_inputs_exit_2_with_one_clear_line_and_leave_nothing(tmp_path: Path, case: str) -> None:
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    path, fragment = _bad_inputs(src_dir)[case]
    before = {p.name: digest(p) for p in src_dir.iterdir() if p.is_file()}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_vc("convert", path, out_dir / "x.wav")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vc: error:") and fragment in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert list(out_dir.iterdir()) == [], "no partial output may be left"
    assert {p.name: digest(p) for p in src_dir.iterdir() if p.is_file()} == before


def test_output_exists_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "o.wav"
    out.write_bytes(b"keep me")
    r = run_vc("convert", librivox_clip(), out)
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert out.read_bytes() == b"keep me"
    assert run_vc("convert", librivox_clip(), out, "--overwrite").returncode == 0
    assert read_audio(out)[1] == 24000


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--voice", "nosuch"], "unknown voice 'nosuch'"),
        (["--pitch", "20"], "pitch_semitones = 20.0 is out of range"),
        (["--pitch", "nan"], "pitch_semitones"),
        (["--formant", "2"], "formant_ratio = 2.0 is out of range"),
        (["--voice", "giant", "--pitch", "-5"], "total must stay within"),
        (["--block-ms", "0"], "block_ms"),
    ],
)
def test_bad_parameters(tmp_path: Path, args: list[str], fragment: str) -> None:
    r = run_vc("convert", librivox_clip(), tmp_path / "o.wav", *args)
    assert r.returncode == 2 and fragment in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_output_paths(tmp_path: Path) -> None:
    src = librivox_clip()
    cases = {
        tmp_path / "missing" / "o.wav": "does not exist",
        tmp_path / "o.mp4": "unsupported extension",
        Path("/proc/vc-test.wav"): "cannot write",
    }
    for out, fragment in cases.items():
        r = run_vc("convert", src, out)
        assert r.returncode == 2 and fragment in r.stderr, (out, r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_output_folder(tmp_path: Path) -> None:
    """The CLI converts into an existing folder; the library refuses a folder as a file name."""
    from vc_core.convert import convert_file
    from vc_core.errors import AudioFileError
    from vc_core.voices.library import VoiceLibrary

    d = tmp_path / "dir.wav"
    d.mkdir()
    with pytest.raises(AudioFileError, match="is a folder"):
        convert_file(VoiceLibrary.default().load("deep"), librivox_clip(), d)
    assert list(d.iterdir()) == []
    r = run_vc("convert", librivox_clip(), d)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in d.iterdir()] == [librivox_clip().stem + ".deep.wav"]


def test_usage_errors_exit_2() -> None:
    r = run_vc("convert", "only-one.wav")
    assert r.returncode == 2 and "needs an input and an output" in r.stderr
    assert run_vc("frobnicate").returncode == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir(mode=0o500)
    r = run_vc("convert", librivox_clip(), d / "o.wav")
    assert r.returncode == 2 and "not writable" in r.stderr


def test_json_reports_are_whole_and_leave_no_part_file(tmp_path: Path) -> None:
    import json

    from vc_core.io.reports import write_json_report

    out = tmp_path / "new" / "report.json"
    write_json_report(out, {"rtf": 0.5})
    write_json_report(out, {"rtf": 0.25})  # replaces the earlier report
    assert json.loads(out.read_text()) == {"rtf": 0.25}
    assert [p.name for p in out.parent.iterdir()] == ["report.json"]


def test_json_reports_take_numpy_values_and_refuse_other_objects_whole(tmp_path: Path) -> None:
    import json

    import numpy as np

    from vc_core.io.reports import write_json_report

    out = tmp_path / "report.json"
    write_json_report(out, {"rtf": np.float32(0.5), "n": np.int64(3), "rows": np.arange(2)})
    assert json.loads(out.read_text()) == {"rtf": 0.5, "n": 3, "rows": [0, 1]}
    with pytest.raises(TypeError, match="Path"):
        write_json_report(out, {"where": tmp_path})
    assert json.loads(out.read_text())["n"] == 3  # the earlier report is kept
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
