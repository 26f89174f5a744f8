"""Streaming pitch and formant shifter ("voice effects"), 24 kHz mono, 10 ms hop.

Method (per hop, STFT of window ``WIN_SAMPLES`` and hop ``HOP_SAMPLES``):

1. Analysis: periodic Hann window, FFT with the phase referenced to the window centre.
2. Spectral envelope: cepstral smoothing of the log magnitude, refined by a few "true
   envelope" iterations so it rides on the harmonic peaks. The lifter cutoff is half the F0
   period (24..56 quefrency samples), from a per-hop YIN estimate held through unvoiced hops.
3. Excitation = spectrum / envelope. It is pitch-shifted by ``alpha`` with a peak-locked phase
   vocoder (Laroche & Dolson 1999): spectral peaks are found, each peak's true frequency ``w``
   comes from its phase advance since the previous hop, the bins of the peak's region move by
   ``round((alpha - 1) w)`` bins and are rotated by an accumulated per-peak phase, so that the
   phase at the window centre advances by exactly ``alpha * w * hop`` per hop.
4. The excitation is multiplied by the envelope warped by the formant ratio ``beta``
   (``env(f / beta)``); ``beta = 1`` keeps the formants where they were whatever the pitch.
5. Synthesis: inverse FFT, synthesis window normalised so analysis x synthesis windows
   overlap-add to exactly 1 at this hop, overlap-add into an accumulator.

Robot mode sets ``alpha = robot_hz / f0`` per hop from a YIN estimate of the frame, so every
voiced frame comes out on one flat F0. With identity parameters every bin maps to itself and
the stage reconstructs its input up to float rounding.

Timing: the hop that completes after the frame ending at sample ``end`` describes input
``[end - WIN, end - WIN + HOP)``, so the look-ahead is ``WIN - HOP`` = 784 samples (32.7 ms) and
the declared latency ``LOOKAHEAD + HOP - 1`` = 1023 samples (42.6 ms).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.pitch import yin_frames
from vc_core.errors import ConfigError
from vc_core.stream import Audio, HopStage

RATE_HZ = 24000
HOP_SAMPLES = 240  # 10 ms
WIN_SAMPLES = 1024  # 42.7 ms analysis window = FFT size; bins are 23.4 Hz apart
LOOKAHEAD_SAMPLES = WIN_SAMPLES - HOP_SAMPLES  # 784 samples, 32.7 ms
N_BINS = WIN_SAMPLES // 2 + 1

PITCH_SEMITONES_RANGE = (-12.0, 12.0)
FORMANT_RATIO_RANGE = (0.7, 1.4)
ROBOT_HZ_RANGE = (50.0, 400.0)
SEMITONES_PER_OCTAVE = 12.0

ENV_LIFTER_MAX = 56  # cepstral cutoff (samples of quefrency, 2.3 ms): resolves formants ...
ENV_LIFTER_MIN = 24  # ... and never smooths wider than 1 ms of quefrency
ENV_LIFTER_PER_PERIOD = 0.5  # cutoff as a fraction of the F0 period, so harmonics never leak in
ENV_LIFTER_TAPER = 8  # cepstral coefficients over which the lifter fades to 0 (less Gibbs ripple)
ENV_ITERATIONS = 3  # true-envelope refinements after the first cepstral smoothing
ENV_FLOOR_DB = -100.0  # envelope floor relative to the frame's peak bin: empty bands stay empty
MAG_FLOOR = 1e-12  # absolute magnitude floor before the log (float32 input, full scale 1)
SILENT_PEAK = 1e-3  # windowed-bin magnitude of a silent frame: a full-scale sine peaks at 256, so -108 dB
PEAK_HALF_WIDTH = 2  # a peak is larger than its 2 neighbours on each side (Hann main lobe)

FRAME_FMIN_HZ = 60.0  # F0 search range of the per-hop estimate (robot ratio, lifter cutoff)
FRAME_FMAX_HZ = 500.0
FRAME_YIN_THRESHOLD = 0.35  # loose: a missed voiced frame holds a stale ratio, a false alarm only re-pitches noise
ROBOT_ALPHA_RANGE = (0.25, 4.0)  # two octaves either way; beyond that a frame's F0 is suspect

DB_PER_NEPER = 20.0 / math.log(10.0)
TWO_PI = 2.0 * math.pi

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]


@dataclass(frozen=True)
class ShiftParams:
    """Voice-effect settings; validated on construction.

    Attributes:
        pitch_semitones: pitch shift in semitones, -12..12 (ignored while ``robot_hz`` is set).
        formant_ratio: spectral-envelope stretch, 0.7..1.4; > 1 moves formants up.
        robot_hz: if set, every voiced frame is re-pitched to this F0 in Hz, 50..400.
    """

    pitch_semitones: float = 0.0
    formant_ratio: float = 1.0
    robot_hz: float | None = None

    def __post_init__(self) -> None:
        _check_range("pitch_semitones", self.pitch_semitones, PITCH_SEMITONES_RANGE, "semitones")
        _check_range("formant_ratio", self.formant_ratio, FORMANT_RATIO_RANGE, "")
        if self.robot_hz is not None:
            _check_range("robot_hz", self.robot_hz, ROBOT_HZ_RANGE, "Hz")

    @property
    def pitch_ratio(self) -> float:
        """Frequency ratio of the pitch shift, ``2 ** (pitch_semitones / 12)``."""
        return float(2.0 ** (self.pitch_semitones / SEMITONES_PER_OCTAVE))

    @property
    def is_identity(self) -> bool:
        return self.pitch_semitones == 0.0 and self.formant_ratio == 1.0 and self.robot_hz is None


def _check_range(name: str, value: object, bounds: tuple[float, float], unit: str) -> None:
    lo, hi = bounds
    suffix = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}={value!r} must be a number in [{lo:g}, {hi:g}]{suffix}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ConfigError(f"{name}={value!r} is out of range: allowed {lo:g}..{hi:g}{suffix}")


def _analysis_window() -> FloatArray:
    """Periodic Hann window (WIN_SAMPLES,)."""
    n = np.arange(WIN_SAMPLES)
    return 0.5 - 0.5 * np.cos(TWO_PI * n / WIN_SAMPLES)


def _synthesis_window(analysis: FloatArray) -> FloatArray:
    """Synthesis window (WIN_SAMPLES,) such that sum over hops of analysis * synthesis == 1."""
    sq = analysis * analysis
    norm = np.zeros(WIN_SAMPLES)
    reach = -(-WIN_SAMPLES // HOP_SAMPLES)
    for m in range(-reach, reach + 1):
        shift = m * HOP_SAMPLES
        lo, hi = max(0, -shift), min(WIN_SAMPLES, WIN_SAMPLES - shift)
        if lo < hi:
            norm[lo:hi] += sq[lo + shift : hi + shift]
    return analysis / norm


def _lifters() -> FloatArray:
    """Cepstral lifters (ENV_LIFTER_MAX + 1, WIN_SAMPLES); row ``c`` keeps quefrencies up to
    ``c - ENV_LIFTER_TAPER`` and fades to 0 at ``c`` with a half cosine (rows below MIN unused)."""
    q = np.minimum(np.arange(WIN_SAMPLES), WIN_SAMPLES - np.arange(WIN_SAMPLES)).astype(np.float64)
    edge = np.arange(ENV_LIFTER_MAX + 1)[:, None] - ENV_LIFTER_TAPER
    fade = np.clip((q[None, :] - edge) / ENV_LIFTER_TAPER, 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(math.pi * fade)


class PitchFormantShifter(HopStage):
    """Pitch shifter (semitones), formant shifter (ratio) and robot voice as one streaming stage.

    24 kHz mono float32 in and out; hop 240 samples (10 ms), window 1024 samples, look-ahead
    784 samples (32.7 ms), latency 1023 samples (42.6 ms). Parameters set with
    :meth:`set_params` apply from the next hop; the phase vocoder keeps every partial's phase
    continuous across the change and overlap-add cross-fades the envelope, so there is no click.
    """

    RATE_HZ = RATE_HZ

    def __init__(self, params: ShiftParams) -> None:
        super().__init__(RATE_HZ, HOP_SAMPLES, WIN_SAMPLES, LOOKAHEAD_SAMPLES)
        # NB: written by the control thread (set_params, one reference swap); read once per hop
        # by the worker thread that runs process_hop.
        self._params = params
        self._win_a = _analysis_window()
        self._win_s = _synthesis_window(self._win_a)
        self._lifters = _lifters()
        self._bins = np.arange(N_BINS)
        self._bin_freq = TWO_PI * self._bins / WIN_SAMPLES  # rad/sample
        self._centre_sign = np.where(self._bins % 2 == 0, 1.0, -1.0)  # FFT phase at window centre
        self._expected_advance = self._bin_freq * HOP_SAMPLES
        self._env_floor = 10.0 ** (ENV_FLOOR_DB / 20.0)
        # Per-hop state, only touched by the worker thread.
        self._acc = np.zeros(WIN_SAMPLES)
        self._prev_phase = np.zeros(N_BINS)
        self._rotation = np.zeros(N_BINS)  # accumulated phase rotation of each input bin's region
        self._rotated = False  # any region rotation != 0 since the last silence
        self._f0_hz = 0.0  # last voiced frame's F0, 0.0 before the first

    @property
    def params(self) -> ShiftParams:
        return self._params

    def set_params(self, params: ShiftParams) -> None:
        """Replace the settings; they apply from the next hop (safe to call from another thread)."""
        self._params = params

    def reset_state(self) -> None:
        self._acc[:] = 0.0
        self._prev_phase[:] = 0.0
        self._rotation[:] = 0.0
        self._rotated = False
        self._f0_hz = 0.0

    def process_hop(self, frame: Audio) -> Audio:
        """Shift one frame (WIN_SAMPLES,) and return the completed hop (HOP_SAMPLES,) float32."""
        params = self._params
        spec = np.fft.rfft(frame.astype(np.float64) * self._win_a) * self._centre_sign
        mag = np.abs(spec)
        phase = np.angle(spec)
        if float(mag.max()) <= SILENT_PEAK:
            # Nothing to hear: forget the accumulated rotations, so identity is exact again.
            self._rotation[:] = 0.0
            self._rotated = False
        beta = params.formant_ratio
        # Keep rotating after a shift ends (alpha back to 1), or partials would jump in phase.
        if params.is_identity and not self._rotated:
            out_spec = spec
        else:
            f0, _ = yin_frames(frame[None, :], RATE_HZ, FRAME_FMIN_HZ, FRAME_FMAX_HZ, FRAME_YIN_THRESHOLD)
            if f0[0] > 0.0:
                self._f0_hz = float(f0[0])
            alpha = params.pitch_ratio if params.robot_hz is None else self._robot_ratio(params.robot_hz)
            needs_shift = alpha != 1.0 or self._rotated
            log_env = self._log_envelope(mag)
            excitation = spec * np.exp(-log_env)
            shifted = self._shift(excitation, mag, phase, alpha) if needs_shift else excitation
            warped = log_env if beta == 1.0 else np.interp(self._bins / beta, self._bins, log_env)
            out_spec = shifted * np.exp(warped)
        self._prev_phase = phase

        y = np.fft.irfft(out_spec * self._centre_sign, WIN_SAMPLES) * self._win_s
        self._acc += y
        out = self._acc[:HOP_SAMPLES].astype(np.float32)
        self._acc[:-HOP_SAMPLES] = self._acc[HOP_SAMPLES:]
        self._acc[-HOP_SAMPLES:] = 0.0
        return out

    def _robot_ratio(self, robot_hz: float) -> float:
        """Pitch ratio that puts the latest voiced F0 on ``robot_hz`` (1.0 before any voicing)."""
        if self._f0_hz <= 0.0:
            return 1.0
        lo, hi = ROBOT_ALPHA_RANGE
        return min(hi, max(lo, robot_hz / self._f0_hz))

    def _log_envelope(self, mag: FloatArray) -> FloatArray:
        """Smooth log-magnitude envelope (N_BINS,) in nepers, riding on the spectral peaks."""
        floor = max(MAG_FLOOR, self._env_floor * float(mag.max()))
        target = np.log(np.maximum(mag, floor))
        cutoff = ENV_LIFTER_MAX
        if self._f0_hz > 0.0:
            cutoff = round(ENV_LIFTER_PER_PERIOD * RATE_HZ / self._f0_hz)
            cutoff = min(ENV_LIFTER_MAX, max(ENV_LIFTER_MIN, cutoff))
        lifter = self._lifters[cutoff]
        env = np.fft.rfft(np.fft.irfft(target, WIN_SAMPLES) * lifter).real
        for _ in range(ENV_ITERATIONS):
            target = np.maximum(target, env)
            env = np.fft.rfft(np.fft.irfft(target, WIN_SAMPLES) * lifter).real
        return env

    def _shift(self, excitation: ComplexArray, mag: FloatArray, phase: FloatArray, alpha: float) -> ComplexArray:
        """Move every spectral peak's region from frequency w to alpha * w (peak-locked vocoder)."""
        # Peaks: larger than PEAK_HALF_WIDTH neighbours on each side.
        h = PEAK_HALF_WIDTH
        padded = np.concatenate([np.zeros(h), mag, np.zeros(h)])
        centre = padded[h:-h]
        is_peak = centre > 0.0
        for k in range(1, h + 1):
            is_peak &= centre > padded[h - k : len(padded) - h - k]
            is_peak &= centre >= padded[h + k : len(padded) - h + k]
        peaks = np.flatnonzero(is_peak)
        if len(peaks) == 0:
            peaks = np.array([int(np.argmax(mag))])

        # True frequency of each peak (rad/sample) from the phase advance over one hop.
        dev = phase[peaks] - self._prev_phase[peaks] - self._expected_advance[peaks]
        dev -= TWO_PI * np.round(dev / TWO_PI)
        omega = self._bin_freq[peaks] + dev / HOP_SAMPLES

        # Region of each peak: from the midpoint to the previous peak to the midpoint to the next.
        bounds = (peaks[:-1] + peaks[1:] + 1) // 2
        region = np.searchsorted(bounds, self._bins, side="right")
        delta = (alpha - 1.0) * omega
        shift = delta * WIN_SAMPLES / TWO_PI  # bins, fractional
        shift_floor = np.floor(shift)
        frac = (shift - shift_floor)[region]
        shift_bins = shift_floor.astype(np.int64)
        # Each region inherits the rotation of the previous hop's region that held its peak.
        rot_peak = self._rotation[peaks] + delta * HOP_SAMPLES
        rot_peak -= TWO_PI * np.round(rot_peak / TWO_PI)
        self._rotation = rot_peak[region]
        self._rotated = True

        # Each bin is split between the two bins around its fractional destination, so the lobe
        # lands where the partial's frequency says (whole-bin moves leave a frame-rate buzz).
        # With the phase referenced to the window centre a lobe's bins share one phase, so this
        # linear split moves the lobe without cancelling it.
        lower = self._bins + shift_bins[region]
        moved = excitation * np.exp(1j * self._rotation)
        # Harmonics per formant scale by 1/alpha, and noise regions spread or pile up alike:
        # sqrt(alpha) keeps the power where it was.
        gain = math.sqrt(alpha)
        dest = np.concatenate([lower, lower + 1])
        weights = np.concatenate([moved * (gain * (1.0 - frac)), moved * (gain * frac)])
        keep = (dest >= 0) & (dest < N_BINS)
        d, w = dest[keep], weights[keep]
        out = np.empty(N_BINS, dtype=np.complex128)
        out.real = np.bincount(d, weights=w.real, minlength=N_BINS)
        out.imag = np.bincount(d, weights=w.imag, minlength=N_BINS)
        return out
