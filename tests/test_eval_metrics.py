"""The voice-quality metrics measure what they claim, on known pairs and on real speech.

Model tests skip where the ``eval`` extra is not installed (the dev extra installs it for `make test`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, librivox_clip
from tests.support.extras import import_extra
from vc_core.eval.metrics import EvalDependencyError, f0_correlation, normalize_text, require, wer
from vc_core.io.audiofile import read_audio

RATE = 16000
CARDS_CLIP = Path("/usr/share/pocketsphinx/test/data/cards/005.wav")  # another speaker, 3.5 s
LIBRIVOX_TEXT = (
    "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do "
    "for them"
)


# ----------------------------------------------------------------------------- WER


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("the cat sat", "the cat sat", 0.0),
        ("the cat sat", "the dog sat", 1 / 3),  # substitution
        ("the cat sat", "the sat", 1 / 3),  # deletion
        ("the cat sat", "the cat sat down", 1 / 3),  # insertion
        ("the cat sat", "", 1.0),
        ("the cat sat", "a dog stood up there", 5 / 3),  # WER can exceed 1
        ("one two three four", "two three four one", 2 / 4),  # a moved word costs two edits
        ("and mister john", "And Mr. John!", 0.0),  # case, punctuation and titles normalised
        ("ten of clubs", "10 of clubs.", 0.0),
        ("he was not an ill disposed man", "He was not an ill-disposed man.", 0.0),
    ],
)
def test_wer_known_pairs(ref: str, hyp: str, expected: float) -> None:
    assert wer(ref, hyp) == pytest.approx(expected)


def test_normalize_text_keeps_inner_apostrophes() -> None:
    assert normalize_text("Don't STOP, 'twas 3 o'clock...") == ["don't", "stop", "twas", "three", "o'clock"]


def test_missing_package_names_the_extra() -> None:
    with pytest.raises(EvalDependencyError, match=r'pip install -e "\.\[eval\]"') as e:
        require({"vc_no_such_module_for_test": "no-such-package", "numpy": "numpy"}, "this metric")
    assert "no-such-package" in str(e.value) and "numpy" not in str(e.value)


# ----------------------------------------------------------------------------- F0


def harmonic(f0_hz: np.ndarray, rate_hz: int = RATE) -> np.ndarray:
    """A voiced-like harmonic signal following the F0 contour ``f0_hz`` (one value per sample)."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate_hz
    x = np.zeros_like(phase)
    for k in range(1, 12):
        x += np.sin(k * phase) / k
    return (0.2 * x).astype(np.float32)


def contour(seconds: float = 4.0, rate_hz: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return 150.0 * 2.0 ** (0.5 * np.sin(2 * np.pi * 0.5 * t))  # +-6 semitones, one cycle per 2 s


def test_f0_correlation_with_itself_is_one() -> None:
    x = harmonic(contour())
    r = f0_correlation(x, RATE, x, RATE)
    assert r is not None and r > 0.99


def test_f0_correlation_ignores_a_constant_shift_and_rate() -> None:
    f0 = contour(rate_hz=24000)
    up = harmonic(f0 * 2 ** (5 / 12), 24000)  # a fourth up, at another sample rate
    r = f0_correlation(up, 24000, harmonic(contour()), RATE)
    assert r is not None and r > 0.98


def test_f0_correlation_of_a_reversed_contour_is_low() -> None:
    f0 = contour()
    r = f0_correlation(harmonic(f0), RATE, harmonic(f0[::-1].copy()), RATE)
    assert r is not None and r < 0.3, r


def test_f0_correlation_is_none_without_voicing() -> None:
    noise = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    assert f0_correlation(noise, RATE, np.zeros(RATE, np.float32), RATE) is None


# ----------------------------------------------------------------------------- models on real speech


@pytest.mark.slow
def test_whisper_transcribes_librivox() -> None:
    from vc_core.eval.metrics import WhisperTranscriber

    asr = WhisperTranscriber(REPO / ".cache", threads=1)
    x, rate = read_audio(librivox_clip())
    text = asr.transcribe(x, rate)
    assert wer(LIBRIVOX_TEXT, text) < 0.3, text


@pytest.mark.slow
def test_resemblyzer_tells_speakers_apart() -> None:
    import_extra("resemblyzer", "resemblyzer", "eval")  # also skips where setuptools>=81 broke its webrtcvad import
    from vc_core.eval.metrics import SpeakerSimilarity

    spk = SpeakerSimilarity(threads=1)
    x, rate = read_audio(librivox_clip())
    other, other_rate = read_audio(CARDS_CLIP)
    half = len(x) // 2
    a, b = spk.embed(x[:half], rate), spk.embed(x[half:], rate)
    c = spk.embed(other, other_rate)
    same, different = spk.cosine(a, b), max(spk.cosine(a, c), spk.cosine(b, c))
    assert same > different + 0.1, (same, different)


@pytest.mark.slow
def test_dnsmos_prefers_clean_speech() -> None:
    import_extra("speechmos", "speechmos", "eval")
    from vc_core.eval.metrics import Dnsmos

    mos = Dnsmos(threads=1)
    x, rate = read_audio(librivox_clip())
    rms = float(np.sqrt(np.mean(x**2)))
    noise = np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    noisy = x + noise * rms * 10 ** (-5 / 20)  # 5 dB SNR, white
    clean_s, noisy_s = mos.score(x, rate), mos.score(noisy, rate)
    assert clean_s.ovrl > noisy_s.ovrl + 0.5, (clean_s, noisy_s)
    assert clean_s.bak > noisy_s.bak + 0.5, (clean_s, noisy_s)
    quiet = mos.score(0.25 * x, rate)  # output gain is a user setting: scores are taken at one level
    assert quiet.ovrl == pytest.approx(clean_s.ovrl, abs=0.02)


def test_voice_summary_line() -> None:
    from vc_core.eval.quality import _summary

    row = {"sim_target": 0.8412, "wer": 0.091, "dnsmos_ovrl": 2.757, "f0_corr": None, "rtf": 4.1}
    assert _summary(row) == "sim_target 0.841, wer 0.091, dnsmos_ovrl 2.757, f0_corr -, rtf 4.100"
