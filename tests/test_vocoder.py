"""The ONNX HiFi-GAN bundle: verified on load, streaming equals whole-utterance, resynthesis is speech.

Skipped when the bundle has not been exported (``python -m vc_core.train.export_vocoder``).
Bounds come from ``benchmarks/vocoder_stream.py`` and the measurements quoted beside them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "models" / "_vocoder"
MODEL = "hifigan-universal.onnx"
if not (BUNDLE / MODEL).is_file():
    pytest.skip(f"{BUNDLE / MODEL} not exported", allow_module_level=True)

import soundfile as sf  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.errors import ModelBundleError  # noqa: E402
from vc_core.neural.vocoder import OnnxVocoder, StreamingVocoder  # noqa: E402

SPEECH = ROOT / "assets" / "speech_librivox.flac"
CLIP_FRAMES = 100  # 1.16 s: keeps the suite quick on two shared cores
PUSH_SIZES = (1, 3, 7, 64)
STREAM_MAX_MEL_L1 = 0.25  # measured 0.18 on speech (look-ahead 2); the vocoder's own resynthesis is 0.28
STREAM_MIN_SNR_DB = 20.0  # look-ahead 10 measured 28.5 dB on this clip, 25.8 dB on the whole 5.5 s
RESYNTH_MAX_MEL_L1 = 0.40  # measured 0.28; shuffled frames 1.46, output 20 frames late 2.5, noise 2.4


@pytest.fixture(scope="module")
def vocoder() -> OnnxVocoder:
    return OnnxVocoder(BUNDLE, threads=2)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The LibriVox clip at 22.05 kHz, cut to CLIP_FRAMES whole frames."""
    x, rate = sf.read(SPEECH, dtype="float32")
    g = np.gcd(VOCODER_RATE_HZ, rate)
    x22 = resample_poly(x, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)
    return x22[: CLIP_FRAMES * VOCODER_HOP]


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    return float(10.0 * np.log10(np.sum(ref**2) / max(float(np.sum((ref - test) ** 2)), 1e-30)))


def copy_bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "_vocoder"
    shutil.copytree(BUNDLE, dst)
    return dst


def test_stream_is_push_size_independent_and_matches_whole(vocoder: OnnxVocoder, speech: np.ndarray) -> None:
    mel = VocoderMel()(speech)
    whole = vocoder.vocode(mel)
    assert whole.shape == (CLIP_FRAMES * VOCODER_HOP,) and whole.dtype == np.float32
    outputs = []
    for push in PUSH_SIZES:
        s = StreamingVocoder(vocoder)
        parts = []
        for i in range(0, len(mel), push):
            out = s.push(mel[i : i + push])
            assert len(out) % (s.chunk_frames * VOCODER_HOP) == 0
            parts.append(out)
        owed = len(mel) * VOCODER_HOP - sum(len(p) for p in parts)
        assert owed <= s.latency_samples
        parts.append(s.flush())
        outputs.append(np.concatenate(parts))
    for push, out in zip(PUSH_SIZES[1:], outputs[1:], strict=True):
        np.testing.assert_array_equal(out, outputs[0], err_msg=f"push size {push} differs from push size 1")
    # the defaults trade waveform agreement for latency (look-ahead 2): the spectrum still agrees
    mel_of = VocoderMel()
    assert np.abs(mel_of(outputs[0]) - mel_of(whole)).mean() < STREAM_MAX_MEL_L1
    # with 10 frames of look-ahead the waveform itself matches
    exact = StreamingVocoder(vocoder, lookahead_frames=10)
    y = np.concatenate([exact.push(mel), exact.flush()])
    assert snr_db(whole, y) >= STREAM_MIN_SNR_DB


def test_resynthesis_of_speech_keeps_its_mel(vocoder: OnnxVocoder, speech: np.ndarray) -> None:
    mel_of = VocoderMel()
    mel = mel_of(speech)
    resynth = vocoder.vocode(mel)
    assert np.abs(mel_of(resynth) - mel).mean() < RESYNTH_MAX_MEL_L1
    # the bound tells speech from garbage: shuffled frames vocoded, the output 20 frames late, noise
    rng = np.random.default_rng(0)
    shuffled = vocoder.vocode(rng.permutation(mel))
    late = np.concatenate([np.zeros(20 * VOCODER_HOP, np.float32), resynth[: -20 * VOCODER_HOP]])
    noise = rng.standard_normal(len(resynth)).astype(np.float32) * resynth.std()
    for garbage in (shuffled, late, noise):
        assert np.abs(mel_of(garbage) - mel).mean() > 2 * RESYNTH_MAX_MEL_L1


def test_flush_and_reset(vocoder: OnnxVocoder) -> None:
    s = StreamingVocoder(vocoder)
    assert len(s.push(np.full((3, 80), -5.0, np.float32))) == 0
    assert len(s.flush()) == 3 * VOCODER_HOP
    assert len(s.flush()) == 0
    s.push(np.zeros((2, 80), np.float32))
    s.reset()
    assert len(s.flush()) == 0


def test_tampered_model_is_caught(tmp_path: Path) -> None:
    folder = copy_bundle(tmp_path)
    with (folder / MODEL).open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelBundleError, match=rf"files\['{MODEL}'\]: sha256 mismatch"):
        OnnxVocoder(folder)


def test_missing_model_is_caught(tmp_path: Path) -> None:
    folder = copy_bundle(tmp_path)
    (folder / MODEL).unlink()
    with pytest.raises(ModelBundleError, match=rf"files\['{MODEL}'\]: file is missing"):
        OnnxVocoder(folder)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("inputs", ["x"], r"declares inputs \['x'\]"),
        ("outputs", ["audio"], r"outputs \['audio'\]"),
    ],
)
def test_wrong_io_names_in_manifest(tmp_path: Path, key: str, value: list[str], fragment: str) -> None:
    folder = copy_bundle(tmp_path)
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    raw["onnx"][MODEL][key] = value
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelBundleError, match=fragment) as e:
        OnnxVocoder(folder)
    assert MODEL in str(e.value)
