"""Build a multi-speaker training corpus offline from packaged TTS voices.

Speakers are the packaged voices (:mod:`vc_core.train.sources`) plus *virtual* speakers made
from each of them with the project's own pitch and formant shifter
(:class:`vc_core.dsp.shifter.PitchFormantShifter`, 24 kHz): each virtual speaker has one fixed
``(pitch_semitones, formant_ratio)`` drawn from the seed, so it is a consistent identity.

Utterances go round-robin over the speakers; each speaker reads the sentence list
(``sentences.txt``) in its own seeded order. The build stops once the total speech reaches
``minutes``. Output, under ``out``::

    audio/<speaker>/<speaker>_<sentence index>.flac   mono, rate_hz (default 24 kHz), 16 bit
    manifest.jsonl                                    one JSON object per utterance (see Utterance)
    summary.json                                      minutes per speaker, per source, per licence

Resumable: utterances already in the manifest whose file exists are skipped (files are
written to a temporary name and renamed; the manifest line is appended after the rename).
Deterministic: the plan (speaker order, sentences, perturbations, per-utterance seeds) depends
only on ``seed`` and the sources; audio is bit-identical for every source except piper (VITS
noise inside the ONNX graph).

CLI: ``python -m vc_core.train.corpus --minutes 60 --out .cache/corpus``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import logging
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import soundfile as sf

from vc_core.dsp.resample import resample_clip
from vc_core.dsp.shifter import RATE_HZ as SHIFTER_RATE_HZ
from vc_core.dsp.shifter import PitchFormantShifter, ShiftParams
from vc_core.errors import VcError
from vc_core.train.sources import (
    SOURCE_KINDS,
    SourceError,
    SpeechSource,
    Wav,
    build_sources,
)

log = logging.getLogger(__name__)

DEFAULT_KINDS = ("espeak", "festival", "piper", "hibari")  # the fast ones (RTF < 0.1 on one core)
DEFAULT_RATE_HZ = 24000
OUTPUT_RATES_HZ = (16000, 22050, 24000)
TARGET_RMS_DBFS = -20.0  # loudness of every utterance (RMS over the whole trimmed clip)
PEAK_LIMIT = 0.95  # full scale 1; scaled down further if the RMS target would clip
PITCH_MAGNITUDE_ST = (2.0, 5.5)  # virtual speakers: |pitch shift| in semitones
FORMANT_PER_OCTAVE = 0.35  # formant ratio follows pitch: 2 ** (0.35 * octaves) ...
FORMANT_JITTER = 0.04  # ... times 1 +- this, clipped to FORMANT_RANGE
FORMANT_RANGE = (0.82, 1.22)
MIN_UTTERANCE_S = 0.3  # shorter outputs (engine hiccups) are dropped
MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class Perturbation:
    """A fixed pitch/formant change that turns a voice into a virtual speaker."""

    pitch_semitones: float = 0.0
    formant_ratio: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.pitch_semitones == 0.0 and self.formant_ratio == 1.0

    @property
    def tag(self) -> str:
        """Speaker-id suffix, e.g. ``"p+3.5f1.12"`` ('' for the identity)."""
        return "" if self.is_identity else f"p{self.pitch_semitones:+.1f}f{self.formant_ratio:.2f}"


@dataclass(frozen=True)
class Speaker:
    """A corpus speaker: a source voice and a perturbation of it."""

    id: str
    source: SpeechSource
    perturbation: Perturbation


@dataclass(frozen=True)
class Utterance:
    """One manifest line (``manifest.jsonl``)."""

    id: str
    path: str  # relative to the corpus folder
    speaker: str
    source: str  # unperturbed voice id
    source_kind: str
    voice: str
    gender: str
    pitch_semitones: float
    formant_ratio: float
    text: str
    sentence_index: int
    seed: int
    duration_s: float
    rate_hz: int
    source_rate_hz: int  # bandwidth of the voice before resampling
    licence: str


def load_sentences(path: Path | None = None) -> list[str]:
    """Sentences from ``path`` (default: the packaged ``sentences.txt``), '#' lines skipped."""
    if path is None:
        text = (importlib.resources.files("vc_core.train") / "sentences.txt").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _stable_seed(*parts: object) -> int:
    """A seed from names and numbers that does not change between runs (unlike ``hash``)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def perturbations(source_name: str, gender: str, count: int, seed: int) -> list[Perturbation]:
    """``count`` virtual-speaker perturbations for one voice, identity first not included.

    The pitch moves 2..5.5 semitones, away from the voice's range more often than towards it
    (female voices mostly down, male mostly up, 70 %), the formants follow the pitch by
    ``FORMANT_PER_OCTAVE`` (a bigger or smaller vocal tract) with a little jitter.
    """
    rng = np.random.default_rng(_stable_seed("perturb", source_name, seed))
    out: list[Perturbation] = []
    for _ in range(count):
        toward_other = rng.uniform() < 0.7
        sign = (-1.0 if gender == "f" else 1.0) * (1.0 if toward_other else -1.0)
        semis = round(sign * rng.uniform(*PITCH_MAGNITUDE_ST), 1)
        formant = 2.0 ** (FORMANT_PER_OCTAVE * semis / 12.0) * (1.0 + FORMANT_JITTER * rng.uniform(-1, 1))
        out.append(Perturbation(semis, round(float(np.clip(formant, *FORMANT_RANGE)), 2)))
    return out


def make_speakers(sources: Sequence[SpeechSource], virtual_per_voice: int, seed: int) -> list[Speaker]:
    """Each source as itself plus ``virtual_per_voice`` perturbed copies."""
    speakers: list[Speaker] = []
    for s in sources:
        speakers.append(Speaker(s.info.name, s, Perturbation()))
        for p in perturbations(s.info.name, s.info.gender, virtual_per_voice, seed):
            speakers.append(Speaker(f"{s.info.name}~{p.tag}", s, p))
    return speakers


def plan(speakers: Sequence[Speaker], n_sentences: int, seed: int) -> Iterator[tuple[Speaker, int, int]]:
    """(speaker, sentence index, utterance seed) round-robin; each speaker reads in its own order.

    Finite: ends after every speaker has read every sentence once.
    """
    orders = [np.random.default_rng(_stable_seed("order", sp.id, seed)).permutation(n_sentences) for sp in speakers]
    for k in range(n_sentences):
        for sp, order in zip(speakers, orders, strict=True):
            idx = int(order[k])
            yield sp, idx, _stable_seed("utt", sp.id, idx, seed) & 0x7FFFFFFF


def perturb(wav: Wav, rate_hz: int, p: Perturbation) -> tuple[Wav, int]:
    """Apply ``p`` with the project's shifter (at 24 kHz); returns (wav, 24000) unless identity."""
    if p.is_identity:
        return wav, rate_hz
    x = resample_clip(wav, rate_hz, SHIFTER_RATE_HZ)
    shifter = PitchFormantShifter(ShiftParams(pitch_semitones=p.pitch_semitones, formant_ratio=p.formant_ratio))
    y = np.concatenate([shifter.push(x), shifter.flush()])  # aligned: same length as x
    return y.astype(np.float32), SHIFTER_RATE_HZ


def normalise(wav: Wav) -> Wav:
    """Scale to ``TARGET_RMS_DBFS`` RMS, then down if the peak would pass ``PEAK_LIMIT``."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms <= 0.0:
        return wav
    gain = 10.0 ** (TARGET_RMS_DBFS / 20.0) / rms
    peak = float(np.max(np.abs(wav))) * gain
    if peak > PEAK_LIMIT:
        gain *= PEAK_LIMIT / peak
    return (wav * np.float32(gain)).astype(np.float32)


def open_manifest_for_append(path: Path) -> TextIO:
    """``path`` opened to append JSON lines. A torn last line (a run stopped mid-write) is ended
    first, so it cannot swallow the next entry; :func:`read_manifest` ignores it."""
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    f = open(path, "a", encoding="utf-8")  # noqa: SIM115 (returned to the caller's with-block)
    if torn:
        f.write("\n")
    return f


def read_manifest(out: Path) -> dict[str, dict[str, Any]]:
    """Utterance id -> manifest entry, for entries whose audio file exists (a torn last line is ignored)."""
    done: dict[str, dict[str, Any]] = {}
    path = out / MANIFEST
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (out / str(entry["path"])).exists():
            done[str(entry["id"])] = entry
    return done


def _write_flac(path: Path, wav: Wav, rate_hz: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    sf.write(tmp, wav, rate_hz, format="FLAC", subtype="PCM_16")
    tmp.replace(path)


def summarise(entries: Sequence[dict[str, Any]]) -> dict[str, object]:
    """Minutes and utterance counts per speaker, source kind and licence."""
    by: dict[str, dict[str, float]] = {"speaker": defaultdict(float), "source_kind": defaultdict(float)}
    lic: dict[str, float] = defaultdict(float)
    for e in entries:
        d = float(e["duration_s"])
        by["speaker"][str(e["speaker"])] += d / 60.0
        by["source_kind"][str(e["source_kind"])] += d / 60.0
        lic[f"{e['source_kind']}: {e['licence']}"] += d / 60.0
    total = sum(float(e["duration_s"]) for e in entries) / 60.0
    return {
        "utterances": len(entries),
        "minutes": round(total, 3),
        "speakers": len(by["speaker"]),
        "minutes_per_speaker": {k: round(v, 3) for k, v in sorted(by["speaker"].items())},
        "minutes_per_source_kind": {k: round(v, 3) for k, v in sorted(by["source_kind"].items())},
        "minutes_per_licence": {k: round(v, 3) for k, v in sorted(lic.items())},
    }


def build_corpus(
    out: Path,
    minutes: float,
    kinds: Sequence[str] = DEFAULT_KINDS,
    virtual_per_voice: int = 2,
    rate_hz: int = DEFAULT_RATE_HZ,
    seed: int = 0,
    sentences: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    id_prefix: str = "",
) -> dict[str, object]:
    """Synthesise until the corpus in ``out`` holds ``minutes`` of speech; returns the summary.

    Args:
        out: corpus folder (created; an existing corpus there is resumed).
        minutes: total speech to reach, in minutes (> 0).
        kinds: source kinds from :data:`vc_core.train.sources.SOURCE_KINDS`.
        virtual_per_voice: perturbed copies of each voice (0 = the voices only).
        rate_hz: output rate, one of ``OUTPUT_RATES_HZ``.
        seed: fixes the plan and every perturbation.
        sentences: text lines (default: the packaged sentence list).
        cache_dir: where joined model files go (default ``out/../models``).
        id_prefix: prepended to utterance ids, so corpora built from other sentence lists can be
            combined (``vc_core.train.dataset --corpus A B``) without two utterances sharing an id.
    """
    if not minutes > 0:
        raise VcError(f"minutes: {minutes} must be > 0")
    if rate_hz not in OUTPUT_RATES_HZ:
        raise VcError(f"rate_hz: {rate_hz} not one of {OUTPUT_RATES_HZ}")
    if virtual_per_voice < 0:
        raise VcError(f"virtual_per_voice: {virtual_per_voice} must be >= 0")
    texts = list(sentences) if sentences is not None else load_sentences()
    if not texts:
        raise VcError("sentences: the list is empty")
    sources = build_sources(tuple(kinds), cache_dir or out.parent / "models")
    speakers = make_speakers(sources, virtual_per_voice, seed)
    out.mkdir(parents=True, exist_ok=True)
    done = read_manifest(out)
    total_s = float(sum(float(e["duration_s"]) for e in done.values()))
    target_s = 60.0 * minutes
    written = 0
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(target_s), initial=min(round(total_s), round(target_s)), unit="s", desc="corpus")
    with open_manifest_for_append(out / MANIFEST) as manifest:
        for sp, idx, useed in plan(speakers, len(texts), seed):
            if total_s >= target_s:
                break
            uid = f"{id_prefix}{sp.id}_{idx:04d}"
            if uid in done:
                continue
            info = sp.source.info
            wav = sp.source.synthesize(texts[idx], useed)
            wav, wav_rate = perturb(wav, info.rate_hz, sp.perturbation)
            wav = normalise(resample_clip(wav, wav_rate, rate_hz))
            dur = len(wav) / rate_hz
            if dur < MIN_UTTERANCE_S:
                log.warning("%s: %.2f s of audio for %r, skipped", uid, dur, texts[idx])
                continue
            rel = f"audio/{sp.id}/{uid}.flac"
            _write_flac(out / rel, wav, rate_hz)
            p = sp.perturbation
            entry = Utterance(
                uid,
                rel,
                sp.id,
                info.name,
                info.kind,
                info.voice,
                info.gender,
                p.pitch_semitones,
                p.formant_ratio,
                texts[idx],
                idx,
                useed,
                round(dur, 4),
                rate_hz,
                info.rate_hz,
                info.licence,
            )
            manifest.write(json.dumps(asdict(entry)) + "\n")
            manifest.flush()
            done[uid] = asdict(entry)
            total_s += dur
            written += 1
            if bar is not None:
                bar.update(min(round(total_s), round(target_s)) - bar.n)
    if bar is not None:
        bar.close()
    summary = summarise(list(done.values()))
    summary.update(
        written_now=written,
        build_seconds_now=round(time.perf_counter() - t0, 1),
        seed=seed,
        rate_hz=rate_hz,
        kinds=list(kinds),
        virtual_per_voice=virtual_per_voice,
    )
    if total_s < target_s:
        log.warning("sentence list exhausted at %.1f of %.1f minutes", total_s / 60, minutes)
    write_summary(out, summary)
    return summary


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    """``out/summary.json``, whole or not at all."""
    tmp = out / (SUMMARY + ".part")
    tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / SUMMARY)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.corpus", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, required=True, help="total speech to reach, minutes")
    ap.add_argument("--out", type=Path, default=Path(".cache/corpus"), help="corpus folder (resumed if present)")
    ap.add_argument(
        "--sources", default=",".join(DEFAULT_KINDS), help=f"comma-separated kinds from {', '.join(SOURCE_KINDS)}"
    )
    ap.add_argument("--virtual", type=int, default=2, help="perturbed virtual speakers per voice")
    ap.add_argument("--rate-hz", type=int, default=DEFAULT_RATE_HZ, choices=OUTPUT_RATES_HZ)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sentences", type=Path, default=None, help="sentence file (default: packaged list)")
    ap.add_argument("--id-prefix", default="", help="prefix of utterance ids (when combining corpora)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kinds = tuple(k.strip() for k in args.sources.split(",") if k.strip())
    try:
        summary = build_corpus(
            args.out,
            args.minutes,
            kinds,
            args.virtual,
            args.rate_hz,
            args.seed,
            load_sentences(args.sentences) if args.sentences else None,
            progress=not args.no_progress,
            id_prefix=args.id_prefix,
        )
    except (VcError, SourceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{summary['minutes']:.1f} min, {summary['utterances']} utterances, {summary['speakers']} speakers "
        f"({summary['written_now']} written now) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
