"""Voice quality of the library: real recordings converted into each voice, then measured.

For every voice, each source clip (a real human recording with its transcript) is converted by
the same streaming chain and settings as ``vc convert`` (no gate, no gain, no offsets), and:

* ``sim_target`` - Resemblyzer cosine of the converted audio to a held-out reference clip of the
  target voice (null without a reference, as for the effects voices); ``sim_target_before`` is
  the source's own cosine to that reference, the score a conversion must beat;
* ``sim_source`` - Resemblyzer cosine of the converted audio to its source clip (lower = the
  source speaker is better hidden);
* ``wer`` - word error rate of Whisper-base's transcript of the converted audio against the
  clip's transcript, beside ``wer_source`` of the unconverted clip (both pooled: all word
  edits / all reference words);
* ``dnsmos_ovrl``/``dnsmos_sig``/``dnsmos_bak`` - DNSMOS P.835, 1..5;
* ``f0_corr`` - Pearson correlation of log-F0, converted vs source (1 = intonation kept);
* ``rtf`` - conversion wall time / audio time, and per stage of the chain (``rtf_stages``).

The report is JSON-able; :func:`format_table` renders its summary as a markdown table.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vc_core.bench import machine_info
from vc_core.config import GateConfig, MixConfig, VoiceParams
from vc_core.eval.clips import DEFAULT_CACHE_DIR, EvalClip, find_eval_clips
from vc_core.eval.metrics import (
    DNSMOS_MODULES,
    RESEMBLYZER_MODULES,
    WHISPER_MODULES,
    Dnsmos,
    SpeakerSimilarity,
    WhisperTranscriber,
    f0_correlation,
    require,
    word_errors,
)
from vc_core.io.audiofile import AudioReader, read_audio
from vc_core.pipeline import VoiceChain
from vc_core.stages import StageTiming
from vc_core.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

CONVERT_BLOCK_MS = 100.0  # `vc convert`'s default read block (the output does not depend on it)
SOURCE_ROW = "source"


# ----------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class Converted:
    """One clip converted by a voice, with the time each chain stage took."""

    audio: F32  # (T,) at rate_hz
    rate_hz: int
    duration_s: float  # of the input
    wall_s: float  # whole conversion, reading included
    timing: StageTiming


def convert_clip(voice: Voice, src: Path, block_ms: float = CONVERT_BLOCK_MS) -> Converted:
    """Convert ``src`` as ``vc convert`` does (same chain, default settings, voice's own rate), in memory.

    Mirrors :func:`vc_core.convert.convert_file` but keeps the chain, so its per-stage timing is
    available.
    """
    t0 = time.perf_counter()
    with AudioReader(src) as reader:
        gate = GateConfig(enabled=False)  # `vc convert` without --gate-db
        rate_out = voice.manifest.sample_rate_hz
        chain = VoiceChain(voice, reader.rate_hz, rate_out, VoiceParams(), gate, MixConfig())
        block = max(1, round(reader.rate_hz * block_ms / 1000.0))
        parts = [chain.push(x) for x in reader.blocks(block)]
        parts.append(chain.flush())
        duration = reader.duration_s
    audio = np.concatenate(parts).astype(np.float32)
    return Converted(audio, rate_out, duration, time.perf_counter() - t0, chain.step_timing())


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class SourceAnalysis:
    """What the metrics say about an unconverted clip (computed once per clip)."""

    audio: F32
    rate_hz: int
    transcript: str
    errors: int
    ref_words: int
    embedding: F32
    dnsmos: tuple[float, float, float]  # ovrl, sig, bak


class EvalModels:
    """The metric models, loaded once and shared by every voice; caches source analyses."""

    def __init__(self, cache_dir: Path = DEFAULT_CACHE_DIR, threads: int = 1) -> None:
        require({**WHISPER_MODULES, **RESEMBLYZER_MODULES, **DNSMOS_MODULES}, "vc eval")
        self.threads = threads
        self.asr = WhisperTranscriber(cache_dir, threads=threads)
        self.speaker = SpeakerSimilarity(threads=threads)
        self.mos = Dnsmos(threads=threads)
        self._sources: dict[Path, SourceAnalysis] = {}
        self._warm_up()

    def _warm_up(self) -> None:
        # first calls compile and load lazily (librosa, torch); keep that out of per-clip times
        rng = np.random.default_rng(0)
        x = (0.01 * rng.standard_normal(16000)).astype(np.float32)
        self.asr.transcribe(x, 16000)
        self.speaker.embed(x, 16000)
        self.mos.score(x, 16000)

    def source(self, clip: EvalClip) -> SourceAnalysis:
        """Transcript, WER counts, speaker embedding and DNSMOS of the unconverted clip."""
        if clip.path not in self._sources:
            audio, rate = read_audio(clip.path)
            text = self.asr.transcribe(audio, rate)
            errors, n = word_errors(clip.text, text)
            mos = self.mos.score(audio, rate)
            self._sources[clip.path] = SourceAnalysis(
                audio, rate, text, errors, n, self.speaker.embed(audio, rate), (mos.ovrl, mos.sig, mos.bak)
            )
        return self._sources[clip.path]


# ----------------------------------------------------------------------------- evaluation


def _mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def evaluate_voice(
    voice_name: str,
    sources: list[EvalClip],
    reference: Path | None,
    *,
    models: EvalModels | None = None,
    library: VoiceLibrary | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """Convert every source clip into ``voice_name`` and measure it; one report row (JSON-able).

    ``reference`` is a held-out recording of the target voice (not used to build the voice);
    without one, ``sim_target`` is null. ``base``: the neural base folder to run a neural voice on
    (None: its bundle's own).
    """
    models = models or EvalModels()
    voice = (library or VoiceLibrary.default()).load(voice_name, base)
    ref_emb = None
    if reference is not None:
        ref_audio, ref_rate = read_audio(reference)
        ref_emb = models.speaker.embed(ref_audio, ref_rate)
    per_clip: list[dict[str, Any]] = []
    stage_s: dict[str, float] = {}
    audio_s = wall_s = eval_s = 0.0
    for clip in sources:
        src = models.source(clip)
        t0 = time.perf_counter()
        out = convert_clip(voice, clip.path)
        text = models.asr.transcribe(out.audio, out.rate_hz)
        errors, n = word_errors(clip.text, text)
        emb = models.speaker.embed(out.audio, out.rate_hz)
        mos = models.mos.score(out.audio, out.rate_hz)
        f0r = f0_correlation(out.audio, out.rate_hz, src.audio, src.rate_hz)
        eval_s += time.perf_counter() - t0
        for name, s in zip(out.timing.names, out.timing.seconds, strict=True):
            stage_s[name] = stage_s.get(name, 0.0) + s
        audio_s += out.duration_s
        wall_s += out.wall_s
        per_clip.append(
            {
                "clip": clip.name,
                "transcript": text,
                "wer": errors / n if n else None,
                "word_errors": errors,
                "ref_words": n,
                "sim_target": None if ref_emb is None else models.speaker.cosine(emb, ref_emb),
                "sim_target_before": None if ref_emb is None else models.speaker.cosine(src.embedding, ref_emb),
                "sim_source": models.speaker.cosine(emb, src.embedding),
                "dnsmos_ovrl": mos.ovrl,
                "dnsmos_sig": mos.sig,
                "dnsmos_bak": mos.bak,
                "f0_corr": f0r,
                "rtf": out.wall_s / out.duration_s,
            }
        )
    src_rows = [models.source(c) for c in sources]
    return {
        "voice": voice_name,
        "kind": voice.manifest.kind,
        "base": base,
        "reference": None if reference is None else str(reference),
        "n_clips": len(sources),
        "sim_target": _mean([c["sim_target"] for c in per_clip]),
        "sim_target_before": _mean([c["sim_target_before"] for c in per_clip]),
        "sim_source": _mean([c["sim_source"] for c in per_clip]),
        "wer": _pooled([c["word_errors"] for c in per_clip], [c["ref_words"] for c in per_clip]),
        "wer_source": _pooled([s.errors for s in src_rows], [s.ref_words for s in src_rows]),
        "dnsmos_ovrl": _mean([c["dnsmos_ovrl"] for c in per_clip]),
        "dnsmos_sig": _mean([c["dnsmos_sig"] for c in per_clip]),
        "dnsmos_bak": _mean([c["dnsmos_bak"] for c in per_clip]),
        "f0_corr": _mean([c["f0_corr"] for c in per_clip]),
        "rtf": wall_s / audio_s if audio_s else None,
        "rtf_stages": {k: v / audio_s for k, v in stage_s.items()} if audio_s else {},
        "eval_s_per_clip": eval_s / len(sources) if sources else None,
        "clips": per_clip,
    }


def _pooled(errors: list[int], words: list[int]) -> float | None:
    """All word edits over all reference words (long clips weigh more, as in corpus WER)."""
    return sum(errors) / sum(words) if sum(words) else None


def source_row(sources: list[EvalClip], models: EvalModels) -> dict[str, Any]:
    """The unconverted clips measured the same way: the baseline row of the report."""
    t0 = time.perf_counter()
    rows = [models.source(c) for c in sources]
    per_clip = [
        {
            "clip": c.name,
            "transcript": s.transcript,
            "wer": s.errors / s.ref_words if s.ref_words else None,
            "word_errors": s.errors,
            "ref_words": s.ref_words,
            "dnsmos_ovrl": s.dnsmos[0],
            "dnsmos_sig": s.dnsmos[1],
            "dnsmos_bak": s.dnsmos[2],
        }
        for c, s in zip(sources, rows, strict=True)
    ]
    wer = _pooled([s.errors for s in rows], [s.ref_words for s in rows])
    return {
        "voice": SOURCE_ROW,
        "kind": "unconverted",
        "reference": None,
        "n_clips": len(sources),
        "sim_target": None,
        "sim_target_before": None,
        "sim_source": None,
        "wer": wer,
        "wer_source": wer,
        "dnsmos_ovrl": _mean([s.dnsmos[0] for s in rows]),
        "dnsmos_sig": _mean([s.dnsmos[1] for s in rows]),
        "dnsmos_bak": _mean([s.dnsmos[2] for s in rows]),
        "f0_corr": None,
        "rtf": None,
        "rtf_stages": {},
        "eval_s_per_clip": (time.perf_counter() - t0) / len(sources) if sources else None,
        "clips": per_clip,
    }


def evaluate(
    voices: list[str],
    references: dict[str, Path],
    *,
    clips: list[EvalClip] | None = None,
    models: EvalModels | None = None,
    library: VoiceLibrary | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """The source baseline row, then one row per voice; ``references`` maps voice -> reference clip;
    ``base``: the neural base folder the neural voices run on (None: each bundle's own)."""
    sources = clips if clips is not None else find_eval_clips()
    models = models or EvalModels()
    library = library or VoiceLibrary.default()
    rows = [source_row(sources, models)]
    for name in voices:
        log.info("evaluating voice %s on %d clips", name, len(sources))
        row = evaluate_voice(name, sources, references.get(name), models=models, library=library, base=base)
        rows.append(row)
        log.info("voice %s: %s", name, _summary(row))
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "threads": models.threads,
        "clips": [{"name": c.name, "path": str(c.path), "text": c.text} for c in sources],
        "metrics": {
            "speaker_encoder": "Resemblyzer GE2E (256-dim), cosine",
            "asr": "Whisper-base CTranslate2 int8, beam 5, English, no timestamps",
            "mos": "DNSMOS P.835 (speechmos), 16 kHz",
            "f0": "YIN (vc_core.dsp.pitch), 10 ms frames at 16 kHz, Pearson of log-F0 over frames voiced in both",
        },
        "rows": rows,
    }


def _summary(row: dict[str, Any]) -> str:
    """One row's headline metrics on one line, for the log of a long evaluation."""
    keys = ("sim_target", "wer", "dnsmos_ovrl", "f0_corr", "rtf")
    return ", ".join(f"{k} {row[k]:.3f}" if isinstance(row.get(k), float) else f"{k} -" for k in keys)


# ----------------------------------------------------------------------------- table

TABLE_COLUMNS = (
    ("voice", "voice", "{}"),
    ("sim_target", "sim→target", "{:.3f}"),
    ("sim_target_before", "src→target", "{:.3f}"),
    ("sim_source", "sim→source", "{:.3f}"),
    ("wer", "WER", "{:.3f}"),
    ("wer_source", "WER src", "{:.3f}"),
    ("dnsmos_ovrl", "OVRL", "{:.2f}"),
    ("dnsmos_sig", "SIG", "{:.2f}"),
    ("dnsmos_bak", "BAK", "{:.2f}"),
    ("f0_corr", "F0 r", "{:.3f}"),
    ("rtf", "RTF", "{:.3f}"),
    ("eval_s_per_clip", "eval s/clip", "{:.1f}"),
)


def format_table(report: dict[str, Any]) -> str:
    """The report's rows as a markdown table (``–`` where a metric does not apply)."""
    head = "| " + " | ".join(title for _, title, _ in TABLE_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"
    lines = [head, rule]
    for row in report["rows"]:
        cells = [("–" if row.get(k) is None else fmt.format(row[k])) for k, _, fmt in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    stages = [
        f"{row['voice']}: " + ", ".join(f"{k} {v:.3f}" for k, v in row["rtf_stages"].items())
        for row in report["rows"]
        if row.get("rtf_stages")
    ]
    if stages:
        lines += ["", "RTF per stage: " + "; ".join(stages)]
    return "\n".join(lines)
