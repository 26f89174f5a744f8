"""Log-mel spectrograms: the vocoder's acoustic features, offline and streaming.

:class:`VocoderMel` is the front end the HiFi-GAN V1 universal vocoder was trained on, at
22.05 kHz: periodic Hann window of 1024 samples, hop 256 (11.6 ms), 80 Slaney mels over
0-8 kHz, magnitude (not power) spectrum, natural log floored at 1e-5.

Framing (aligned, see :mod:`vc_core.stream`): frame ``t`` stands for output samples
``[256 t, 256 t + 256)`` and its window spans ``[256 t - 384, 256 t + 640)``, i.e. it is centred
on the middle of its hop. Audio before the start and after the end counts as silence (zeros),
so a stream and a whole file give the same frames. A signal of ``T`` samples has ``T // 256``
frames; computing frame ``t`` needs input up to sample ``256 t + 640`` - a look-ahead of 384
samples (17.4 ms) past the end of the frame's own hop.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]

VOCODER_RATE_HZ = 22050
VOCODER_HOP = 256
VOCODER_N_FFT = 1024
VOCODER_N_MELS = 80
VOCODER_FMAX_HZ = 8000.0
VOCODER_LOG_FLOOR = 1e-5
VOCODER_PAD_LEFT = (VOCODER_N_FFT - VOCODER_HOP) // 2  # 384: samples of the window before the hop
VOCODER_LOOKAHEAD = VOCODER_N_FFT - VOCODER_PAD_LEFT - VOCODER_HOP  # 384: samples after the hop


def hz_to_mel_slaney(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    f_break, mel_break, step = 1000.0, 15.0, 200.0 / 3.0
    logstep = math.log(6.4) / 27.0
    lin = f / step
    return np.where(f >= f_break, mel_break + np.log(np.maximum(f, 1e-9) / f_break) / logstep, lin)


def mel_to_hz_slaney(m: NDArray[np.float64]) -> NDArray[np.float64]:
    f_break, mel_break, step = 1000.0, 15.0, 200.0 / 3.0
    logstep = math.log(6.4) / 27.0
    return np.where(m >= mel_break, f_break * np.exp(logstep * (m - mel_break)), m * step)


def mel_filterbank(rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float = 0.0, fmax_hz: float | None = None) -> F32:
    """Slaney-normalised triangular mel filters, (n_mels, n_fft // 2 + 1), fmin_hz .. fmax_hz."""
    top = rate_hz / 2.0 if fmax_hz is None else fmax_hz
    fft_hz = np.linspace(0.0, rate_hz / 2.0, n_fft // 2 + 1)
    lo, hi = hz_to_mel_slaney(np.array(fmin_hz)), hz_to_mel_slaney(np.array(top))
    edges_hz = mel_to_hz_slaney(np.linspace(float(lo), float(hi), n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))
    fb *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return fb.astype(np.float32)


class VocoderMel:
    """wav (T,) at 22.05 kHz -> log-mel (T // 256, 80) float32, frames as in the module docstring."""

    rate_hz = VOCODER_RATE_HZ
    hop_samples = VOCODER_HOP
    n_mels = VOCODER_N_MELS
    lookahead_samples = VOCODER_LOOKAHEAD

    def __init__(self) -> None:
        self._fb = mel_filterbank(VOCODER_RATE_HZ, VOCODER_N_FFT, VOCODER_N_MELS, 0.0, VOCODER_FMAX_HZ)
        n = np.arange(VOCODER_N_FFT)
        self._window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / VOCODER_N_FFT)).astype(np.float32)

    def frames_from_padded(self, padded: F32) -> F32:
        """Frames of a buffer that already holds the 384 samples before frame 0's hop.

        ``padded`` (384 + 256 n + 384 + r,) -> (n, 80) for the largest such n.
        """
        n = max(0, (len(padded) - VOCODER_N_FFT) // VOCODER_HOP + 1)
        if n == 0:
            return np.zeros((0, VOCODER_N_MELS), np.float32)
        idx = np.arange(VOCODER_N_FFT)[None, :] + VOCODER_HOP * np.arange(n)[:, None]
        spec = np.fft.rfft(padded[idx] * self._window, axis=1)
        mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9).astype(np.float32)
        out: F32 = np.log(np.maximum(mag @ self._fb.T, VOCODER_LOG_FLOOR)).astype(np.float32)
        return out

    def __call__(self, wav: NDArray[np.floating]) -> F32:
        x = np.asarray(wav, dtype=np.float32)
        n = len(x) // VOCODER_HOP
        padded = np.concatenate(
            [np.zeros(VOCODER_PAD_LEFT, np.float32), x, np.zeros(VOCODER_LOOKAHEAD + VOCODER_HOP, np.float32)]
        )
        return self.frames_from_padded(padded)[:n]
