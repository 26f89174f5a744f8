"""Build a corpus of real recorded human speech from Debian packages, in :mod:`vc_core.train.corpus`'s format.

Sources (``--sources``, default all three)::

    source     package                      what                                         speaker ids
    tuxpaint   tuxpaint-stamps-default      spoken stamp descriptions ``*_desc[_<lang>].ogg``,  real-tux-<lang>-<n>
                                            13 languages, many volunteer readers (unknown    (one per utterance)
                                            who read what), 44.1 kHz (a few 8 kHz)
    armelle    asterisk-prompt-fr-armelle   French telephone prompts, one woman, GSM 8 kHz   real-armelle
    hedgewars  hedgewars-data               game voice packs ``Data/Sounds/voices/<pack>``,  real-hw-<pack>
                                            acted cartoon voices, 44.1/48 kHz

Never read: ``asterisk-core-sounds-en*`` (Allison) and ``pocketsphinx-testdata``, the evaluation's
speakers (:func:`check_not_evaluation` refuses their paths). Identical files (the same recording
under two stamp names) are used once.

Each file is read (soundfile, or ``sox`` when soundfile cannot), refused when clipped (more than
``MAX_CLIPPED_SHARE`` of its samples at ``CLIP_LEVEL``), mixed to mono, resampled to 22.05 kHz,
trimmed of leading/trailing silence (10 ms frames quieter than ``TRIM_BELOW_PEAK_DB`` under the
loudest frame, ``TRIM_PAD_S`` kept), refused when silent (loudest frame under ``SILENT_DBFS``) or
when the rest is outside ``MIN_UTTERANCE_S``..``MAX_UTTERANCE_S``, then normalised like the
synthetic corpus (:func:`vc_core.train.corpus.normalise`: RMS -20 dBFS, peak <= 0.95).

Order: per source, each group (tuxpaint: language; hedgewars: pack) is shuffled with the seed
and the groups are taken round-robin (so a few minutes already cover every language); the
sources take turns by minutes (the next file comes from the source with the least speech so
far, until it runs out). ``sentence_index`` is the file's position in its source's order, so
:mod:`vc_core.train.dataset`'s rule (``sentence_index % 10 == 0``) holds out a tenth of every
source. The build stops once the corpus holds ``minutes`` of speech.

Output, under ``out`` (the same as :mod:`vc_core.train.corpus`, which
``python -m vc_core.train.dataset --corpus <out>`` reads unchanged)::

    audio/<real-tux-<lang> | real-armelle | real-hw-<pack>>/<id>.flac   mono, 22.05 kHz, 16 bit
    manifest.jsonl   one :class:`vc_core.train.corpus.Utterance` per line: source_kind "real",
                     source "tuxpaint"/"armelle"/"hedgewars", voice = the packaged file it came
                     from, text "" (no transcripts), gender "f" (armelle) or "unknown"
    summary.json     minutes per speaker / source kind / licence, plus minutes per source

Resumable: utterances already in the manifest whose FLAC exists are skipped; each FLAC is
written to a temporary name and renamed, and its manifest line appended after the rename.

CLI: ``python -m vc_core.train.real_speech --out .cache/corpus-real --minutes 30``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from vc_core.dsp.resample import resample_clip
from vc_core.errors import VcError
from vc_core.train.corpus import (
    MANIFEST,
    Utterance,
    _stable_seed,
    _write_flac,
    normalise,
    open_manifest_for_append,
    read_manifest,
    summarise,
    write_summary,
)

log = logging.getLogger(__name__)

Wav = NDArray[np.float32]

RATE_HZ = 22050  # output rate: the vocoder's, what vc_core.train.dataset works at
SOURCE_KIND = "real"
MIN_UTTERANCE_S = 0.8  # after trimming
MAX_UTTERANCE_S = 12.0
CLIP_LEVEL = 0.999  # |x| at or above: a clipped sample (as vc_core.neural.clip)
MAX_CLIPPED_SHARE = 0.001
SILENT_DBFS = -50.0  # loudest 10 ms frame quieter than this: the file is silent
TRIM_BELOW_PEAK_DB = 40.0  # frames this far under the loudest frame are silence ...
TRIM_FLOOR_DBFS = -60.0  # ... or quieter than this, whichever is higher
TRIM_FRAME_S = 0.01
TRIM_PAD_S = 0.05  # silence kept around the speech

SOURCES = ("tuxpaint", "armelle", "hedgewars")
PACKAGES = {
    "tuxpaint": "tuxpaint-stamps-default",
    "armelle": "asterisk-prompt-fr-armelle",
    "hedgewars": "hedgewars-data",
}
LICENCES = {  # from /usr/share/doc/<package>/copyright
    "tuxpaint": "GPL-2.0-or-later (tuxpaint-stamps, (c) 2002-2022 Bill Kendrick)",
    "armelle": "BSD-style (asterisk-prompt-fr-armelle, (c) 2006 Michel Gutierrez; voice Armelle Desjardins)",
    "hedgewars": "GFDL-1.3 (hedgewars-data Data/Sounds, (c) 2004-2006 Andrey Korotaev)",
}
# Hedgewars packs left out: Robot is vocoded; Singer is sung (its F0 varies as little as Robot's).
HEDGEWARS_SKIPPED_PACKS = ("Robot", "Singer")
# Paths of the evaluation's speakers; no file whose path contains one of these is ever read.
EVALUATION_PATH_MARKERS = ("Allison", "pocketsphinx", "/asterisk/sounds/en")
AUDIO_SUFFIXES = (".ogg", ".wav", ".gsm", ".flac", ".ulaw", ".alaw", ".g722", ".sln")
_TUX_DESC = re.compile(r"_desc(?:_([A-Za-z]{2,3}(?:_[A-Za-z]{2})?))?$")


class RealSpeechError(VcError):
    """A source package is missing, or a file is one the corpus must never hold."""


@dataclass(frozen=True)
class RealFile:
    """One packaged recording to consider.

    Attributes:
        path: the audio file (any format soundfile or sox reads, any rate, mono or stereo).
        source: ``"tuxpaint"``, ``"armelle"``, ``"hedgewars"`` (or any name, in tests).
        group: round-robin unit inside the source (tuxpaint: language; hedgewars: pack).
        speaker: speaker id; with ``per_utterance`` it gets ``-<n>`` (n-th file of the group).
        per_utterance: each file is its own speaker (unknown readers).
        gender: ``"f"``, ``"m"`` or ``"unknown"``.
        licence: licence of the recording.
    """

    path: Path
    source: str
    group: str
    speaker: str
    per_utterance: bool = False
    gender: str = "unknown"
    licence: str = ""


@dataclass(frozen=True)
class Planned:
    """A file's place in the build: its utterance id, speaker and sentence index."""

    file: RealFile
    uid: str
    speaker: str
    folder: str  # audio/<folder>/<uid>.flac
    sentence_index: int


# ---------------------------------------------------------------- finding the packaged files


def check_not_evaluation(path: Path) -> None:
    """Raise :class:`RealSpeechError` for a path of the evaluation's speakers (Allison, pocketsphinx)."""
    text = str(path)
    for marker in EVALUATION_PATH_MARKERS:
        if marker in text:
            raise RealSpeechError(f"{path}: belongs to the evaluation's speakers ({marker!r}); never train on it")


def package_installed(package: str) -> bool:
    """Whether dpkg has ``package`` installed (False where there is no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return False
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False, timeout=60
    )
    return status.returncode == 0 and status.stdout.strip().endswith(" installed")


def package_files(package: str) -> list[Path]:
    """Regular files of an installed Debian package (``dpkg -L``), sorted; symlinks left out.

    Raises :class:`RealSpeechError` naming the ``apt-get`` command when it is not installed.
    """
    if not package_installed(package):
        raise RealSpeechError(f"package {package} is not installed: sudo apt-get install {package}")
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False, timeout=60)
    paths = [Path(p) for p in listing.stdout.splitlines() if p.strip()]
    return sorted(p for p in paths if p.is_file() and not p.is_symlink())


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def tuxpaint_language(path: Path) -> str | None:
    """Language of a stamp description (``frog_desc_fr.ogg`` -> ``"fr"``, ``frog_desc.ogg`` -> ``"en"``).

    None when the file is not a description. A doubled ``.ogg.ogg`` is accepted.
    """
    name = path.name
    while name.lower().endswith(".ogg"):
        name = name[:-4]
    m = _TUX_DESC.search(name)
    if m is None:
        return None
    return (m.group(1) or "en").lower()


def find_tuxpaint() -> list[RealFile]:
    out = []
    for p in package_files(PACKAGES["tuxpaint"]):
        lang = tuxpaint_language(p) if p.suffix.lower() == ".ogg" else None
        if lang is not None:
            out.append(RealFile(p, "tuxpaint", lang, f"real-tux-{lang}", True, "unknown", LICENCES["tuxpaint"]))
    return out


def find_armelle() -> list[RealFile]:
    return [
        RealFile(p, "armelle", "fr", "real-armelle", False, "f", LICENCES["armelle"])
        for p in package_files(PACKAGES["armelle"])
        if _is_audio(p)
    ]


def find_hedgewars() -> list[RealFile]:
    out = []
    for p in package_files(PACKAGES["hedgewars"]):
        if p.suffix.lower() != ".ogg" or p.parent.parent.name != "voices":
            continue
        pack = p.parent.name
        if any(s.lower() in pack.lower() for s in HEDGEWARS_SKIPPED_PACKS):
            continue
        out.append(RealFile(p, "hedgewars", pack, f"real-hw-{pack}", False, "unknown", LICENCES["hedgewars"]))
    return out


FINDERS: dict[str, Callable[[], list[RealFile]]] = {
    "tuxpaint": find_tuxpaint,
    "armelle": find_armelle,
    "hedgewars": find_hedgewars,
}


def find_files(sources: Sequence[str]) -> list[RealFile]:
    """The packaged files of ``sources`` (names from :data:`SOURCES`); every package checked first."""
    unknown = [s for s in sources if s not in FINDERS]
    if unknown or not sources:
        raise RealSpeechError(f"sources: {', '.join(unknown) or '(none)'}: use some of {', '.join(SOURCES)}")
    missing = [PACKAGES[s] for s in sources if not package_installed(PACKAGES[s])]
    if missing:
        raise RealSpeechError(
            f"package{'s' if len(missing) > 1 else ''} {', '.join(missing)} not installed "
            f"(source{'s' if len(missing) > 1 else ''} {', '.join(s for s in sources if PACKAGES[s] in missing)}): "
            f"sudo apt-get install {' '.join(missing)}"
        )
    return [f for s in sources for f in FINDERS[s]()]


def deduplicate(files: Sequence[RealFile]) -> list[RealFile]:
    """Files with identical bytes kept once (the first in sorted path order); order otherwise kept."""
    seen: set[bytes] = set()
    keep: set[Path] = set()
    for f in sorted(files, key=lambda f: str(f.path)):
        digest = hashlib.blake2b(f.path.read_bytes(), digest_size=16).digest()
        if digest not in seen:
            seen.add(digest)
            keep.add(f.path)
    dropped = len(files) - len(keep)
    if dropped:
        log.info("%d duplicate files left out", dropped)
    return [f for f in files if f.path in keep]


# ---------------------------------------------------------------- the plan


def _round_robin(lists: Sequence[Sequence[Any]]) -> Iterator[Any]:
    for k in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if k < len(x):
                yield x[k]


def plan(files: Sequence[RealFile], seed: int) -> dict[str, list[Planned]]:
    """Source -> its files' ids, speakers and sentence indices, in build order (see the module docstring).

    Depends only on the files (their paths, sources and groups) and ``seed``. Sources keep the
    order of their first file; groups are taken round-robin in name order; within a group, the
    files are shuffled. ``sentence_index`` counts 0, 1, 2... along each source's list.
    """
    by_source: dict[str, dict[str, list[RealFile]]] = {}
    for f in files:
        by_source.setdefault(f.source, defaultdict(list))[f.group].append(f)
    out: dict[str, list[Planned]] = {}
    for source, groups in by_source.items():
        orders: list[list[tuple[RealFile, int]]] = []
        for group in sorted(groups):
            members = sorted(groups[group], key=lambda f: str(f.path))
            rng = np.random.default_rng(_stable_seed("real", source, group, seed))
            orders.append([(members[i], n) for n, i in enumerate(rng.permutation(len(members)))])
        planned = []
        for index, (f, n) in enumerate(_round_robin(orders)):
            speaker = f"{f.speaker}-{n:04d}" if f.per_utterance else f.speaker
            planned.append(Planned(f, f"{speaker}_{index:04d}", speaker, f.speaker, index))
        out[source] = planned
    return out


def take_turns(queues: dict[str, list[Planned]], minutes: dict[str, float]) -> Iterator[Planned]:
    """The planned files, the next one always from the source with the least ``minutes`` so far.

    ``minutes`` (source -> minutes already in the corpus) is read at every step, so the caller
    adds what it writes; ties go to the source planned first. Ends when every queue is empty.
    """
    rank = {s: k for k, s in enumerate(queues)}
    pos = dict.fromkeys(queues, 0)
    while True:
        live = [s for s in queues if pos[s] < len(queues[s])]
        if not live:
            return
        s = min(live, key=lambda s: (minutes.get(s, 0.0), rank[s]))
        pos[s] += 1
        yield queues[s][pos[s] - 1]


# ---------------------------------------------------------------- one file


def read_audio(path: Path) -> tuple[NDArray[np.float32], int]:
    """Any file soundfile reads (else converted by ``sox``) -> (samples (T, channels) float32, rate Hz)."""
    check_not_evaluation(path)
    try:
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        return wav, int(rate)
    except Exception as first:  # soundfile raises several types for unreadable data
        if shutil.which("sox") is None:
            raise VcError(f"{path}: soundfile cannot read it ({first}) and sox is not installed") from first
        with tempfile.TemporaryDirectory(prefix="vc-real-") as tmp:
            wav_path = Path(tmp) / "x.wav"
            run = subprocess.run(
                ["sox", str(path), "-e", "floating-point", "-b", "32", str(wav_path)],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if run.returncode != 0:
                raise VcError(f"{path}: neither soundfile ({first}) nor sox ({run.stderr.strip()}) reads it") from first
            wav, rate = sf.read(wav_path, dtype="float32", always_2d=True)
            return wav, int(rate)


def trim(wav: Wav, rate_hz: int) -> Wav:
    """Cut leading/trailing 10 ms frames quieter than the silence threshold, keeping ``TRIM_PAD_S``.

    The threshold is ``TRIM_BELOW_PEAK_DB`` under the loudest frame, at least ``TRIM_FLOOR_DBFS``.
    (T,) -> (T',), T' <= T; empty when no frame passes.
    """
    frame = max(1, round(TRIM_FRAME_S * rate_hz))
    n = -(-len(wav) // frame)
    if n == 0:
        return wav[:0]
    padded = np.zeros(n * frame, np.float64)
    padded[: len(wav)] = wav
    db = 10.0 * np.log10(np.mean(padded.reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(db > max(float(db.max()) - TRIM_BELOW_PEAK_DB, TRIM_FLOOR_DBFS))
    if not len(loud):
        return wav[:0]
    pad = round(TRIM_PAD_S * rate_hz)
    return wav[max(0, loud[0] * frame - pad) : min(len(wav), (loud[-1] + 1) * frame + pad)]


def prepare(wav: NDArray[np.floating], rate_hz: int) -> tuple[Wav | None, str]:
    """Samples (T,) or (T, channels) at ``rate_hz`` -> (clip (T',) float32 at 22.05 kHz, "") or (None, reason).

    The clip is mono, trimmed and normalised; reasons: ``"not finite"``, ``"clipped"``,
    ``"silent"``, ``"short"``, ``"long"``.
    """
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if not len(x):
        return None, "short"
    if not np.all(np.isfinite(x)):
        return None, "not finite"
    if float(np.mean(np.abs(x) >= CLIP_LEVEL)) > MAX_CLIPPED_SHARE:
        return None, "clipped"
    mono = resample_clip(x.mean(axis=1), rate_hz, RATE_HZ)
    frame = round(TRIM_FRAME_S * RATE_HZ)
    n = len(mono) // frame
    if n == 0:
        return None, "short"
    loudest = float(np.max(np.mean(mono[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)))
    if 10.0 * np.log10(loudest + 1e-20) < SILENT_DBFS:
        return None, "silent"
    clip = trim(mono, RATE_HZ)
    dur = len(clip) / RATE_HZ
    if dur < MIN_UTTERANCE_S:
        return None, "short"
    if dur > MAX_UTTERANCE_S:
        return None, "long"
    return normalise(clip), ""


# ---------------------------------------------------------------- the build


def _append_line(manifest: Any, entry: dict[str, Any]) -> None:
    manifest.write(json.dumps(entry) + "\n")
    manifest.flush()


def build_real_corpus(
    out: Path,
    minutes: float,
    sources: Sequence[str] = SOURCES,
    seed: int = 0,
    files: Sequence[RealFile] | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Write real speech until the corpus in ``out`` holds ``minutes`` of it; returns the summary.

    Args:
        out: corpus folder (created; an existing corpus there is resumed).
        minutes: total speech to reach, in minutes (> 0).
        sources: names from :data:`SOURCES` (ignored when ``files`` is given).
        seed: fixes the order.
        files: the recordings to use instead of the packages' (tests, other collections).
        progress: show a tqdm bar (seconds of speech).
    """
    if not minutes > 0:
        raise VcError(f"minutes: {minutes} must be > 0")
    found = list(files) if files is not None else find_files(tuple(sources))
    for f in found:
        check_not_evaluation(f.path)
    queues = plan(deduplicate(found), seed)
    out.mkdir(parents=True, exist_ok=True)
    done = read_manifest(out)
    total_s = float(sum(float(e["duration_s"]) for e in done.values()))
    minutes_by: dict[str, float] = defaultdict(float)
    for e in done.values():
        minutes_by[str(e["source"])] += float(e["duration_s"]) / 60.0
    target_s = 60.0 * minutes
    written = 0
    skipped: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(target_s), initial=min(round(total_s), round(target_s)), unit="s", desc="real speech")
    with open_manifest_for_append(out / MANIFEST) as manifest:
        for p in take_turns(queues, minutes_by):
            if total_s >= target_s:
                break
            if p.uid in done:
                continue
            try:
                raw, source_rate = read_audio(p.file.path)
            except RealSpeechError:
                raise
            except VcError as e:
                log.warning("%s: skipped (%s)", p.file.path, e)
                skipped["unreadable"] += 1
                continue
            clip, reason = prepare(raw, source_rate)
            if clip is None:
                log.debug("%s: skipped (%s)", p.file.path, reason)
                skipped[reason] += 1
                continue
            rel = f"audio/{p.folder}/{p.uid}.flac"
            _write_flac(out / rel, clip, RATE_HZ)
            dur = len(clip) / RATE_HZ
            entry = Utterance(
                id=p.uid,
                path=rel,
                speaker=p.speaker,
                source=p.file.source,
                source_kind=SOURCE_KIND,
                voice=str(p.file.path),
                gender=p.file.gender,
                pitch_semitones=0.0,
                formant_ratio=1.0,
                text="",
                sentence_index=p.sentence_index,
                seed=_stable_seed("real", p.uid, seed) & 0x7FFFFFFF,
                duration_s=round(dur, 4),
                rate_hz=RATE_HZ,
                source_rate_hz=source_rate,
                licence=p.file.licence,
            )
            _append_line(manifest, asdict(entry))
            done[p.uid] = asdict(entry)
            total_s += dur
            minutes_by[p.file.source] += dur / 60.0
            written += 1
            if bar is not None:
                bar.update(min(round(total_s), round(target_s)) - bar.n)
    if bar is not None:
        bar.close()
    entries = list(done.values())
    summary = summarise(entries)
    minutes_per: dict[str, float] = defaultdict(float)
    count_per: dict[str, int] = defaultdict(int)
    for row in entries:
        minutes_per[str(row["source"])] += float(row["duration_s"]) / 60.0
        count_per[str(row["source"])] += 1
    summary.update(
        minutes_per_source={k: round(v, 3) for k, v in sorted(minutes_per.items())},
        utterances_per_source=dict(sorted(count_per.items())),
        written_now=written,
        skipped_now=dict(sorted(skipped.items())),
        build_seconds_now=round(time.perf_counter() - t0, 1),
        seed=seed,
        rate_hz=RATE_HZ,
        sources=sorted({f.source for f in found}),
        files_available={k: len(v) for k, v in queues.items()},
    )
    if total_s < target_s:
        log.warning("the sources ran out at %.1f of %.1f minutes", total_s / 60, minutes)
    write_summary(out, summary)
    return summary


def summary_line(summary: dict[str, Any], out: Path) -> str:
    """One line: total, then minutes and utterances per source."""
    per = ", ".join(
        f"{s} {m:.1f} min ({summary['utterances_per_source'][s]})" for s, m in summary["minutes_per_source"].items()
    )
    return (
        f"{summary['minutes']:.1f} min, {summary['utterances']} utterances, {summary['speakers']} speakers "
        f"({summary['written_now']} written now): {per} -> {out}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.real_speech", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, required=True, help="total speech to reach, minutes")
    ap.add_argument("--out", type=Path, default=Path(".cache/corpus-real"), help="corpus folder (resumed if present)")
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated, from {', '.join(SOURCES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    try:
        summary = build_real_corpus(args.out, args.minutes, sources, args.seed, progress=not args.no_progress)
    except VcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary_line(summary, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
