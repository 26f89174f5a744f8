"""The real-time base's parts that need no training: the source-filter vocoder and the choice of base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.helpers import librivox_clip
from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ, VocoderMel
from vc_core.dsp.pitch import track_f0
from vc_core.errors import ConfigError
from vc_core.neural.bundles import BASE_NAME, REALTIME_BASE_NAME
from vc_core.neural.choice import MAX_LIVE_RTF, QUALITY, REALTIME, choose_base
from vc_core.neural.source_filter import SourceFilterVocoder, fit_band_gain
from vc_core.train.dataset import frame_f0


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3 s of real speech at 22.05 kHz, its vocoder mel (n, 80) and YIN F0 (n,)."""
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    g = np.gcd(rate, VOCODER_RATE_HZ)
    x = resample_poly(wav, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)[: 3 * VOCODER_RATE_HZ]
    mel = VocoderMel()(x)
    return x, mel, frame_f0(x)[: len(mel)]


def _stream(voc: SourceFilterVocoder, mel: np.ndarray, f0: np.ndarray, sizes: list[int]) -> np.ndarray:
    voc.reset()
    out, i, k = [], 0, 0
    while i < len(mel):
        n = sizes[k % len(sizes)]
        out.append(voc.push(mel[i : i + n], f0[i : i + n]))
        i, k = i + n, k + 1
    return np.concatenate([*out, voc.flush()])


def test_source_filter_streams_exactly_as_one_call(speech: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    _, mel, f0 = speech
    voc = SourceFilterVocoder()
    whole = _stream(voc, mel, f0, [len(mel)])
    assert whole.shape == (VOCODER_HOP * len(mel),)
    for sizes in ([1], [0, 3, 7], [64, 1]):
        assert np.max(np.abs(_stream(voc, mel, f0, sizes) - whole)) < 1e-6, sizes
    first = SourceFilterVocoder().push(mel[:2], f0[:2])
    assert len(first) == 2 * VOCODER_HOP - voc.latency_samples  # the last half hop waits for the next frame


def test_source_filter_renders_the_mel_and_the_f0_it_is_given(
    speech: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, mel, f0 = speech
    gain = fit_band_gain([(mel, f0)])
    out = _stream(SourceFilterVocoder(gain), mel, f0, [5])
    got = VocoderMel()(out)[: len(mel)]
    loud = mel.mean(axis=1) > np.quantile(mel.mean(axis=1), 0.5)
    err = float(np.abs(got - mel)[loud].mean())
    assert err < 0.4, f"mel L1 on loud frames {err:.3f}"
    # a steady 180 Hz: YIN finds 180 Hz in the output's voiced frames
    steady = np.where(f0 > 0, 180.0, 0.0).astype(np.float32)
    y = _stream(SourceFilterVocoder(gain), mel, steady, [len(mel)])
    est, voiced = track_f0(y, VOCODER_RATE_HZ, VOCODER_HOP)
    assert voiced.mean() > 0.3
    assert abs(float(np.median(est[voiced])) - 180.0) < 3.0


def test_source_filter_refuses_a_bad_calibration() -> None:
    with pytest.raises(ValueError, match="band_gain_db"):
        SourceFilterVocoder(np.zeros(79, np.float32))
    with pytest.raises(ValueError, match="band_gain_db"):
        SourceFilterVocoder(np.full(80, np.nan, np.float32))


def _models(tmp_path: Path, *names: str) -> Path:
    for n in names:
        (tmp_path / n).mkdir(parents=True)
        (tmp_path / n / "manifest.json").write_text(json.dumps({"name": n}))
    return tmp_path


def test_auto_runs_the_realtime_base_on_a_slow_machine_and_remembers(tmp_path: Path) -> None:
    models = _models(tmp_path / "models", BASE_NAME, REALTIME_BASE_NAME)
    cache = tmp_path / "cache" / "speed.json"
    calls: list[Path] = []

    def slow(folder: Path) -> float:
        calls.append(folder)
        return 4.8  # HiFi-GAN and 4 s Whisper windows on a 2-core CPU

    c = choose_base("auto", models, cache, measure=slow)
    assert (c.base, c.folder_name) == (REALTIME, REALTIME_BASE_NAME)
    assert "4.80" in c.reason and "too slow" in c.reason and calls == [models / BASE_NAME]
    again = choose_base("auto", models, cache, measure=slow)
    assert again.base == REALTIME and len(calls) == 1 and "earlier" in again.reason  # cached per machine
    fast = choose_base(
        "auto", _models(tmp_path / "gpu", BASE_NAME, REALTIME_BASE_NAME), tmp_path / "g.json", lambda f: 0.1
    )
    assert fast.base == QUALITY and fast.quality_rtf == pytest.approx(0.1)
    edge = choose_base(
        "auto", _models(tmp_path / "edge", BASE_NAME, REALTIME_BASE_NAME), tmp_path / "e.json", lambda f: MAX_LIVE_RTF
    )
    assert edge.base == QUALITY


def test_the_user_overrides_and_missing_bases_are_named(tmp_path: Path) -> None:
    both = _models(tmp_path / "both", BASE_NAME, REALTIME_BASE_NAME)

    def never(folder: Path) -> float:
        raise AssertionError("an explicit choice measures nothing")

    assert choose_base("quality", both, tmp_path / "c.json", never).base == QUALITY
    rt = choose_base("realtime", both, tmp_path / "c.json", never)
    assert rt.base == REALTIME and rt.reason == "chosen by you" and rt.label == "Real time (CPU)"
    only_quality = _models(tmp_path / "q", BASE_NAME)
    c = choose_base("auto", only_quality, tmp_path / "c.json", never)
    assert c.base == QUALITY and "no real-time base" in c.reason
    with pytest.raises(ConfigError, match="realtime"):
        choose_base("realtime", only_quality, tmp_path / "c.json", never)
    with pytest.raises(ConfigError, match="choose one of"):
        choose_base("fastest", both, tmp_path / "c.json", never)


def test_an_unreadable_cache_is_measured_again(tmp_path: Path) -> None:
    models = _models(tmp_path / "m", BASE_NAME, REALTIME_BASE_NAME)
    cache = tmp_path / "speed.json"
    cache.write_text("{not json")
    assert choose_base("auto", models, cache, lambda f: 3.0).base == REALTIME
    assert json.loads(cache.read_text())  # rewritten whole
