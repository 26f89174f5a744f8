"""Real-speech corpus: a tiny corpus from synthetic 'recordings' is written, described and resumed.

The Debian packages are not needed: the files are injected (``build_real_corpus(files=...)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vc_core.train import corpus, real_speech
from vc_core.train.real_speech import RealFile


def _voiced(seconds: float, rate_hz: int, f0_hz: float, level: float, seed: int) -> np.ndarray:
    """A buzzy vowel-like tone with a little noise, 0.3 s of near-silence either side, (T,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    tone = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, 8))
    tone = level * tone / np.max(np.abs(tone)) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    quiet = 1e-4 * rng.standard_normal(int(0.3 * rate_hz))
    return np.concatenate([quiet, tone + 0.002 * rng.standard_normal(len(t)), quiet]).astype(np.float32)


def _files(tmp_path: Path) -> list[RealFile]:
    src = tmp_path / "src"
    src.mkdir()
    stereo = np.stack([_voiced(1.5, 44100, 180, 0.3, 1), _voiced(1.5, 44100, 180, 0.25, 2)], axis=1)
    sf.write(src / "frog_desc_fr.ogg", stereo, 44100)
    sf.write(src / "prompt.wav", _voiced(2.0, 8000, 220, 0.05, 3), 8000)
    sf.write(src / "grunt.wav", _voiced(0.3, 48000, 300, 0.5, 4), 48000)  # 0.3 s of sound: too short
    return [
        RealFile(src / "frog_desc_fr.ogg", "tuxpaint", "fr", "real-tux-fr", per_utterance=True, licence="GPL-2+"),
        RealFile(src / "prompt.wav", "armelle", "fr", "real-armelle", gender="f", licence="BSD"),
        RealFile(src / "grunt.wav", "hedgewars", "Pack", "real-hw-Pack", licence="GFDL"),
    ]


def _lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (out / corpus.MANIFEST).read_text().splitlines()]


def test_tiny_real_corpus_written_normalised_and_resumed(tmp_path: Path) -> None:
    files = _files(tmp_path)
    out = tmp_path / "c"
    summary = real_speech.build_real_corpus(out, 10.0, files=files, progress=False)
    entries = _lines(out)
    assert summary["written_now"] == summary["utterances"] == len(entries) == 2
    assert summary["skipped_now"] == {"short": 1}
    assert summary["utterances_per_source"] == {"armelle": 1, "tuxpaint": 1}
    by_source = {e["source"]: e for e in entries}
    assert set(by_source) == {"tuxpaint", "armelle"}
    tux, arm = by_source["tuxpaint"], by_source["armelle"]
    assert tux["speaker"] == "real-tux-fr-0000" and arm["speaker"] == "real-armelle"
    assert tux["gender"] == "unknown" and arm["gender"] == "f"
    assert tux["source_rate_hz"] == 44100 and arm["source_rate_hz"] == 8000
    assert tux["licence"] == "GPL-2+" and arm["licence"] == "BSD"
    assert set(tux) == set(corpus.Utterance.__dataclass_fields__)
    for e in entries:
        assert e["source_kind"] == "real" and e["text"] == "" and e["sentence_index"] == 0
        assert str(e["path"]).startswith("audio/") and str(e["path"]).endswith(f"/{e['id']}.flac")
        wav, rate = sf.read(out / str(e["path"]), dtype="float32")
        assert rate == e["rate_hz"] == 22050
        assert wav.ndim == 1
        assert abs(len(wav) / rate - float(e["duration_s"])) < 1e-3
        assert 1.4 < float(e["duration_s"]) < 2.3, "trimmed to the sound plus 50 ms either side"
        rms_db = 20 * np.log10(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
        assert rms_db == pytest.approx(corpus.TARGET_RMS_DBFS, abs=0.5)
        assert np.max(np.abs(wav)) <= corpus.PEAK_LIMIT + 1e-3
    assert json.loads((out / corpus.SUMMARY).read_text())["utterances"] == 2
    # what vc_core.train.dataset reads
    assert set(corpus.read_manifest(out)) == {e["id"] for e in entries}

    again = real_speech.build_real_corpus(out, 10.0, files=files, progress=False)
    assert again["written_now"] == 0
    assert _lines(out) == entries


def test_prepare_refuses_clipped_and_silent() -> None:
    x = _voiced(2.0, 22050, 150, 0.5, 5)
    clip, reason = real_speech.prepare(np.clip(x * 4, -1, 1), 22050)
    assert clip is None and reason == "clipped"
    clip, reason = real_speech.prepare(1e-5 * x, 22050)
    assert clip is None and reason == "silent"


def test_plan_is_seeded_and_round_robin_over_groups(tmp_path: Path) -> None:
    files = [
        RealFile(tmp_path / f"{lang}{i}.ogg", "tuxpaint", lang, f"real-tux-{lang}", per_utterance=True)
        for lang in ("fr", "ru", "en")
        for i in range(4)
    ]
    order = real_speech.plan(files, seed=0)["tuxpaint"]
    assert [p.file.group for p in order[:3]] == ["en", "fr", "ru"]
    assert [p.sentence_index for p in order] == list(range(12))
    assert len({p.speaker for p in order}) == 12
    assert [p.uid for p in real_speech.plan(files, seed=0)["tuxpaint"]] == [p.uid for p in order]
    assert [p.file.path for p in real_speech.plan(files, seed=1)["tuxpaint"]] != [p.file.path for p in order]


def test_sources_take_turns_by_minutes(tmp_path: Path) -> None:
    files = [RealFile(tmp_path / f"{s}{i}.wav", s, "g", s) for s in ("a", "b") for i in range(3)]
    minutes = {"a": 0.0, "b": 0.0}
    taken = []
    for p in real_speech.take_turns(real_speech.plan(files, seed=0), minutes):
        taken.append(p.file.source)
        minutes[p.file.source] += 2.0 if p.file.source == "a" else 1.0  # a's files are twice as long
    assert taken == ["a", "b", "b", "a", "b", "a"]


def test_language_from_stamp_description_names() -> None:
    lang = real_speech.tuxpaint_language
    assert lang(Path("frog_desc_fr.ogg")) == "fr"
    assert lang(Path("frog_desc.ogg")) == "en"
    assert lang(Path("inukshuk-photo_desc_da.ogg.ogg")) == "da"
    assert lang(Path("frog.ogg")) is None


def test_evaluation_speakers_are_refused(tmp_path: Path) -> None:
    bad = RealFile(Path("/usr/share/asterisk/sounds/en_US_f_Allison/hello.gsm"), "x", "g", "s")
    with pytest.raises(real_speech.RealSpeechError, match="evaluation"):
        real_speech.build_real_corpus(tmp_path / "c", 1.0, files=[bad], progress=False)


def test_missing_package_names_the_apt_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(real_speech, "package_installed", lambda package: package != "hedgewars-data")
    code = real_speech.main(["--out", str(tmp_path / "c"), "--minutes", "1", "--no-progress"])
    assert code == 2
    assert "sudo apt-get install hedgewars-data" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
