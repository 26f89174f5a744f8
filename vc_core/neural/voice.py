"""Model voices: a speaker embedding run through a shared neural base model (torch-free).

Signal path, all at 22.05 kHz on the vocoder's frame grid (hop 256 = 11.6 ms; frame ``t``
stands for samples ``[256 t, 256 t + 256)``); each step is one of the verbs of
:mod:`vc_core.stages`, and the base bundle says which model does it::

    audio -> log-mel (80) + YIN F0 + energy           look-ahead 384 samples past the hop
          -> content (64), ``settings.content``:
             "encoder": stateful content encoder (ONNX, causal) on the mel   +1..3 frames (stated)
             "whisper-windowed": Whisper-base on bounded windows of the audio (16 kHz, 4 s window
             every 40 ms, 40 ms look-ahead; :mod:`vc_core.neural.whisper`), projected to 64 by
             ``content_projection.npz``                          +5 frames (the bundle states it)
          -> F0 mapped to the voice: log F0 - running mean of the speaker's log F0
             + log(voice's median F0) + user semitones
          -> converter (ONNX, causal; speaker d-vector by FiLM) -> log-mel (80)   +1 frame
          -> optional formant warp of the mel axis (user's formant ratio)
          -> vocoder, ``settings.vocoder``: HiFi-GAN (a bundle folder, :class:`vc_core.neural.vocoder.StreamingVocoder`,
             look-ahead + chunk) or "source-filter" (:mod:`vc_core.neural.source_filter`, driven by the
             mapped F0, half a hop)

The encoder and the converter run frame by frame with their per-layer caches (exported by
:mod:`vc_core.train.export`), so a stream gives the same frames as a whole file. The running
mean of the input's log F0 is causal too (cumulative, then exponential with a 300-frame memory),
so offline conversion equals live conversion.

Worst-case latency of the stage (``latency_samples``): 639 + 256 x (content + converter
look-ahead frames) + the vocoder's: 3455 samples = 157 ms for the quality base (Whisper, 5 + 1
frames, HiFi-GAN 1280), 1279 = 58 ms for the real-time base (encoder, 1 + 1 frames,
source-filter 128).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vc_core.config import VoiceParams
from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOOKAHEAD, VOCODER_PAD_LEFT, VOCODER_RATE_HZ, VocoderMel
from vc_core.dsp.pitch import min_frame_samples, yin_frames
from vc_core.errors import ModelBundleError
from vc_core.neural.bundles import declared_lookahead_frames, stage_latency_samples
from vc_core.stages import ContentStream, FrameConverter, FrameVocoder, StageTiming
from vc_core.stream import Audio, as_audio, push_silence
from vc_core.voices.bundle import Manifest, read_manifest

if TYPE_CHECKING:
    from vc_core.neural.vocoder import OnnxVocoder
    from vc_core.neural.whisper import StreamedContent

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

BASE_KIND = "neural-base"
VOICE_KIND = "neural"
SPEAKER_DIM = 256
CONTENT_DIM = 64
N_MELS = 80
F0_MIN_HZ, F0_MAX_HZ = 60.0, 600.0
F0_FRAME = min_frame_samples(VOCODER_RATE_HZ, F0_MIN_HZ)  # 738 samples
F0_HALF = F0_FRAME // 2
# Pitch features, identical to vc_core.train.models.pitch_features
PITCH_BINS = 256
F0_LOW_HZ, F0_HIGH_HZ = 50.0, 800.0
LF0_CENTRE, LF0_SCALE = math.log(150.0), 0.5
F0_MEMORY_FRAMES = 300  # ~3.5 s of voiced speech
ENCODER_INPUTS = ("mel",)
CONTENT_ENCODER = "encoder"
CONTENT_WHISPER = "whisper-windowed"
CONVERTER_INPUTS = ("content", "pitch_bin", "pitch_cont", "energy", "speaker")
SOURCE_FILTER = "source-filter"  # settings.vocoder of a base that synthesises (vc_core.neural.source_filter)


def pitch_features(f0_hz: F32) -> tuple[NDArray[np.int64], F32]:
    """f0 (n,) Hz, 0 = unvoiced -> (bin index (n,), continuous (2, n): normalised log F0, voiced)."""
    voiced = f0_hz > 0
    lf0 = np.log(np.maximum(f0_hz, 1.0))
    pos = (lf0 - math.log(F0_LOW_HZ)) / (math.log(F0_HIGH_HZ) - math.log(F0_LOW_HZ))
    bins = np.where(voiced, 1 + np.clip(np.round(pos * (PITCH_BINS - 2)), 0, PITCH_BINS - 2), 0).astype(np.int64)
    lf0n = np.where(voiced, (lf0 - LF0_CENTRE) / LF0_SCALE, 0.0).astype(np.float32)
    return bins, np.stack([lf0n, voiced.astype(np.float32)])


def energy_of(mel: F32) -> F32:
    """(n, 80) log-mel -> (n,) loudness, as the converter was trained (vc_core.train.models.energy_of)."""
    out: F32 = ((mel.mean(axis=1) + 6.0) / 2.0).astype(np.float32)
    return out


def warp_mel(mel: F32, ratio: float) -> F32:
    """Move the spectral envelope up (ratio > 1) or down on the mel axis; (n, 80) -> (n, 80)."""
    if abs(ratio - 1.0) < 1e-6 or not len(mel):
        return mel
    j = np.clip(np.arange(N_MELS) / ratio, 0, N_MELS - 1)
    lo = np.floor(j).astype(int)
    hi = np.minimum(lo + 1, N_MELS - 1)
    w = (j - lo).astype(np.float32)
    out: F32 = (mel[:, lo] * (1 - w) + mel[:, hi] * w).astype(np.float32)
    return out


class StepModel:
    """One streaming ONNX graph: named inputs + per-layer caches in, first output + new caches out."""

    def __init__(self, manifest: Manifest, rel: str, inputs: tuple[str, ...], threads: int) -> None:
        from vc_core.neural.vocoder import make_session

        where = f"{manifest.path}/manifest.json: onnx[{rel!r}]"
        spec = manifest.onnx.get(rel)
        if spec is None:
            raise ModelBundleError(f"{where}: the base model must declare this file under 'onnx'")
        if tuple(spec.inputs[: len(inputs)]) != inputs:
            raise ModelBundleError(f"{where}: inputs {list(spec.inputs)} should start with {list(inputs)}")
        path = manifest.file(rel)
        try:
            self.session = make_session(path, threads)
        except Exception as e:  # onnxruntime's own exception types
            raise ModelBundleError(f"{path}: onnxruntime cannot load the file ({e})") from e
        graph_in = tuple(i.name for i in self.session.get_inputs())
        graph_out = tuple(o.name for o in self.session.get_outputs())
        if graph_in != spec.inputs or graph_out != spec.outputs:
            raise ModelBundleError(
                f"{where}: the graph has inputs {list(graph_in)} / outputs {list(graph_out)}, "
                f"the manifest declares {list(spec.inputs)} / {list(spec.outputs)}"
            )
        self.inputs = inputs
        self.cache_names = graph_in[len(inputs) :]
        self.cache_shapes = [tuple(int(d) for d in i.shape) for i in self.session.get_inputs()[len(inputs) :]]
        self.output_names = list(graph_out)

    def zero_caches(self) -> list[F32]:
        return [np.zeros(s, np.float32) for s in self.cache_shapes]

    def run(self, feeds: dict[str, Any], caches: list[F32]) -> tuple[F32, list[F32]]:
        feeds = dict(feeds)
        feeds.update(zip(self.cache_names, caches, strict=True))
        outs = self.session.run(self.output_names, feeds)
        return outs[0], list(outs[1:])


class NeuralBase:
    """The shared models of every neural voice: content encoder, converter and vocoder."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        from vc_core.neural.vocoder import OnnxVocoder

        self.folder = folder
        self.manifest = read_manifest(folder, verify_hashes=True)
        where = f"{folder}/manifest.json"
        if self.manifest.kind != BASE_KIND:
            raise ModelBundleError(f"{where}: field 'kind' = {self.manifest.kind!r} should be {BASE_KIND!r}")
        if (self.manifest.sample_rate_hz, self.manifest.hop_samples) != (VOCODER_RATE_HZ, VOCODER_HOP):
            raise ModelBundleError(f"{where}: sample_rate_hz/hop_samples should be {VOCODER_RATE_HZ}/{VOCODER_HOP}")
        s = self.manifest.settings
        self.content_kind = s.get("content", CONTENT_ENCODER)
        self.encoder: StepModel | None = None
        self.whisper: WhisperContentSpec | None = None
        if self.content_kind == CONTENT_ENCODER:
            self.encoder = StepModel(self.manifest, "content_encoder.onnx", ENCODER_INPUTS, threads)
        elif self.content_kind == CONTENT_WHISPER:
            self.whisper = WhisperContentSpec(self.manifest, threads)
        else:
            raise ModelBundleError(
                f"{where}: field 'settings.content' = {self.content_kind!r} should be "
                f"{CONTENT_ENCODER!r} or {CONTENT_WHISPER!r}"
            )
        self.converter = StepModel(self.manifest, "converter.onnx", CONVERTER_INPUTS, threads)
        self.encoder_lookahead, self.converter_lookahead = declared_lookahead_frames(s)
        if self.whisper is not None and self.encoder_lookahead < self.whisper.delay_frames:
            raise ModelBundleError(
                f"{where}: field 'settings.encoder_lookahead_frames' = {self.encoder_lookahead} is less than the "
                f"{self.whisper.delay_frames} frames its Whisper windows take"
            )
        vocoder_name = s.get("vocoder")
        if not isinstance(vocoder_name, str):
            raise ModelBundleError(
                f"{where}: field 'settings.vocoder' should name the vocoder bundle folder or {SOURCE_FILTER!r}"
            )
        self.vocoder: OnnxVocoder | None = None
        self.band_gain_db: F32 | None = None
        if vocoder_name == SOURCE_FILTER:
            self.band_gain_db = _read_band_gain(self.manifest)
        else:
            self.vocoder = OnnxVocoder(folder.parent / vocoder_name, threads=threads)

    def make_content(self) -> ContentStream:
        """A fresh content stream for one stage."""
        if self.whisper is not None:
            return WhisperContent(self.whisper.stream())
        assert self.encoder is not None
        return EncoderContent(self.encoder, self.encoder_lookahead)

    def make_converter(self) -> FrameConverter:
        """A fresh converter stream for one stage."""
        return StepConverter(self.converter, self.converter_lookahead)

    def make_vocoder(self) -> FrameVocoder:
        """A fresh streaming vocoder for one stage (each stage has its own state)."""
        if self.vocoder is None:
            from vc_core.neural.source_filter import SourceFilterVocoder

            return SourceFilterVocoder(self.band_gain_db)
        from vc_core.neural.vocoder import StreamingVocoder

        return StreamingVocoder(self.vocoder)


class _StepStream:
    """A :class:`StepModel` run call by call with its caches; output ``k`` describes input frame
    ``k - delay_frames``, so the first ``delay_frames`` outputs (frames before 0) are dropped."""

    def __init__(self, model: StepModel, lookahead_frames: int) -> None:
        self._model = model
        self.delay_frames = lookahead_frames
        self.reset()

    def reset(self) -> None:
        self._caches = self._model.zero_caches()
        self._frames = 0  # input frames so far

    def _step(self, feeds: dict[str, Any], n: int) -> F32:
        """Run ``n`` new frames; (m, channels) outputs in frame order."""
        out, self._caches = self._model.run(feeds, self._caches)
        skip = max(0, self.delay_frames - self._frames)
        self._frames += n
        frames: F32 = np.ascontiguousarray(out[0, :, skip:].T)
        return frames


class EncoderContent(_StepStream):
    """:class:`~vc_core.stages.ContentStream` of an ``encoder`` base: the causal ONNX encoder on the mel."""

    def push(self, mel: F32, audio: F32, frames_analysed: int) -> F32:
        if len(mel) == 0:
            return np.zeros((0, CONTENT_DIM), np.float32)
        return self._step({"mel": np.ascontiguousarray(mel.T[None])}, len(mel))


class WhisperContent:
    """:class:`~vc_core.stages.ContentStream` of a ``whisper-windowed`` base (:mod:`vc_core.neural.whisper`)."""

    def __init__(self, streamed: StreamedContent) -> None:
        self._streamed = streamed

    @property
    def delay_frames(self) -> int:
        return self._streamed.delay_frames

    def reset(self) -> None:
        self._streamed.reset()

    def push(self, mel: F32, audio: F32, frames_analysed: int) -> F32:
        self._streamed.push(audio)
        return self._streamed.pop(frames_analysed)


class StepConverter(_StepStream):
    """:class:`~vc_core.stages.FrameConverter`: the causal ONNX converter (speaker by FiLM)."""

    def convert(self, content: F32, f0_hz: F32, energy: F32, speaker: F32) -> F32:
        if len(content) == 0:
            return np.zeros((0, N_MELS), np.float32)
        bins, cont = pitch_features(f0_hz)
        feeds = {
            "content": np.ascontiguousarray(content.T[None]),
            "pitch_bin": bins[None],
            "pitch_cont": cont[None],
            "energy": np.ascontiguousarray(energy[None, None], dtype=np.float32),
            "speaker": np.asarray(speaker, np.float32).reshape(1, SPEAKER_DIM),
        }
        return self._step(feeds, len(content))


def _read_band_gain(manifest: Manifest) -> F32:
    """The source-filter vocoder's calibration (80,) dB, from the file ``settings.vocoder_calibration`` names."""
    rel = manifest.settings.get("vocoder_calibration")
    if not isinstance(rel, str):
        raise ModelBundleError(
            f"{manifest.path}/manifest.json: field 'settings.vocoder_calibration' should name the source-filter "
            "vocoder's calibration file"
        )
    try:
        gain: F32 = np.load(manifest.file(rel), allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as e:
        raise ModelBundleError(f"{manifest.path / rel}: not a vocoder calibration ({e})") from e
    if gain.shape != (N_MELS,) or not np.all(np.isfinite(gain)) or np.abs(gain).max() > 40.0:
        raise ModelBundleError(f"{manifest.path / rel}: expected {N_MELS} finite gains within +-40 dB")
    return gain


class WhisperContentSpec:
    """A windowed-Whisper base's content: the shared Whisper-base model, its windows and projection."""

    def __init__(self, manifest: Manifest, threads: int) -> None:
        from vc_core.neural.whisper import WhisperBase, WindowedWhisper, whisper_delay_frames

        where = f"{manifest.path}/manifest.json"
        s = manifest.settings
        sizes = []
        for key in ("whisper_window_16k", "whisper_hop_16k", "whisper_lookahead_16k"):
            v = s.get(key)
            if not isinstance(v, int):
                raise ModelBundleError(f"{where}: field 'settings.{key}' should be a number of 16 kHz samples")
            sizes.append(v)
        self.window, self.hop, self.lookahead = sizes
        rel = s.get("content_projection")
        if not isinstance(rel, str):
            raise ModelBundleError(f"{where}: field 'settings.content_projection' should name the projection file")
        try:
            with np.load(manifest.file(rel), allow_pickle=False) as z:
                weight, bias = z["weight"].astype(np.float32), z["bias"].astype(np.float32)
        except (OSError, ValueError, KeyError) as e:
            raise ModelBundleError(f"{manifest.path / rel}: not a content projection ({e})") from e
        if weight.shape != (CONTENT_DIM, 512) or bias.shape != (CONTENT_DIM,) or not np.all(np.isfinite(weight)):
            raise ModelBundleError(
                f"{manifest.path / rel}: weight {weight.shape} / bias {bias.shape} should be "
                f"({CONTENT_DIM}, 512) / ({CONTENT_DIM},), finite"
            )
        self.projection = (weight, bias)
        try:
            WindowedWhisper.check(self.window, self.hop, self.lookahead)
        except ValueError as e:
            raise ModelBundleError(f"{where}: settings.whisper_*: {e}") from e
        self.delay_frames = whisper_delay_frames(self.hop, self.lookahead)
        import onnxruntime as ort

        # on the GPU when the other models are (onnxruntime with CUDA); WhisperUnavailable says what to install
        self.model = WhisperBase(threads=threads, gpu="CUDAExecutionProvider" in ort.get_available_providers())

    def stream(self) -> StreamedContent:
        from vc_core.neural.whisper import StreamedContent, WindowedWhisper

        return StreamedContent(WindowedWhisper(self.model, self.window, self.hop, self.lookahead), self.projection)


_BASES: dict[Path, NeuralBase] = {}
_BASES_LOCK = threading.Lock()


def load_base(folder: Path) -> NeuralBase:
    """The base model in ``folder``, loaded once per process (voices share it)."""
    key = folder.resolve()
    with _BASES_LOCK:
        if key not in _BASES:
            _BASES[key] = NeuralBase(key)
        return _BASES[key]


def find_base(voice_folder: Path, base_name: str) -> Path:
    """The base bundle beside the voice, else in the shipped models folder."""
    from vc_core.voices.bundle import shipped_models_dir

    for root in (voice_folder.parent, shipped_models_dir()):
        if (root / base_name / "manifest.json").is_file():
            return root / base_name
    raise ModelBundleError(
        f"{voice_folder}/manifest.json: field 'settings.base' = {base_name!r}: no such model bundle next to the "
        f"voice or in {shipped_models_dir()}; reinstall the app's models"
    )


@dataclass(frozen=True)
class SpeakerTarget:
    """What makes a neural voice: its d-vector and its median F0."""

    dvector: F32  # (256,), L2-normalised
    f0_median_hz: float


class NeuralVoice:
    """A voice of kind ``neural``: speaker embedding + F0 centre, run by the shared base model."""

    def __init__(self, manifest: Manifest, base: str | None = None) -> None:
        """``base``: the base bundle's folder name to run on instead of the one ``settings.base`` names
        (a voice is a d-vector and an F0: every base runs every voice)."""
        self.manifest = manifest
        where = f"{manifest.path}/manifest.json"
        s = manifest.settings
        base_name, speaker_rel, f0 = s.get("base"), s.get("speaker"), s.get("f0_median_hz")
        if not isinstance(base_name, str):
            raise ModelBundleError(f"{where}: field 'settings.base' should name the base model bundle")
        if not isinstance(speaker_rel, str):
            raise ModelBundleError(f"{where}: field 'settings.speaker' should name the speaker embedding file")
        if not isinstance(f0, (int, float)) or not F0_MIN_HZ <= float(f0) <= F0_MAX_HZ:
            raise ModelBundleError(
                f"{where}: field 'settings.f0_median_hz' = {f0!r} should be within {F0_MIN_HZ}..{F0_MAX_HZ}"
            )
        try:
            dvec = np.load(manifest.file(speaker_rel), allow_pickle=False).astype(np.float32).reshape(-1)
        except (OSError, ValueError) as e:
            raise ModelBundleError(f"{manifest.path / speaker_rel}: not a speaker embedding ({e})") from e
        if dvec.shape != (SPEAKER_DIM,) or not np.all(np.isfinite(dvec)) or np.linalg.norm(dvec) < 1e-3:
            raise ModelBundleError(f"{manifest.path / speaker_rel}: expected {SPEAKER_DIM} finite values, not all 0")
        self.target = SpeakerTarget(dvec / np.linalg.norm(dvec), float(f0))
        self.base = load_base(find_base(manifest.path, base or base_name))

    def make_stage(self, params: VoiceParams) -> NeuralStage:
        return NeuralStage(self.base, self.target, params)


class NeuralStage:
    """The streaming stage of a neural voice: 22.05 kHz in, 22.05 kHz out, aligned."""

    rate_in_hz = VOCODER_RATE_HZ
    rate_out_hz = VOCODER_RATE_HZ
    hop_samples = VOCODER_HOP
    STEPS = ("analysis", "content", "converter", "vocoder")  # timed separately

    def __init__(self, base: NeuralBase, target: SpeakerTarget, params: VoiceParams) -> None:
        self._base = base
        self._target = target
        self._mel = VocoderMel()
        self._content = base.make_content()
        self._converter = base.make_converter()
        self._vocoder: FrameVocoder = base.make_vocoder()
        self._speaker = target.dvector.astype(np.float32)
        self._params = params
        self._delay = base.encoder_lookahead + base.converter_lookahead
        self._seconds = [0.0] * len(self.STEPS)
        self._audio_s = 0.0
        self.reset()

    @property
    def latency_samples(self) -> int:
        return stage_latency_samples(self._delay, self._vocoder.latency_samples)

    def set_voice_params(self, params: VoiceParams) -> None:
        self._params = params

    def reset(self) -> None:
        self._buf = np.zeros(VOCODER_PAD_LEFT, np.float32)  # starts at stream sample 256 t - 384
        self._t = 0  # next mel frame
        self._pushed = 0  # input samples so far
        self._emitted = 0  # output samples so far
        self._content.reset()
        self._converter.reset()
        self._feat_queue = np.zeros((0, 2), np.float32)  # per frame awaiting content: voice F0 (Hz), energy
        self._f0_queue = np.zeros(0, np.float32)  # voice F0 (Hz) of frames awaiting the converter's output
        self._src_lf0_mean = 0.0
        self._src_voiced = 0
        self._vocoder.reset()

    def timing(self) -> StageTiming:
        """Seconds spent per step since the stage was built, and seconds of audio pushed."""
        return StageTiming(self.STEPS, tuple(self._seconds), self._audio_s)

    def _tick(self, step: int, t0: float) -> float:
        now = time.perf_counter()
        self._seconds[step] += now - t0
        return now

    # -- analysis -------------------------------------------------------------------------

    def _analyse(self) -> tuple[F32, F32]:
        """Mel (n, 80) and F0 (n,) of every frame the buffer completes; trims the buffer."""
        n = max(0, (len(self._buf) - (VOCODER_PAD_LEFT + VOCODER_HOP + VOCODER_LOOKAHEAD)) // VOCODER_HOP + 1)
        if n == 0:
            return np.zeros((0, N_MELS), np.float32), np.zeros(0, np.float32)
        mel = self._mel.frames_from_padded(self._buf[: VOCODER_PAD_LEFT + VOCODER_HOP * n + VOCODER_LOOKAHEAD])
        # YIN frame t spans [256 t + 128 - 369, 256 t + 128 + 369): offset 384 + 128 - 369 in the buffer
        off = VOCODER_PAD_LEFT + VOCODER_HOP // 2 - F0_HALF
        idx = off + VOCODER_HOP * np.arange(n)[:, None] + np.arange(F0_FRAME)[None, :]
        f0, _ = yin_frames(self._buf[idx], VOCODER_RATE_HZ, F0_MIN_HZ, F0_MAX_HZ)
        self._buf = self._buf[VOCODER_HOP * n :]
        self._t += n
        return mel, f0.astype(np.float32)

    def _map_f0(self, f0: F32) -> F32:
        """Source F0 -> the voice's register: keep intonation, move the centre (causal running mean)."""
        out = np.zeros_like(f0)
        shift = self._params.pitch_semitones * math.log(2.0) / 12.0
        tgt = math.log(self._target.f0_median_hz)
        for i, f in enumerate(f0):
            if f <= 0:
                continue
            lf = math.log(float(f))
            self._src_voiced += 1
            alpha = max(1.0 / self._src_voiced, 1.0 / F0_MEMORY_FRAMES)
            self._src_lf0_mean += alpha * (lf - self._src_lf0_mean)
            out[i] = math.exp(lf - self._src_lf0_mean + tgt + shift)
        return out

    # -- the models -----------------------------------------------------------------------

    def _convert(self, mel: F32, f0: F32, audio: F32) -> tuple[F32, F32]:
        """New analysed frames and the audio pushed -> the converted mel frames (m, 80) they complete
        (in order) and the voice's F0 (m,) of those frames (0 = unvoiced)."""
        t0 = time.perf_counter()
        content = self._content.push(mel, audio, self._t)
        t0 = self._tick(1, t0)
        if len(mel):
            feats = np.stack([self._map_f0(f0), energy_of(mel)], axis=1)  # (n, 2)
            self._feat_queue = np.concatenate([self._feat_queue, feats])
        m = len(content)
        if m == 0:
            return np.zeros((0, N_MELS), np.float32), np.zeros(0, np.float32)
        q, self._feat_queue = self._feat_queue[:m], self._feat_queue[m:]
        self._f0_queue = np.concatenate([self._f0_queue, q[:, 0]])
        frames = self._converter.convert(content, q[:, 0], q[:, 1], self._speaker)
        self._tick(2, t0)
        # the converter's outputs describe frames 0, 1, 2 ... in order, behind its input by its delay
        f0_out, self._f0_queue = self._f0_queue[: len(frames)], self._f0_queue[len(frames) :]
        return warp_mel(frames, self._params.formant_ratio), f0_out

    def _emit(self, wav: F32) -> Audio:
        self._emitted += len(wav)
        return as_audio(wav)

    def _frames(self, audio: F32) -> tuple[F32, F32]:
        """Append input samples; the converted mel frames (m, 80) they complete, in order, and their F0 (m,)."""
        self._pushed += len(audio)
        self._audio_s += len(audio) / VOCODER_RATE_HZ
        t0 = time.perf_counter()
        self._buf = np.concatenate([self._buf, audio])
        mel, f0 = self._analyse()
        self._tick(0, t0)
        return self._convert(mel, f0, audio)

    def _tail_samples(self) -> int:
        """Silence to push so that every mel frame of the input so far comes out of the converter."""
        frames_needed = -(-self._pushed // VOCODER_HOP) + self._delay
        # mel frame k is complete once input reaches sample 256 k + 640
        return max(0, VOCODER_HOP * (frames_needed - 1) + VOCODER_HOP + VOCODER_LOOKAHEAD - self._pushed)

    def push(self, x: Audio) -> Audio:
        frames, f0 = self._frames(as_audio(x))
        t0 = time.perf_counter()
        wav = self._vocoder.push(frames, f0)
        self._tick(3, t0)
        return self._emit(wav)

    def flush(self) -> Audio:
        """Complete the stream as live does when the talker stops: push silence until every input
        sample has its output sample; then reset. The vocoder's own ``flush`` would end its last
        window at the last frame, which the live path never does (it keeps hearing silence), and the
        last ~140 ms of a file would differ from the live output (-31 dB residual on a 3 s clip)."""
        owed = self._pushed - self._emitted
        result = as_audio(push_silence(self.push, owed, self.latency_samples, max_pushes=3, what="voice stage"))
        self.reset()
        return result

    def converted_mel(self, x: Audio) -> F32:
        """A whole clip (T,) at 22.05 kHz -> the log-mel (ceil(T / 256), 80) the vocoder would get.

        Frame ``t`` stands for output samples ``[256 t, 256 t + 256)``, as in :mod:`vc_core.dsp.mel`;
        the streaming steps are the live ones, the vocoder is skipped. Resets the stage before and after.
        """
        self.reset()
        audio = as_audio(x)
        head, _ = self._frames(audio)
        tail, _ = self._frames(np.zeros(self._tail_samples(), np.float32))
        self.reset()
        mel: F32 = np.concatenate([head, tail])[: -(-len(audio) // VOCODER_HOP)]
        return mel
