"""The reference vocoder: HiFi-GAN V1 universal as ONNX, whole-utterance and streaming.

``vocode(mel (N, 80) float32) -> wav (256 N,) float32`` at 22.05 kHz, where ``mel`` is
:class:`vc_core.dsp.mel.VocoderMel` (natural-log, 80 Slaney mels, hop 256 = 11.6 ms) and sample
``256 t + k`` belongs to mel frame ``t``. The bundle is ``models/_vocoder/`` (made by
``python -m vc_core.train.export_vocoder``); its manifest is verified on load.

Streaming (:class:`StreamingVocoder`): a generator sample depends on about 12 mel frames either
side (its receptive field), so each call vocodes ``context_frames`` past frames + ``chunk_frames``
new frames + ``lookahead_frames`` future frames, keeps the new frames' samples and crossfades the
first ``crossfade_samples`` of them with the previous window's guess at them (raised cosine).
Measured against whole-utterance ``vocode`` on 1.25 s of LibriVox speech
(``benchmarks/vocoder_stream.py``; SNR of the waveform, mel L1 = mean |log-mel difference|, for
scale the whole-utterance resynthesis is 0.28 from the original speech's mel; RTF of one
steady-state chunk, 1 onnxruntime thread, 2-core CPU shared with a training job; chunk 4,
crossfade 128 samples where the look-ahead has them)::

    context  look-ahead  latency ms  SNR dB  mel L1  RTF
       8         2           58       -1.7   0.183   2.1
      16         2           58       -1.6   0.178   3.1   <- defaults
      16         4           81        1.2   0.126   3.4
      16         8          128       15.7   0.033   3.9
       8        10          151       18.3   0.028   3.1
      16        10          151       25.3   0.009   4.2   (whole 5.5 s clip: 25.8 dB)
      16        12          174       64.2   0.000   4.5
      32        12          174       64.2   0.000   6.7

* Waveform agreement needs look-ahead: below ~8 frames the stream is a different waveform with a
  similar spectrum (SNR about 0 dB, mel L1 below the vocoder's own 0.28). Context beyond 16
  frames changes nothing; 8 caps the SNR near 20 dB.
* The crossfade halves the mel L1 at every look-ahead (joins click less: 0.019 -> 0.009 at
  look-ahead 10, 0.29 -> 0.18 at 2) for at most 1 dB of SNR.
* Whole-utterance ``vocode`` runs at RTF 0.59 here; chunks of 16 frames bring streaming to
  RTF 1.6, chunks of 4 to 4.2, so live use needs a faster machine or CUDA.

Defaults: context 16, look-ahead 2, chunk 4 frames, crossfade 128 samples: 2 frames (23 ms) of
look-ahead plus up to 3 frames of chunk filling (``latency_samples`` = 1280 = 58 ms). The choice
is latency: look-ahead 10 would match whole-utterance ``vocode`` to 25 dB but adds 93 ms, and a
live voice must stay under 200 ms round trip. Offline conversion streams with the same settings,
so a file still equals the live output; only the whole-utterance ``vocode`` differs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOG_FLOOR, VOCODER_N_MELS, VOCODER_RATE_HZ
from vc_core.errors import ModelBundleError
from vc_core.voices.bundle import Manifest, read_manifest

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

VOCODER_KIND = "vocoder"
INPUT_NAME = "mel"  # (1, 80, N) float32
OUTPUT_NAME = "wav"  # (1, 1, 256 N) float32
SILENCE_MEL = float(np.log(VOCODER_LOG_FLOOR))  # log-mel of digital silence
WARMUP_FRAMES = 8

DEFAULT_CONTEXT_FRAMES = 16
DEFAULT_LOOKAHEAD_FRAMES = 2
DEFAULT_CHUNK_FRAMES = 4
DEFAULT_CROSSFADE_SAMPLES = 128


def streaming_latency_samples(lookahead_frames: int, chunk_frames: int) -> int:
    """Worst-case samples a :class:`StreamingVocoder` owes: its look-ahead plus chunk filling."""
    return (lookahead_frames + chunk_frames - 1) * VOCODER_HOP


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime session on CUDA when this onnxruntime has it, else on ``threads`` CPU threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), opts, providers=providers)


def _check_manifest(m: Manifest) -> str:
    """The model file's name once the manifest describes our vocoder; ModelBundleError otherwise."""
    where = f"{m.path}/manifest.json"
    expected = {
        "kind": (m.kind, VOCODER_KIND),
        "sample_rate_hz": (m.sample_rate_hz, VOCODER_RATE_HZ),
        "hop_samples": (m.hop_samples, VOCODER_HOP),
        "settings.n_mels": (m.settings.get("n_mels"), VOCODER_N_MELS),
    }
    for field, (value, want) in expected.items():
        if value != want:
            raise ModelBundleError(f"{where}: field {field!r} = {value!r} should be {want!r} for the vocoder")
    model = m.settings.get("model")
    if not isinstance(model, str) or model not in m.onnx:
        raise ModelBundleError(f"{where}: field 'settings.model' = {model!r} should name a file listed under 'onnx'")
    spec = m.onnx[model]
    if spec.inputs != (INPUT_NAME,) or spec.outputs != (OUTPUT_NAME,):
        raise ModelBundleError(
            f"{where}: onnx[{model!r}] declares inputs {list(spec.inputs)} and outputs {list(spec.outputs)}, "
            f"the vocoder needs [{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]"
        )
    return model


class OnnxVocoder:
    """Whole-utterance vocoder from a verified bundle folder: mel (N, 80) -> wav (256 N,) at 22.05 kHz."""

    sample_rate_hz = VOCODER_RATE_HZ
    hop_samples = VOCODER_HOP
    n_mels = VOCODER_N_MELS

    def __init__(self, folder: Path, threads: int = 2) -> None:
        self.manifest = read_manifest(folder, verify_hashes=True)
        model = _check_manifest(self.manifest)
        path = self.manifest.file(model)
        try:
            self._session = make_session(path, threads)
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelBundleError(f"{path}: onnxruntime cannot load the file ({e})") from e
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
            raise ModelBundleError(
                f"{path}: graph has inputs {inputs} and outputs {outputs}, the manifest declares "
                f"[{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]"
            )
        self.vocode(np.full((WARMUP_FRAMES, VOCODER_N_MELS), SILENCE_MEL, np.float32))
        log.info("vocoder %s loaded (%s)", path, ", ".join(self._session.get_providers()))

    def vocode(self, mel: F32) -> F32:
        """mel (N, 80) float32 natural-log -> wav (256 N,) float32 at 22.05 kHz."""
        if mel.ndim != 2 or mel.shape[1] != VOCODER_N_MELS:
            raise ValueError(f"expected mel of shape (N, {VOCODER_N_MELS}), got {mel.shape}")
        if len(mel) == 0:
            return np.zeros(0, np.float32)
        x = np.ascontiguousarray(mel.T[None], dtype=np.float32)
        wav: F32 = self._session.run([OUTPUT_NAME], {INPUT_NAME: x})[0].reshape(-1)
        return wav


class StreamingVocoder:
    """Mel frames in, the samples they complete out, aligned with whole-utterance ``vocode``.

    ``push(mel (n, 80))`` buffers frames until ``chunk_frames`` new frames plus
    ``lookahead_frames`` future frames are there, then vocodes ``context_frames`` past frames +
    chunk + look-ahead and returns the chunk's ``256 chunk_frames`` samples (several chunks at
    once when a push brings them). The first ``crossfade_samples`` of a chunk (at most the
    look-ahead) are faded in over the previous window's rendering of them, so joins do not
    click. Sample ``j`` of the stream approximates sample ``j`` of
    ``vocode(all frames)``; near the start the window simply begins at frame 0, as it does
    for ``vocode``. Output for frame ``t`` is owed until frame ``t + lookahead_frames`` has
    arrived and, at worst, ``chunk_frames - 1`` more (``latency_samples``).
    Runs in the inference worker (it allocates and calls the model).
    """

    def __init__(
        self,
        vocoder: OnnxVocoder,
        context_frames: int = DEFAULT_CONTEXT_FRAMES,
        lookahead_frames: int = DEFAULT_LOOKAHEAD_FRAMES,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        crossfade_samples: int = DEFAULT_CROSSFADE_SAMPLES,
    ) -> None:
        if context_frames < 0 or lookahead_frames < 0 or chunk_frames < 1:
            raise ValueError(
                f"context_frames ({context_frames}) and lookahead_frames ({lookahead_frames}) must be >= 0, "
                f"chunk_frames ({chunk_frames}) >= 1"
            )
        self.vocoder = vocoder
        self.context_frames = context_frames
        self.lookahead_frames = lookahead_frames
        self.chunk_frames = chunk_frames
        self.crossfade_samples = min(crossfade_samples, lookahead_frames * VOCODER_HOP)
        self.reset()

    @property
    def latency_samples(self) -> int:
        """Worst-case samples owed after the frames pushed so far: look-ahead plus chunk filling."""
        return streaming_latency_samples(self.lookahead_frames, self.chunk_frames)

    def reset(self) -> None:
        """Forget all frames, as if freshly built."""
        self._frames = np.zeros((0, VOCODER_N_MELS), np.float32)  # from frame self._first on
        self._first = 0  # stream index of self._frames[0]
        self._done = 0  # frames whose samples were returned
        self._tail = np.zeros(0, np.float32)  # last window's guess at the next samples

    def push(self, mel: F32, f0_hz: F32 | None = None) -> F32:
        """Consume mel (n, 80); return the newly completed samples (256 k,) float32. HiFi-GAN reads
        the pitch from the mel: ``f0_hz`` is accepted for the :class:`~vc_core.pipeline.FrameVocoder`
        protocol and ignored."""
        if mel.ndim != 2 or mel.shape[1] != VOCODER_N_MELS:
            raise ValueError(f"expected mel of shape (n, {VOCODER_N_MELS}), got {mel.shape}")
        self._frames = np.concatenate([self._frames, mel.astype(np.float32, copy=False)])
        out: list[F32] = []
        while self._received() - self._done >= self.chunk_frames + self.lookahead_frames:
            out.append(self._render(self.chunk_frames))
        self._trim()
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def flush(self) -> F32:
        """Vocode the frames still owed as the end of the utterance, like ``vocode``; then reset.

        The last window simply stops at the last frame (no invented future frames): padding with
        silence-mel frames instead made the last ~12 frames differ from ``vocode`` (13 dB SNR
        over a 1.25 s clip with 12 look-ahead frames, against 90 dB for the frames before).
        """
        owed = self._received() - self._done
        wav = self._render(owed) if owed else np.zeros(0, np.float32)
        self.reset()
        return wav

    def _received(self) -> int:
        return self._first + len(self._frames)

    def _render(self, n: int) -> F32:
        """Samples of frames [done, done + n) from a window around them; advances ``done``."""
        start = max(self._first, self._done - self.context_frames)
        stop = min(self._received(), self._done + n + self.lookahead_frames)
        wav = self.vocoder.vocode(self._frames[start - self._first : stop - self._first])
        keep = (self._done - start) * VOCODER_HOP
        self._done += n
        out = wav[keep : keep + n * VOCODER_HOP]
        k = len(self._tail)
        if k:
            fade_in = (0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)).astype(np.float32)
            out[:k] = self._tail * (1.0 - fade_in) + out[:k] * fade_in
        end = keep + n * VOCODER_HOP
        self._tail = wav[end : end + self.crossfade_samples].copy()
        return out

    def _trim(self) -> None:
        drop = max(0, self._done - self.context_frames - self._first)
        if drop:
            self._frames = self._frames[drop:]
            self._first += drop
