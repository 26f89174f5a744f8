"""Measured round-trip latency: play a train of short chirps, record, find each one by cross-correlation.

The core (`make_probe_signal`, `measure_round_trip`) is pure numpy/scipy and works on any pair of
signals; `measure_device_round_trip` plays the probe through a PortAudio duplex stream. The
result is the delay from a sample leaving the app's output buffer to the same sample arriving in
its input buffer: device buffers, host API and driver latency, the air or cable in between.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import signal

from vc_core.errors import ConfigError, DeviceError
from vc_core.io.pa import load_sounddevice

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

CHIRP_MS = 8.0
CHIRP_LOW_HZ = 500.0
CHIRP_HIGH_HZ = 6000.0  # kept below 0.4 × rate, so 16 kHz devices pass it too
PROBE_LEVEL = 0.5  # peak amplitude, full scale = 1
MIN_CORRELATION = 0.5  # normalised correlation a click must reach to count
MAX_DELAY_S = 1.0  # longest round trip searched for
MIN_DEVICE_CLICKS = 3  # a device measurement needs at least this many clicks back (and half of them)
_GAP_MS = 2.0  # silence that separates two clicks in the played signal
_JITTER = 0.15  # click intervals vary ±15 % so the train has one unambiguous alignment
_SEED = 20261127


@dataclass(frozen=True)
class LatencyMeasurement:
    """Round-trip delay in ms: median and p90−p10 spread over the clicks that were found.

    `xruns` counts stream callbacks that reported an over/underrun (device measurements only);
    an xrun can shift the latency of everything after it. `reported_ms` is what PortAudio claims
    (input + output latency of the stream), for comparison with the measured figure.
    """

    median_ms: float
    spread_ms: float
    per_click_ms: tuple[float, ...]
    n_detected: int
    n_clicks: int
    xruns: int = 0
    reported_ms: float | None = None


def _chirp(sample_rate_hz: int, chirp_ms: float) -> FloatArray:
    n = max(16, round(sample_rate_hz * chirp_ms / 1000.0))
    t = np.arange(n) / sample_rate_hz
    high = min(CHIRP_HIGH_HZ, 0.4 * sample_rate_hz)
    sweep = np.asarray(signal.chirp(t, f0=CHIRP_LOW_HZ, t1=t[-1], f1=high, method="linear"), dtype=np.float64)
    window = np.asarray(signal.windows.hann(n, sym=False), dtype=np.float64)
    out: FloatArray = (sweep * window).astype(np.float32)
    return out


def make_probe_signal(
    sample_rate_hz: int,
    clicks: int = 8,
    interval_s: float = 0.25,
    *,
    chirp_ms: float = CHIRP_MS,
    level: float = PROBE_LEVEL,
    lead_s: float = 0.2,
    tail_s: float = 0.5,
) -> FloatArray:
    """A (T,) float32 click train at `sample_rate_hz`: `clicks` Hann-windowed chirps (500 Hz up to 6 kHz).

    Clicks start after `lead_s` of silence, `interval_s` apart on average (±15 %, a fixed pattern),
    and `tail_s` of silence follows so the last click can come back; peak level is `level`.
    """
    if sample_rate_hz < 8000:
        raise ConfigError(f"sample_rate_hz={sample_rate_hz} is below 8000 Hz; use 8000–192000")
    if clicks < 1:
        raise ConfigError(f"clicks={clicks} must be at least 1")
    if not 0.0 < level <= 1.0:
        raise ConfigError(f"level={level} must be in (0, 1]")
    chirp = _chirp(sample_rate_hz, chirp_ms) * np.float32(level)
    min_interval_s = 2.0 * len(chirp) / sample_rate_hz + _GAP_MS / 1000.0
    if interval_s * (1.0 - _JITTER) < min_interval_s:
        shortest = min_interval_s / (1.0 - _JITTER)
        raise ConfigError(f"interval_s={interval_s} is too short for {chirp_ms} ms chirps; use ≥ {shortest:.3f}")
    rng = np.random.default_rng(_SEED)
    gaps = interval_s * (1.0 + _JITTER * rng.uniform(-1.0, 1.0, size=max(0, clicks - 1)))
    onsets = np.round((lead_s + np.concatenate(([0.0], np.cumsum(gaps)))) * sample_rate_hz).astype(np.int64)
    total = int(onsets[-1]) + len(chirp) + round(tail_s * sample_rate_hz)
    out = np.zeros(total, dtype=np.float32)
    for s in onsets:
        out[s : s + len(chirp)] = chirp
    return out


def _as_mono(x: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ConfigError(f"{what} must have shape (T,) or (T, 1), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{what} holds NaN or Inf")
    return a


def _click_spans(played: npt.NDArray[np.float64], sample_rate_hz: int) -> list[tuple[int, int]]:
    """[start, end) of each click: non-silent runs separated by at least _GAP_MS of silence."""
    peak = float(np.max(np.abs(played))) if played.size else 0.0
    if peak == 0.0:
        return []
    loud = np.flatnonzero(np.abs(played) > 1e-4 * peak)
    gap = max(1, round(sample_rate_hz * _GAP_MS / 1000.0))
    breaks = np.flatnonzero(np.diff(loud) > gap)
    starts = np.concatenate(([loud[0]], loud[breaks + 1]))
    ends = np.concatenate((loud[breaks], [loud[-1]])) + 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _coarse_lag(played: npt.NDArray[np.float64], recorded: npt.NDArray[np.float64], max_lag: int) -> int:
    """The lag (samples, ≥ 0) maximising |cross-correlation| of the whole train."""
    rec = recorded - np.mean(recorded)
    corr = signal.correlate(rec, played, mode="full", method="fft")
    zero = len(played) - 1  # index of lag 0
    window = np.abs(corr[zero : zero + max_lag + 1])
    return int(np.argmax(window))


def _refine(
    template: npt.NDArray[np.float64], recorded: npt.NDArray[np.float64], lo: int, hi: int
) -> tuple[float, float]:
    """(position in samples, |normalised correlation|) of `template` in recorded[lo:hi+len)."""
    n = len(template)
    seg = recorded[lo : hi + n]
    if len(seg) < n:
        return float("nan"), 0.0
    t = template - template.mean()
    t_norm = float(np.sqrt(np.sum(t * t)))
    dot = signal.correlate(seg, t, mode="valid", method="auto")
    # Local mean and energy of each window: makes the score blind to gain and a constant offset.
    csum = np.concatenate(([0.0], np.cumsum(seg)))
    csum2 = np.concatenate(([0.0], np.cumsum(seg * seg)))
    s1 = csum[n:] - csum[:-n]
    s2 = csum2[n:] - csum2[:-n]
    energy = np.maximum(s2 - s1 * s1 / n, 1e-20)
    ncc = dot / (t_norm * np.sqrt(energy))
    k = int(np.argmax(np.abs(ncc)))
    score = float(abs(ncc[k]))
    frac = 0.0
    if 0 < k < len(ncc) - 1:  # parabolic interpolation of the peak for sub-sample precision
        a, b, c = np.abs(ncc[k - 1 : k + 2])
        denom = a - 2.0 * b + c
        if denom < 0.0:
            frac = float(0.5 * (a - c) / denom)
    return lo + k + frac, score


def measure_round_trip(
    played: npt.ArrayLike,
    recorded: npt.ArrayLike,
    sample_rate_hz: int,
    *,
    max_delay_s: float = MAX_DELAY_S,
    min_correlation: float = MIN_CORRELATION,
    min_detected: int | None = None,
) -> LatencyMeasurement:
    """Delay of `recorded` (T,) behind `played` (T',) at `sample_rate_hz`, per click, in ms.

    A whole-train correlation finds the coarse delay (0 … `max_delay_s`); each click is then
    located within ±40 % of the shortest click gap by normalised cross-correlation, which ignores
    gain, polarity and a constant offset. Clicks whose peak is below `min_correlation` are
    rejected. Raises DeviceError when fewer than `min_detected` (default: half, at least 1) remain.
    """
    p = _as_mono(played, "played")
    r = _as_mono(recorded, "recorded")
    if sample_rate_hz <= 0:
        raise ConfigError(f"sample_rate_hz={sample_rate_hz} must be positive")
    spans = _click_spans(p, sample_rate_hz)
    if not spans:
        raise ConfigError("played signal is silent: pass the output of make_probe_signal")
    need = max(1, (len(spans) + 1) // 2) if min_detected is None else min_detected
    max_lag = min(round(max_delay_s * sample_rate_hz), len(r) - 1)
    if max_lag < 0:
        raise DeviceError("the recording is empty: the input stream delivered no audio")
    coarse = _coarse_lag(p, r, max_lag)
    starts = [s for s, _ in spans]
    min_gap = min(np.diff(starts)) if len(starts) > 1 else len(p)
    radius = max(1, int(0.4 * min_gap))
    delays: list[float] = []
    best = 0.0
    for start, end in spans:
        centre = start + coarse
        lo = max(0, centre - radius, start)  # never before the click was played
        hi = min(len(r) - (end - start), centre + radius)
        if hi < lo:
            continue  # click came back after the recording ended
        pos, score = _refine(p[start:end], r, lo, hi)
        best = max(best, score)
        if score >= min_correlation:
            delays.append((pos - start) * 1000.0 / sample_rate_hz)
    if len(delays) < need:
        raise DeviceError(
            f"only {len(delays)} of {len(spans)} probe clicks came back (best correlation {best:.2f}, "
            f"need {min_correlation}): check that the output really reaches the input (cable, routing, volume, mute)"
        )
    d = np.asarray(delays)
    p10, p50, p90 = np.percentile(d, [10.0, 50.0, 90.0])
    return LatencyMeasurement(float(p50), float(p90 - p10), tuple(float(x) for x in d), len(delays), len(spans))


@dataclass(frozen=True)
class DuplexRecording:
    """What `play_and_record` captured: (T,) float32 at the stream rate, same length as what was played."""

    recorded: FloatArray
    xruns: int
    reported_ms: float


def play_and_record(
    played: npt.ArrayLike,
    input_device: int | str,
    output_device: int | str,
    sample_rate_hz: int = 48000,
    blocksize: int = 256,
    *,
    latency: str | float = "low",
) -> DuplexRecording:
    """Play mono `played` (T,) on `output_device` while recording as many frames from `input_device`.

    One PortAudio duplex stream, so sample k of the recording and sample k of the playback share
    a callback: the lag between them is the round trip. Devices are PortAudio indexes (e.g.
    `DeviceInfo.index` from a fresh `find_device`) or names, on the same host API. `blocksize` is
    frames per callback (0: host's choice); `latency` is PortAudio's suggested latency ("low",
    "high" or seconds). Raises DeviceError when the stream cannot open or stops delivering audio.
    """
    if blocksize < 0:
        raise ConfigError(f"blocksize={blocksize} must be ≥ 0 (0 lets the host choose)")
    sd = load_sounddevice()
    out_signal = np.ascontiguousarray(_as_mono(played, "played"), dtype=np.float32)
    total = len(out_signal)
    rec = np.zeros(total, dtype=np.float32)
    pos = 0  # NB: written by the audio callback only; read after `done` is set
    xruns = 0  # NB: written by the audio callback only; read after `done` is set
    done = threading.Event()

    def callback(indata: Any, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        # Audio callback: copies into preallocated arrays only.
        nonlocal pos, xruns
        n = min(frames, total - pos)
        outdata[:n, 0] = out_signal[pos : pos + n]
        outdata[n:, 0] = 0.0
        rec[pos : pos + n] = indata[:n, 0]
        pos += n
        if status:
            xruns += 1
        if pos >= total:
            raise sd.CallbackStop

    try:
        stream = sd.Stream(
            samplerate=sample_rate_hz,
            blocksize=blocksize,
            device=(input_device, output_device),
            channels=1,
            dtype="float32",
            latency=latency,
            callback=callback,
            finished_callback=done.set,
        )
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(
            f"cannot open a duplex stream on input {input_device!r} + output {output_device!r} at "
            f"{sample_rate_hz} Hz, block {blocksize}: {exc}. Pick both devices on the same host API and a rate "
            "both support"
        ) from exc
    reported_ms = 1000.0 * float(sum(stream.latency))
    with stream:
        if not done.wait(timeout=total / sample_rate_hz + 5.0):
            raise DeviceError(
                f"the duplex stream on {input_device!r} + {output_device!r} stopped delivering audio "
                f"({pos} of {total} frames): the device may have vanished"
            )
    if xruns:
        log.info("play_and_record: %d callbacks reported over/underruns", xruns)
    return DuplexRecording(rec, xruns, reported_ms)


def measure_device_round_trip(
    input_device: int | str,
    output_device: int | str,
    sample_rate_hz: int = 48000,
    blocksize: int = 256,
    *,
    latency: str | float = "low",
    clicks: int = 8,
    interval_s: float = 0.25,
    level: float = PROBE_LEVEL,
    lead_s: float = 0.5,
) -> LatencyMeasurement:
    """Play the probe on `output_device` while recording `input_device` (see `play_and_record`) and measure.

    `lead_s` of silence lets the stream settle before the first click (its latency can still move
    in the first few hundred ms). Takes lead + clicks × interval + 0.5 s (≈ 2.8 s by default).
    A result with `xruns > 0` or a large `spread_ms` was disturbed: measure again. Raises
    DeviceError unless at least half the clicks, and at least ``MIN_DEVICE_CLICKS``, came back
    (the output does not reach the input).

    The figure holds for this stream only: reopening the same devices can settle on another
    latency (through PipeWire's ALSA plugin, opens differed by 5–30 ms on an idle machine and
    up to ~70 ms under full CPU load), so measure on the stream configuration, and ideally the
    stream, that the engine will use.
    """
    probe = make_probe_signal(sample_rate_hz, clicks, interval_s, level=level, lead_s=lead_s)
    got = play_and_record(probe, input_device, output_device, sample_rate_hz, blocksize, latency=latency)
    need = max(MIN_DEVICE_CLICKS, (clicks + 1) // 2)
    m = measure_round_trip(probe, got.recorded, sample_rate_hz, min_detected=need)
    return dataclasses.replace(m, xruns=got.xruns, reported_ms=got.reported_ms)
