"""Corpus builder: a tiny espeak-ng corpus is written, described, resumed and reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vc_core.errors import VcError
from vc_core.train import corpus
from vc_core.train.sources import SourceError, build_sources

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (Debian)")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Seven thirsty oxen waded through the shallow ford.",
    "Could you pass me the thin blue thread?",
]
MINUTES = 0.25  # 15 s of speech: a handful of espeak utterances, well under a second to build


def _build(out: Path, **kw: object) -> dict[str, object]:
    args: dict[str, object] = dict(kinds=("espeak",), virtual_per_voice=1, sentences=SENTENCES, progress=False)
    args.update(kw)
    return corpus.build_corpus(out, MINUTES, **args)  # type: ignore[arg-type]


def _lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (out / corpus.MANIFEST).read_text().splitlines()]


def test_packaged_sentence_list_is_large_and_clean() -> None:
    lines = corpus.load_sentences()
    assert len(lines) >= 300
    assert len(set(lines)) == len(lines)
    assert all(5 <= len(ln) <= 120 for ln in lines)


def test_tiny_corpus_written_with_manifest_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "c"
    summary = _build(out)
    entries = _lines(out)
    assert summary["minutes"] >= MINUTES
    assert summary["utterances"] == len(entries) >= 3
    speakers = {e["speaker"] for e in entries}
    assert any("~p" in str(s) for s in speakers), "round-robin reaches a perturbed virtual speaker"
    for e in entries:
        wav, rate = sf.read(out / str(e["path"]), dtype="float32")
        assert rate == corpus.DEFAULT_RATE_HZ == e["rate_hz"]
        assert wav.ndim == 1
        assert abs(len(wav) / rate - float(e["duration_s"])) < 1e-3
        rms_db = 20 * np.log10(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
        assert np.max(np.abs(wav)) <= corpus.PEAK_LIMIT + 1e-3
        assert rms_db == pytest.approx(corpus.TARGET_RMS_DBFS, abs=6.0)
        assert e["text"] in SENTENCES
        assert e["source_kind"] == "espeak" and "GPL" in str(e["licence"])
        assert (e["pitch_semitones"] == 0.0) == ("~" not in str(e["speaker"]))
    assert json.loads((out / corpus.SUMMARY).read_text())["utterances"] == len(entries)


def test_resume_skips_written_and_reproduces_same_plan(tmp_path: Path) -> None:
    out = tmp_path / "c"
    _build(out)
    first = _lines(out)
    again = _build(out)
    assert again["written_now"] == 0
    assert _lines(out) == first

    # Lose the last file and tear the manifest's last line: only that utterance is redone.
    victim = first[-1]
    (out / str(victim["path"])).unlink()
    text = (out / corpus.MANIFEST).read_text()
    (out / corpus.MANIFEST).write_text(text[: text.rstrip("\n").rfind("\n") + 1] + '{"id": "torn')
    resumed = _build(out)
    assert resumed["written_now"] == 1
    assert (out / str(victim["path"])).exists()
    # the redone entry starts its own line instead of being glued onto the torn one
    assert str(victim["id"]) in corpus.read_manifest(out)

    # Same seed elsewhere: same utterances, same audio (espeak and the shifter are deterministic).
    other = tmp_path / "d"
    _build(other)
    a, b = first, _lines(other)
    assert [e["id"] for e in a] == [e["id"] for e in b]
    wa, _ = sf.read(out / str(a[0]["path"]))
    wb, _ = sf.read(other / str(b[0]["path"]))
    np.testing.assert_array_equal(wa, wb)
    # Another seed: another plan.
    third = tmp_path / "e"
    _build(third, seed=1)
    assert [e["id"] for e in _lines(third)] != [e["id"] for e in a]


def test_perturbations_are_fixed_by_seed_and_in_range() -> None:
    p1 = corpus.perturbations("x", "f", 5, seed=3)
    assert p1 == corpus.perturbations("x", "f", 5, seed=3)
    assert p1 != corpus.perturbations("x", "f", 5, seed=4)
    for p in p1:
        assert 2.0 <= abs(p.pitch_semitones) <= 5.5
        assert corpus.FORMANT_RANGE[0] <= p.formant_ratio <= corpus.FORMANT_RANGE[1]
        # formants move with the pitch (bigger or smaller vocal tract)
        assert (p.formant_ratio - 1.0) * p.pitch_semitones > -0.05


def test_perturbation_shifts_pitch() -> None:
    rate = 24000
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32)
    y, r = corpus.perturb(tone, rate, corpus.Perturbation(pitch_semitones=12.0, formant_ratio=1.0))
    assert r == rate and len(y) == len(tone)
    spec = np.abs(np.fft.rfft(y[rate // 4 : 3 * rate // 4] * np.hanning(rate // 2)))
    assert np.argmax(spec) * 2.0 == pytest.approx(300.0, abs=4.0)  # bins are 2 Hz apart


def test_bad_arguments_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(VcError, match="minutes"):
        corpus.build_corpus(tmp_path, 0.0, kinds=("espeak",), progress=False)
    with pytest.raises(VcError, match="rate_hz"):
        corpus.build_corpus(tmp_path, 1.0, kinds=("espeak",), rate_hz=44100, progress=False)
    with pytest.raises(SourceError, match="allowed"):
        build_sources(("nosuch",), tmp_path)


def test_cli_tiny_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sentences = tmp_path / "s.txt"
    sentences.write_text("# comment\n" + "\n".join(SENTENCES) + "\n")
    rc = corpus.main(
        [
            "--minutes",
            "0.1",
            "--out",
            str(tmp_path / "c"),
            "--sources",
            "espeak",
            "--virtual",
            "0",
            "--rate-hz",
            "16000",
            "--sentences",
            str(sentences),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "utterances" in capsys.readouterr().out
    entry = _lines(tmp_path / "c")[0]
    assert entry["rate_hz"] == 16000 and entry["source_rate_hz"] == 22050
    assert corpus.main(["--minutes", "1", "--out", str(tmp_path / "x"), "--sources", "bogus"]) == 2
