"""Streaming equals offline: every stage and the whole chain, over awkward block sizes."""

from __future__ import annotations

import numpy as np
import pytest

from vc_core.config import GateConfig, MixConfig, VoiceParams
from vc_core.dsp.resample import Resampler
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio, FixedLatency, HopStage
from vc_core.voices.library import VoiceLibrary, shipped_models_dir

BLOCK_SIZES = (1, 64, 65, 160, 320, 321, 4096, 8193)


def offline(stage: object, x: Audio) -> Audio:
    return np.concatenate([stage.push(x), stage.flush()])  # type: ignore[attr-defined]


def streamed(stage: object, x: Audio, block: int) -> Audio:
    fl = FixedLatency(stage)  # type: ignore[arg-type]
    return np.concatenate([fl.process(x[i : i + block]) for i in range(0, len(x), block)])


class _Delay(HopStage):
    """Identity on the aligned grid: checks HopStage bookkeeping exactly."""

    def __init__(self) -> None:
        super().__init__(24000, 240, 1024, 784)

    def process_hop(self, frame: Audio) -> Audio:
        n = len(frame)
        return frame[n - 784 - 240 : n - 784].copy()


def test_hop_stage_is_aligned_and_block_independent() -> None:
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    np.testing.assert_array_equal(offline(_Delay(), x), x)
    for b in BLOCK_SIZES:
        y = streamed(_Delay(), x, b)
        lat = _Delay().latency_samples
        np.testing.assert_array_equal(y[lat:], x[: len(x) - lat])


@pytest.mark.parametrize(("a", "b"), [(48000, 24000), (24000, 48000), (44100, 24000), (16000, 24000), (48000, 22050)])
def test_resampler_accuracy_and_alignment(a: int, b: int) -> None:
    t = np.arange(a // 2) / a
    x = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    y = offline(Resampler(a, b), x)
    assert len(y) == int(np.ceil(len(x) * b / a))
    ref = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(len(y)) / b)
    # aligned (no delay) and accurate away from the edges
    assert np.abs(y - ref)[100:-100].max() < 1e-4
    for block in (1, 65, 321, 4096):
        r = Resampler(a, b)
        z = np.concatenate([r.push(x[i : i + block]) for i in range(0, len(x), block)] + [r.flush()])
        np.testing.assert_array_equal(z, y)


def test_resampler_rejects_aliases() -> None:
    a, b = 48000, 24000
    t = np.arange(a) / a
    x = np.sin(2 * np.pi * 15000.0 * t).astype(np.float32)  # above the 12 kHz output Nyquist
    y = offline(Resampler(a, b), x)
    assert np.sqrt(np.mean(y[200:-200] ** 2)) < 1e-3


def test_chain_flush_is_silence_following_the_input() -> None:
    """Offline (flush) and live (silence keeps coming) agree to the last sample: a chain must not
    cut a resampler's ringing at its nominal end before the next stage hears it."""
    from vc_core.stream import Chain

    rate = 48000
    t = np.arange(int(0.3 * rate)) / rate
    x = (0.8 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # loud to the last sample

    def chain() -> Chain:
        return Chain([Resampler(rate, 22050), Resampler(22050, 16000), Resampler(16000, rate)])

    ref = offline(chain(), x)
    c = chain()
    live = np.concatenate([c.push(x), c.push(np.zeros(rate // 10, np.float32))])[: len(ref)]
    assert len(ref) == chain().output_length(len(x)) == len(x)
    np.testing.assert_allclose(ref, live, atol=1e-6)


@pytest.fixture(scope="module")
def lib() -> VoiceLibrary:
    return VoiceLibrary([shipped_models_dir()])


@pytest.mark.parametrize("voice_name", ["deep", "robot"])
def test_chain_streaming_equals_offline(lib: VoiceLibrary, voice_name: str) -> None:
    """The full live chain (48 kHz device, 24 kHz voice, gate on) over every block size."""
    rate = 48000
    rng = np.random.default_rng(1)
    t = np.arange(int(0.6 * rate)) / rate
    x = (0.2 * np.sin(2 * np.pi * 150 * t) * (t > 0.1) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    voice = lib.load(voice_name)
    settings = (VoiceParams(pitch_semitones=1.0), GateConfig(threshold_dbfs=-40.0), MixConfig(input_gain_db=3.0))

    def chain() -> VoiceChain:
        return VoiceChain(voice, rate, rate, *settings)

    ref = offline(chain(), x)
    assert len(ref) == len(x)
    lat = chain().latency_samples
    for b in BLOCK_SIZES:
        y = streamed(chain(), x, b)
        np.testing.assert_allclose(y[lat:], ref[: len(x) - lat], atol=1e-5, err_msg=f"block {b}")
        assert not np.any(y[:lat]), "the first latency_samples must be the declared silence"


def test_declared_chain_latency_is_true(lib: VoiceLibrary) -> None:
    """An impulse through the 'natural' voice comes out where the aligned contract says: at 0."""
    rate = 48000
    x = np.zeros(rate // 2, dtype=np.float32)
    x[rate // 4] = 1.0
    y = offline(VoiceChain(lib.load("natural"), rate, rate, gate=GateConfig(enabled=False)), x)
    assert abs(int(np.argmax(np.abs(y))) - rate // 4) <= 2
