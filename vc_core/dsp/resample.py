"""Stateful polyphase resampling between device and model rates, with a short fixed delay.

Why not soxr's stream: its high-quality modes hold back output in bursts of ~20-40 ms, which is
latency a live path cannot afford. This windowed-sinc polyphase filter has a half-length of
``half_width_ms`` (1 ms by default) and emits every sample as soon as its taps are available.

Rates: any pair of integer rates. Output is aligned (the filter delay is withheld, not
prepended), so pushing a file in one block or many gives identical samples.
Latency: ``latency_samples`` = filter delay + 1 at the output rate (about 1 ms).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.signal import firwin, resample_poly

from vc_core.stream import Audio, as_audio

KAISER_BETA = 8.6  # about 85 dB stop-band attenuation
PASSBAND_FRACTION = 0.92  # cutoff as a fraction of the lower Nyquist frequency


class Resampler:
    """Streaming resampler from ``rate_in_hz`` to ``rate_out_hz`` (mono float32)."""

    def __init__(self, rate_in_hz: int, rate_out_hz: int, half_width_ms: float = 1.0) -> None:
        if rate_in_hz <= 0 or rate_out_hz <= 0:
            raise ValueError(f"rates must be positive, got {rate_in_hz} -> {rate_out_hz}")
        self._rate_in = int(rate_in_hz)
        self._rate_out = int(rate_out_hz)
        g = math.gcd(self._rate_in, self._rate_out)
        self.up = self._rate_out // g
        self.down = self._rate_in // g
        self.identity = self.up == self.down
        if self.identity:
            self._delay_out = 0
            self._taps = np.zeros((1, 1))
        else:
            up_rate = self.up * self._rate_in
            # delay at the up-sampled rate, a multiple of `down` so it is whole output samples
            delay_up = math.ceil(half_width_ms * 1e-3 * up_rate / self.down) * self.down
            n_taps = 2 * delay_up + 1
            cutoff_hz = PASSBAND_FRACTION * min(self._rate_in, self._rate_out) / 2
            proto = firwin(n_taps, cutoff_hz, window=("kaiser", KAISER_BETA), fs=up_rate) * self.up
            per_phase = math.ceil(n_taps / self.up)
            padded = np.zeros(per_phase * self.up)
            padded[:n_taps] = proto
            # taps[p, k] multiplies x[m0 - k] for output phase p
            self._taps = padded.reshape(per_phase, self.up).T.copy()
            self._delay_out = delay_up // self.down
        self._hist_len = self._taps.shape[1]
        self.reset()

    @property
    def rate_in_hz(self) -> int:
        return self._rate_in

    @property
    def rate_out_hz(self) -> int:
        return self._rate_out

    @property
    def latency_samples(self) -> int:
        return 0 if self.identity else self._delay_out + 1

    def reset(self) -> None:
        # history holds the last `hist_len` inputs; absolute index of hist[0] is -hist_len
        self._buf: NDArray[np.float64] = np.zeros(self._hist_len, dtype=np.float64)
        self._buf_start = -self._hist_len
        self._n_in = 0  # real inputs pushed
        self._n_fed = 0  # inputs including flush padding
        self._next_out = 0  # next causal output index
        self._to_skip = self._delay_out
        self._n_emitted = 0

    def _run(self, x: Audio) -> Audio:
        if len(x):
            self._buf = np.concatenate([self._buf, x.astype(np.float64)])
            self._n_fed += len(x)
        # causal outputs n whose newest input floor(n*down/up) has arrived
        end = (self._n_fed * self.up + self.down - 1) // self.down
        if end <= self._next_out:
            return np.zeros(0, dtype=np.float32)
        n = np.arange(self._next_out, end, dtype=np.int64)
        t = n * self.down
        m0 = t // self.up
        phase = t % self.up
        idx = (m0 - self._buf_start)[:, None] - np.arange(self._hist_len)[None, :]
        y: NDArray[np.float64] = np.einsum("ij,ij->i", self._taps[phase], self._buf[idx])
        self._next_out = end
        keep_from = self._n_fed - self._hist_len - self._buf_start
        self._buf = self._buf[keep_from:]
        self._buf_start += keep_from
        if self._to_skip:
            k = min(self._to_skip, len(y))
            y = y[k:]
            self._to_skip -= k
        self._n_emitted += len(y)
        return y.astype(np.float32)

    def push(self, x: Audio) -> Audio:
        x = as_audio(x)
        if self.identity:
            return x.copy()
        self._n_in += len(x)
        return self._run(x)

    def _owed(self) -> int:
        total = (self._n_in * self.up + self.down - 1) // self.down
        return total - self._n_emitted

    def flush(self) -> Audio:
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        owed = self._owed()
        parts: list[Audio] = []
        got = 0
        pad = np.zeros(max(1, self._hist_len), dtype=np.float32)
        while got < owed:
            y = self._run(pad)
            parts.append(y)
            got += len(y)
        out = np.concatenate(parts)[:owed] if parts else np.zeros(0, dtype=np.float32)
        self.reset()
        return out


def resample_clip(wav: NDArray[np.floating], rate_in_hz: int, rate_out_hz: int) -> Audio:
    """A whole clip at another rate (scipy polyphase, Kaiser window): (T,) -> (T * out / in,).

    For clips held in memory (training data, reference clips); streams use :class:`Resampler`.
    """
    if rate_in_hz == rate_out_hz:
        return np.asarray(wav, dtype=np.float32)
    g = math.gcd(rate_in_hz, rate_out_hz)
    out: Audio = resample_poly(wav, rate_out_hz // g, rate_in_hz // g).astype(np.float32)
    return out
