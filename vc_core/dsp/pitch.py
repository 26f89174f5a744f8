"""Fundamental frequency (F0) estimation: a YIN-class estimator, per frame and per signal.

The method follows de Cheveigné & Kawahara (2002): the difference function
``d(tau) = sum_j (x_j - x_{j+tau})^2`` over an integration window, its cumulative-mean
normalisation ``d'(tau)``, the first dip below ``threshold`` followed down to its local minimum,
and parabolic refinement of the lag. ``d`` is computed for many frames at once with one batched
FFT cross-correlation, so tracking a whole file costs a few milliseconds per second of audio.

Frequencies are in Hz, lags and lengths in samples at ``rate_hz``. Unvoiced frames report
``f0 = 0.0``. *Periodicity* is ``1 - d'(tau*)`` in [0, 1]: 1 for a perfectly periodic frame.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from vc_core.errors import ConfigError

F0_MIN_HZ_DEFAULT = 60.0  # below a deep male voice
F0_MAX_HZ_DEFAULT = 500.0  # above a high female / child speaking voice
YIN_THRESHOLD_DEFAULT = 0.3  # d' below this counts as voiced (misses fewer breathy frames than 0.1-0.2)
DIP_MARGIN = 0.05  # a dip qualifies within this much of the frame's global minimum of d'
SILENCE_RMS = 1e-4  # -80 dBFS: quieter frames are unvoiced without a search
MIN_INTEGRATION_SAMPLES = 32  # shortest sensible YIN integration window
FRAMES_PER_BATCH = 256  # bounds the memory of one batched FFT in track_f0

FloatArray = NDArray[np.float64]


def _lag_range(rate_hz: float, fmin_hz: float, fmax_hz: float) -> tuple[int, int]:
    """Return ``(tau_min, tau_max)`` in samples for the F0 search range, validated."""
    if rate_hz <= 0:
        raise ConfigError(f"rate_hz={rate_hz} must be > 0")
    if not 0 < fmin_hz < fmax_hz < rate_hz / 4:
        raise ConfigError(
            f"need 0 < fmin_hz < fmax_hz < rate_hz/4 = {rate_hz / 4:g} Hz, got fmin_hz={fmin_hz}, fmax_hz={fmax_hz}"
        )
    tau_min = max(2, math.floor(rate_hz / fmax_hz))
    tau_max = math.ceil(rate_hz / fmin_hz)
    return tau_min, tau_max


def min_frame_samples(rate_hz: float, fmin_hz: float) -> int:
    """Shortest frame (samples) that lets YIN see two periods of ``fmin_hz``."""
    tau_max = math.ceil(rate_hz / fmin_hz)
    return 2 * tau_max + 2


def yin_frames(
    frames: NDArray[np.floating],
    rate_hz: float,
    fmin_hz: float = F0_MIN_HZ_DEFAULT,
    fmax_hz: float = F0_MAX_HZ_DEFAULT,
    threshold: float = YIN_THRESHOLD_DEFAULT,
) -> tuple[FloatArray, FloatArray]:
    """YIN on a batch of frames.

    Args:
        frames: (n_frames, frame_samples) samples at ``rate_hz``; the integration window is
            ``frame_samples - tau_max - 1`` samples with ``tau_max = ceil(rate_hz / fmin_hz)``.
        rate_hz: sample rate in Hz.
        fmin_hz, fmax_hz: F0 search range in Hz.
        threshold: voicing threshold on the normalised difference d'; the chosen lag is the
            first dip below ``min(threshold, min(d') + DIP_MARGIN)``.

    Returns:
        ``(f0_hz (n_frames,), periodicity (n_frames,))``; ``f0_hz`` is 0.0 where unvoiced.
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected frames of shape (n_frames, frame_samples), got {x.shape}")
    tau_min, tau_max = _lag_range(rate_hz, fmin_hz, fmax_hz)
    n_frames, length = x.shape
    window = length - tau_max - 1
    if window < max(MIN_INTEGRATION_SAMPLES, tau_min):
        raise ConfigError(
            f"frame of {length} samples is too short for fmin_hz={fmin_hz} at {rate_hz} Hz: "
            f"need at least {tau_max + 1 + max(MIN_INTEGRATION_SAMPLES, tau_min)} samples"
        )
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold={threshold} must be in (0, 1)")
    f0 = np.zeros(n_frames)
    if n_frames == 0:
        return f0, np.zeros(0)

    # r(tau) = sum_{j<W} x_j x_{j+tau}, for tau = 0..tau_max+1, by FFT cross-correlation.
    n_fft = 1 << math.ceil(math.log2(length + window))
    spec = np.fft.rfft(x, n_fft, axis=1)
    head = np.fft.rfft(x[:, :window], n_fft, axis=1)
    r = np.fft.irfft(spec * np.conj(head), n_fft, axis=1)[:, : tau_max + 2]
    sq_cum = np.concatenate([np.zeros((n_frames, 1)), np.cumsum(x * x, axis=1)], axis=1)
    lags = np.arange(tau_max + 2)
    energy_tau = sq_cum[:, lags + window] - sq_cum[:, lags]  # sum_{j<W} x_{j+tau}^2
    d = np.maximum(energy_tau[:, :1] + energy_tau - 2.0 * r, 0.0)

    # Cumulative-mean normalised difference d'(tau) = d(tau) * tau / sum_{1..tau} d.
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    safe = cum > 0
    dn[:, 1:] = np.where(safe, d[:, 1:] * lags[1:] / np.where(safe, cum, 1.0), 1.0)

    # Bottom of the first dip below min(threshold, global minimum + DIP_MARGIN): the first lag
    # under that level that is not followed by a lower value ("first crossing, then descend").
    # The relative level lets a loose voicing threshold stay free of octave-too-high errors.
    seg = dn[:, tau_min : tau_max + 1]
    nxt = dn[:, tau_min + 1 : tau_max + 2]
    level = np.minimum(threshold, seg.min(axis=1, keepdims=True) + DIP_MARGIN)
    cand = (seg < level) & (nxt >= seg)
    has = cand.any(axis=1)
    rms = np.sqrt(sq_cum[:, -1] / length)
    voiced = has & (rms > SILENCE_RMS)
    best = tau_min + np.argmax(cand, axis=1)
    rows = np.arange(n_frames)
    prev_v = dn[rows, best - 1]
    mid_v = dn[rows, best]
    next_v = dn[rows, best + 1]
    curv = prev_v - 2.0 * mid_v + next_v
    offset = np.where(curv > 0, 0.5 * (prev_v - next_v) / np.where(curv > 0, curv, 1.0), 0.0)
    tau = best + np.clip(offset, -1.0, 1.0)
    f0[voiced] = rate_hz / tau[voiced]
    periodicity = np.where(has, 1.0 - mid_v, 1.0 - seg.min(axis=1))
    periodicity = np.clip(np.where(rms > SILENCE_RMS, periodicity, 0.0), 0.0, 1.0)
    return f0, periodicity


def yin_f0(
    frame: NDArray[np.floating],
    rate_hz: float,
    fmin_hz: float = F0_MIN_HZ_DEFAULT,
    fmax_hz: float = F0_MAX_HZ_DEFAULT,
    threshold: float = YIN_THRESHOLD_DEFAULT,
) -> tuple[float, float]:
    """F0 of one frame (frame_samples,) at ``rate_hz``: ``(f0_hz or 0.0, periodicity)``.

    The frame needs at least ``min_frame_samples(rate_hz, fmin_hz)`` samples.
    """
    f0, per = yin_frames(np.asarray(frame, dtype=np.float64)[None, :], rate_hz, fmin_hz, fmax_hz, threshold)
    return float(f0[0]), float(per[0])


def track_f0(
    x: NDArray[np.floating],
    rate_hz: float,
    hop_samples: int,
    fmin_hz: float = F0_MIN_HZ_DEFAULT,
    fmax_hz: float = F0_MAX_HZ_DEFAULT,
    threshold: float = YIN_THRESHOLD_DEFAULT,
    frame_samples: int | None = None,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """F0 track of a whole signal.

    Frame ``t`` is centred on sample ``t * hop_samples`` (the signal is zero-padded at both
    ends), so there are ``1 + len(x) // hop_samples`` frames.

    Args:
        x: (n,) mono samples at ``rate_hz``.
        hop_samples: frame step in samples.
        frame_samples: analysis length; default ``min_frame_samples(rate_hz, fmin_hz)``.

    Returns:
        ``(f0_hz (n_frames,), voiced (n_frames,))``; ``f0_hz`` is 0.0 where not voiced.
    """
    sig = np.asarray(x, dtype=np.float64)
    if sig.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got {sig.shape}")
    if hop_samples <= 0:
        raise ConfigError(f"hop_samples={hop_samples} must be > 0")
    length = frame_samples if frame_samples is not None else min_frame_samples(rate_hz, fmin_hz)
    n_frames = 1 + len(sig) // hop_samples
    half = length // 2
    padded = np.concatenate([np.zeros(half), sig, np.zeros(length)])
    all_frames = np.lib.stride_tricks.sliding_window_view(padded, length)[::hop_samples][:n_frames]
    f0 = np.zeros(n_frames)
    for start in range(0, n_frames, FRAMES_PER_BATCH):
        chunk = all_frames[start : start + FRAMES_PER_BATCH]
        f0[start : start + len(chunk)], _ = yin_frames(chunk, rate_hz, fmin_hz, fmax_hz, threshold)
    return f0, f0 > 0.0


def moved_f0(f0: NDArray[np.floating], median_hz: float) -> NDArray[np.floating]:
    """F0 track (Hz, 0 = unvoiced) with its intonation kept and its centre (the utterance mean of
    voiced log-F0) moved to ``median_hz``: a whole-utterance stand-in for the live path's running
    mean, used by the offline benchmarks."""
    out = f0.copy()
    v = f0 > 0
    if v.any():
        lf = np.log(f0[v])
        out[v] = np.exp(lf - lf.mean() + math.log(median_hz))
    return out
