"""The latency probe's core on synthetic recordings: known delays, gain, offset, noise, lost clicks."""

from __future__ import annotations

import numpy as np
import pytest

from vc_core.errors import ConfigError, DeviceError
from vc_core.io.latency_probe import make_probe_signal, measure_round_trip

RATE_HZ = 48000


def _record(
    played: np.ndarray, delay: int, *, gain: float = 1.0, offset: float = 0.0, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """What a loopback would record: `played` delayed by `delay` samples, scaled, offset and noisy, same length."""
    rec = np.zeros_like(played, dtype=np.float64)
    rec[delay:] = played[: len(played) - delay] * gain
    rng = np.random.default_rng(seed)
    return rec + offset + noise * rng.standard_normal(len(rec))


def test_probe_shape_level_and_spacing() -> None:
    probe = make_probe_signal(RATE_HZ, clicks=6, interval_s=0.2)
    assert probe.dtype == np.float32 and probe.ndim == 1
    assert np.max(np.abs(probe)) == pytest.approx(0.5, abs=0.01)
    # lead 0.2 s + 5 gaps of 0.2 s ± 15 % + 8 ms chirp + 0.5 s tail
    assert 1.6 * RATE_HZ < len(probe) < 1.9 * RATE_HZ
    assert np.all(probe[: int(0.2 * RATE_HZ)] == 0.0)


@pytest.mark.parametrize("delay", [0, 37, 1234])
def test_exact_delays_clean(delay: int) -> None:
    probe = make_probe_signal(RATE_HZ)
    m = measure_round_trip(probe, _record(probe, delay), RATE_HZ)
    assert m.n_detected == m.n_clicks == 8
    assert m.median_ms == pytest.approx(delay * 1000 / RATE_HZ, abs=0.01)
    assert m.spread_ms < 0.01


@pytest.mark.parametrize("delay", [0, 37, 1234, 20000])
def test_delays_with_gain_offset_and_noise(delay: int) -> None:
    probe = make_probe_signal(RATE_HZ)
    # -26 dB gain, DC offset, white noise about 7 dB below the returning chirp's RMS.
    rec = _record(probe, delay, gain=0.05, offset=0.2, noise=0.005, seed=delay)
    m = measure_round_trip(probe, rec, RATE_HZ)
    assert m.n_detected == 8
    assert m.median_ms == pytest.approx(delay * 1000 / RATE_HZ, abs=1000 / RATE_HZ)  # within 1 sample
    assert m.spread_ms < 2 * 1000 / RATE_HZ


def test_very_noisy_recording_needs_a_lower_threshold() -> None:
    probe = make_probe_signal(RATE_HZ)
    rec = _record(probe, 777, gain=0.05, noise=0.02, seed=3)  # noise 5 dB above the chirp: scores ≈ 0.5
    m = measure_round_trip(probe, rec, RATE_HZ, min_correlation=0.3)
    assert m.n_detected == 8
    assert m.median_ms == pytest.approx(777 / 48.0, abs=2 / 48.0)


def test_fractional_delay_and_inverted_polarity() -> None:
    probe = make_probe_signal(RATE_HZ).astype(np.float64)
    delay = 100.4  # samples, applied as a phase ramp
    spec = np.fft.rfft(probe, n=2 * len(probe))
    freqs = np.fft.rfftfreq(2 * len(probe))
    shifted = np.fft.irfft(spec * np.exp(-2j * np.pi * freqs * delay))[: len(probe)]
    m = measure_round_trip(probe, -shifted, RATE_HZ)
    assert m.median_ms == pytest.approx(delay * 1000 / RATE_HZ, abs=0.2 * 1000 / RATE_HZ)


def test_lost_and_late_clicks_leave_the_median_alone() -> None:
    probe = make_probe_signal(RATE_HZ, clicks=9)
    rec = _record(probe, 500, noise=0.001)
    onsets = np.flatnonzero(np.diff((np.abs(probe) > 0).astype(int)) == 1) + 1
    assert len(onsets) == 9
    chirp_len = 400
    rec[onsets[2] + 500 : onsets[2] + 500 + chirp_len] = 0.0  # dropped click
    rec[onsets[5] + 500 : onsets[5] + 500 + chirp_len] = 0.0  # one click a block late (glitch)
    rec[onsets[5] + 756 : onsets[5] + 756 + chirp_len] += probe[onsets[5] : onsets[5] + chirp_len]
    m = measure_round_trip(probe, rec, RATE_HZ)
    assert m.n_detected == 8 and m.n_clicks == 9
    assert m.median_ms == pytest.approx(500 * 1000 / RATE_HZ, abs=0.01)
    assert max(m.per_click_ms) == pytest.approx(756 * 1000 / RATE_HZ, abs=0.01)


def test_16k_probe_works() -> None:
    probe = make_probe_signal(16000, clicks=4)
    m = measure_round_trip(probe, _record(probe, 321, gain=2.0), 16000)
    assert m.n_detected == 4
    assert m.median_ms == pytest.approx(321 / 16.0, abs=0.01)


def test_column_vectors_accepted() -> None:
    probe = make_probe_signal(RATE_HZ, clicks=3)
    m = measure_round_trip(probe[:, None], _record(probe, 64)[:, None], RATE_HZ)
    assert m.median_ms == pytest.approx(64 / 48.0, abs=0.01)


def test_noise_only_recording_is_a_device_error() -> None:
    probe = make_probe_signal(RATE_HZ)
    rng = np.random.default_rng(1)
    with pytest.raises(DeviceError, match="probe clicks came back"):
        measure_round_trip(probe, 0.1 * rng.standard_normal(len(probe)), RATE_HZ)
    with pytest.raises(DeviceError, match="probe clicks came back"):
        measure_round_trip(probe, np.zeros(len(probe)), RATE_HZ)


def test_bad_arguments_are_config_errors() -> None:
    probe = make_probe_signal(RATE_HZ, clicks=2)
    with pytest.raises(ConfigError, match="silent"):
        measure_round_trip(np.zeros(100), np.zeros(100), RATE_HZ)
    with pytest.raises(ConfigError, match="shape"):
        measure_round_trip(np.stack([probe, probe], axis=1), probe, RATE_HZ)
    with pytest.raises(ConfigError, match="NaN"):
        measure_round_trip(probe, np.full(len(probe), np.nan), RATE_HZ)
    with pytest.raises(ConfigError, match="interval_s"):
        make_probe_signal(RATE_HZ, interval_s=0.005)
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        make_probe_signal(100)
