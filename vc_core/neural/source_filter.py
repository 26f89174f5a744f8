"""The CPU base's vocoder: harmonic-plus-noise synthesis shaped to the converter's log-mel (numpy).

``push(mel (n, 80), f0_hz (n,)) -> wav (256 n,)`` at 22.05 kHz, frame ``t`` standing for samples
``[256 t, 256 t + 256)`` as in :mod:`vc_core.dsp.mel`. No network and no look-ahead: the
pipeline's own (voice-mapped) F0 drives the source, the converter's mel the filter.

Per frame ``t``:

* **Source.** A band-limited pulse train at ``f0_hz[t]`` (all harmonics below Nyquist, equal
  amplitude, Schroeder phases so that its peaks stay low: a zero-phase pulse train has the crest
  factor of a click and drove the output into clipping) whose phase runs on from frame to frame,
  read from one tabulated period per number of harmonics, and a continuous white-noise stream. Both
  are read over the frame's synthesis window ``[256 t - 128, 256 t + 384)``, centred on the mel
  frame's own centre.
* **Filter.** Each source is windowed (square-root Hann, 512 samples), transformed (1024-point FFT)
  and measured on the vocoder's own 80 mel bands; a gain per band brings it to the target's mel,
  split between the harmonic and the noise part by an aperiodicity per band (all noise in unvoiced
  frames, more noise towards high bands in voiced ones). The noise is matched band by band; the
  pulse train by its average level over the upper bands (its spectrum is flat), so its harmonics
  stay where the F0 puts them and the mel only shapes them. The band gains are spread over the FFT
  bins by the filterbank's own triangles, the sum is inverse-transformed, windowed again and
  overlap-added (square-root Hann twice at hop 256 sums to one).
* **Calibration.** ``band_gain_db`` (80,) corrects what the window and the mel analysis bias:
  fitted once on real speech so that the mel of the output matches the mel it was made from
  (:func:`fit_band_gain`), stored in the base bundle.

Latency: samples up to ``256 t + 128`` are complete once frame ``t`` has arrived (the next
window starts there), so the vocoder owes half a hop, 128 samples (5.8 ms): ``latency_samples``.
The first push returns 128 samples fewer than ``256 n``, ``flush`` the last 128.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import VOCODER_FMAX_HZ, VOCODER_HOP, VOCODER_N_MELS, VOCODER_RATE_HZ, mel_filterbank

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

WINDOW = 2 * VOCODER_HOP  # 512-sample synthesis window, 50 % overlap
N_FFT = 1024  # zero-padded, so the band gains' short impulse responses do not wrap around
VOICED_NOISE_FLOOR = 0.03  # aperiodicity of the lowest band in voiced frames
VOICED_NOISE_START_HZ, VOICED_NOISE_FULL_HZ = 2500.0, 9000.0  # aperiodicity rises between these
VOICED_NOISE_MAX = 0.7
HARMONIC_LEVEL_BANDS = 40  # bands from here up (above ~2 kHz) hold several harmonics each


def _band_centres_hz() -> F64:
    fb = mel_filterbank(VOCODER_RATE_HZ, N_FFT, VOCODER_N_MELS, 0.0, VOCODER_FMAX_HZ).astype(np.float64)
    freqs = np.linspace(0.0, VOCODER_RATE_HZ / 2.0, N_FFT // 2 + 1)
    out: F64 = (fb @ freqs) / np.maximum(fb.sum(axis=1), 1e-12)
    return out


def voiced_aperiodicity() -> F32:
    """(80,) share of noise in each band of a voiced frame: small in the low bands, rising above 2.5 kHz."""
    f = _band_centres_hz()
    rise = np.clip((f - VOICED_NOISE_START_HZ) / (VOICED_NOISE_FULL_HZ - VOICED_NOISE_START_HZ), 0.0, 1.0)
    return (VOICED_NOISE_FLOOR + (VOICED_NOISE_MAX - VOICED_NOISE_FLOOR) * rise).astype(np.float32)


class SourceFilterVocoder:
    """Streaming harmonic-plus-noise vocoder; see the module docstring. Runs in the inference worker."""

    sample_rate_hz = VOCODER_RATE_HZ
    hop_samples = VOCODER_HOP
    n_mels = VOCODER_N_MELS
    latency_samples = VOCODER_HOP // 2  # the second half of the last frame's hop waits for the next frame

    def __init__(self, band_gain_db: F32 | None = None, seed: int = 0) -> None:
        gain_db = np.zeros(VOCODER_N_MELS, np.float32) if band_gain_db is None else np.asarray(band_gain_db, np.float32)
        if gain_db.shape != (VOCODER_N_MELS,) or not np.all(np.isfinite(gain_db)):
            raise ValueError(f"band_gain_db should be {VOCODER_N_MELS} finite values, got shape {gain_db.shape}")
        self._calibration = (10.0 ** (gain_db.astype(np.float64) / 20.0))[None, :]  # (1, 80)
        fb = mel_filterbank(VOCODER_RATE_HZ, N_FFT, VOCODER_N_MELS, 0.0, VOCODER_FMAX_HZ).astype(np.float64)
        self._fb = fb  # (80, 513)
        # band gains -> bin gains: each bin averages the bands whose triangles cover it; bins outside
        # every triangle (above 8 kHz) take the top band's gain
        cover = fb.sum(axis=0)
        spread = np.where(cover > 0, fb / np.where(cover > 0, cover, 1.0), 0.0)
        covered = np.flatnonzero(cover > 0)
        spread[0, : covered[0]] = 1.0
        spread[-1, covered[-1] + 1 :] = 1.0
        self._spread = spread  # (80, 513)
        n = np.arange(WINDOW)
        self._window = np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * n / WINDOW))  # periodic: sums to 1 squared
        self._ap_voiced = voiced_aperiodicity().astype(np.float64)[None, :]
        self._seed = seed
        warm_tables()
        self.reset()

    def reset(self) -> None:
        """Forget the stream: phase 0, the noise stream from its seed, nothing overlapping."""
        self._phase = 0.0  # source phase (radians) at the start of the next frame
        self._rng = np.random.default_rng(self._seed)
        self._noise = self._rng.standard_normal(VOCODER_HOP)  # the next frame's first hop of noise
        self._pending = np.zeros(VOCODER_HOP)  # overlap region [256 t + 128, 256 t + 384) of the last frame t
        self._started = False  # whether the first (stream-start) samples were dropped

    def push(self, mel: F32, f0_hz: F32) -> F32:
        """mel (n, 80) natural-log, f0_hz (n,) (0 = unvoiced) -> the n frames' samples (256 n,) float32."""
        if mel.ndim != 2 or mel.shape[1] != VOCODER_N_MELS or f0_hz.shape != (len(mel),):
            raise ValueError(f"expected mel (n, {VOCODER_N_MELS}) and f0 (n,), got {mel.shape} and {f0_hz.shape}")
        n = len(mel)
        if n == 0:
            return np.zeros(0, np.float32)
        f0 = np.asarray(f0_hz, np.float64)
        voiced = f0 > 0
        # sources over each frame's window [256 t - 128, 256 t + 384): harmonic (n, 512) and noise (n, 512)
        harm = np.zeros((n, WINDOW))
        k = np.arange(WINDOW)
        w0 = 2.0 * math.pi * np.where(voiced, f0, 0.0) / VOCODER_RATE_HZ  # radians per sample, per frame
        # phase at each frame's window start: the last push's, advanced one hop per frame at that frame's F0
        start = self._phase + np.concatenate([[0.0], np.cumsum(w0 * VOCODER_HOP)])
        for t in np.flatnonzero(voiced):
            harm[t] = _pulse_train(start[t] % (2.0 * math.pi) + w0[t] * k, table_harmonics(f0[t]))
        self._phase = float(start[n] % (2.0 * math.pi))
        fresh = self._rng.standard_normal(n * VOCODER_HOP)
        stream = np.concatenate([self._noise, fresh])  # hop t of the stream starts at 256 t
        self._noise = stream[-VOCODER_HOP:]
        noise = np.lib.stride_tricks.sliding_window_view(stream, WINDOW)[::VOCODER_HOP][:n]
        # spectra, their mel, and the band gains that bring them to the target
        h_spec = np.fft.rfft(harm * self._window, N_FFT, axis=1)
        n_spec = np.fft.rfft(noise * self._window, N_FFT, axis=1)
        target = np.exp(mel.astype(np.float64)) * self._calibration
        ap = np.where(voiced[:, None], self._ap_voiced, 1.0)
        # the pulse train's spectrum is flat on average: its level is measured where the bands hold many
        # harmonics, so a band between two harmonics is not boosted to the target (that would render the
        # target's own harmonics, at another F0, as noise)
        h_level = (np.abs(h_spec) @ self._fb[HARMONIC_LEVEL_BANDS:].T).mean(axis=1, keepdims=True) + 1e-9
        n_mel = np.abs(n_spec) @ self._fb.T + 1e-9
        g_h = np.sqrt(1.0 - ap) * target / h_level * voiced[:, None]
        g_n = np.sqrt(ap) * target / n_mel
        out_spec = h_spec * (g_h @ self._spread) + n_spec * (g_n @ self._spread)
        frames = np.fft.irfft(out_spec, N_FFT, axis=1)[:, :WINDOW] * self._window  # (n, 512)
        # overlap-add at hop 256: samples [256 t - 128, 256 t + 128) = last frame's overlap + head of frame t
        wav = np.empty(n * VOCODER_HOP)
        wav[:VOCODER_HOP] = self._pending + frames[0, :VOCODER_HOP]
        if n > 1:
            wav[VOCODER_HOP:] = (frames[:-1, VOCODER_HOP:] + frames[1:, :VOCODER_HOP]).reshape(-1)
        self._pending = frames[-1, VOCODER_HOP:].copy()
        if not self._started:  # the stream starts at sample 0, frame 0's window at -128
            self._started = True
            wav = wav[VOCODER_HOP // 2 :]
        return wav.astype(np.float32)

    def flush(self) -> F32:
        """The last 128 samples owed (the end of the last frame's hop), as if silence followed; resets."""
        tail = self._pending[: VOCODER_HOP // 2].astype(np.float32) if self._started else np.zeros(0, np.float32)
        self.reset()
        return tail


TABLE_SIZE = 2048  # samples of one tabulated period
F0_TABLE_MIN_HZ, F0_TABLE_MAX_HZ = 40.0, 1000.0  # the mapped F0 stays within 50..800 Hz (pitch features)
EXACT_HARMONICS = 16  # below this many harmonics each count has its own table; above, multiples of 4


def table_harmonics(f0_hz: float) -> int:
    """Harmonics of the table that renders ``f0_hz``: all below Nyquist, rounded down to a multiple
    of 4 above 16 (the few left out lie above 10 kHz, where the noise part dominates anyway)."""
    k = max(1, int(VOCODER_RATE_HZ / 2.0 / max(f0_hz, F0_TABLE_MIN_HZ)))
    return k if k < EXACT_HARMONICS else k - k % 4


def warm_tables() -> None:
    """Build every period table now (about 0.2 s once per process), not on the first voiced frames."""
    for k in sorted({table_harmonics(f) for f in np.geomspace(F0_TABLE_MIN_HZ, F0_TABLE_MAX_HZ, 400)}):
        _period_table(k)


@functools.cache
def _period_table(harmonics: int) -> F64:
    """One period (TABLE_SIZE + 1 samples, the last repeating the first) of sum_k cos(k x + theta_k),
    k = 1..harmonics, theta_k = -pi k (k - 1) / harmonics (Schroeder's low-crest phases), unit RMS."""
    x = 2.0 * math.pi * np.arange(TABLE_SIZE + 1) / TABLE_SIZE
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    theta = -math.pi * k * (k - 1) / harmonics
    table: F64 = np.cos(np.outer(x, k) + theta).sum(axis=1) / math.sqrt(harmonics / 2.0)
    return table


def _pulse_train(phase: F64, harmonics: int) -> F64:
    """The source at ``phase`` (radians, any range): the tabulated period, linearly interpolated."""
    pos = (phase % (2.0 * math.pi)) * (TABLE_SIZE / (2.0 * math.pi))
    i = np.minimum(pos.astype(np.int64), TABLE_SIZE - 1)
    w = pos - i
    table = _period_table(harmonics)
    out: F64 = table[i] * (1.0 - w) + table[i + 1] * w
    return out


def fit_band_gain(clips: list[tuple[F32, F32]], rounds: int = 2) -> F32:
    """The calibration (80,) dB that makes the vocoder's output mel match its input mel on average.

    ``clips``: (log-mel (n, 80), F0 (n,)) of real speech. Each round vocodes every clip, measures
    the output with :class:`vc_core.dsp.mel.VocoderMel` and moves each band by the mean
    difference over loud frames (where the mel floor does not hide it).
    """
    from vc_core.dsp.mel import VocoderMel

    analyse = VocoderMel()
    gain = np.zeros(VOCODER_N_MELS, np.float32)
    for _ in range(rounds):
        voc = SourceFilterVocoder(gain)
        diffs = []
        for mel, f0 in clips:
            voc.reset()
            wav = np.concatenate([voc.push(mel, f0), voc.flush()])
            got = analyse(wav)[: len(mel)]
            loud = mel.mean(axis=1) > np.quantile(mel.mean(axis=1), 0.5)
            diffs.append((mel - got)[loud])
        step_db = np.concatenate(diffs).mean(axis=0) * 20.0 / math.log(10.0)
        gain = (gain + step_db).astype(np.float32)
    return gain
