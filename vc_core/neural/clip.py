"""A new voice from a reference clip (zero-shot): check the clip, embed it, save a bundle.

The clip must hold 5-30 s of one person speaking (longer clips use their first 30 s). It is
refused, with a message that says what to do, when it is too short, (nearly) silent, clipped,
or does not sound like speech (noise, or a steady tone). The voice is the clip's d-vector
(:mod:`vc_core.neural.speaker`) and its median F0, written as a ``neural`` bundle into the
user's voice folder; the shared base model converts to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.pitch import track_f0
from vc_core.dsp.resample import resample_clip
from vc_core.errors import ReferenceClipError, VcError
from vc_core.neural.bundles import BASE_NAME, SPEAKER_NAME, base_delay_frames, write_voice_bundle
from vc_core.neural.speaker import DVectorEncoder
from vc_core.stages import SpeakerEncoder
from vc_core.voices.bundle import NAME_PATTERN

F32 = NDArray[np.float32]

MIN_CLIP_S = 5.0
MAX_CLIP_S = 30.0
MIN_SOUND_S = 3.0  # at least this much of the clip above the activity threshold
ACTIVITY_DBFS = -50.0  # 20 ms frames louder than this count as sound
CLIP_LEVEL = 0.999  # |x| at or above: a clipped sample
MAX_CLIPPED_SHARE = 0.001
MIN_VOICED_SHARE = 0.2  # of the sounding frames; noise and whispers are far below
TONE_VOICED_SHARE = 0.97
TONE_SPREAD_ST = 0.7  # a held tone varies less than this (std of F0 in semitones)
ANALYSIS_RATE_HZ = 16000
FRAME = 320  # 20 ms at 16 kHz


@dataclass(frozen=True)
class ClipReport:
    """What the checks measured on the (first 30 s of the) clip."""

    duration_s: float
    used_s: float
    sound_s: float
    voiced_share: float
    f0_median_hz: float
    f0_spread_st: float
    clipped_share: float


def analyse_clip(wav: NDArray[np.floating], rate_hz: int) -> ClipReport:
    """Measure the clip and raise :class:`ReferenceClipError` when it cannot make a voice."""
    x = np.asarray(wav, dtype=np.float32)
    duration = len(x) / rate_hz
    if not np.all(np.isfinite(x)):
        raise ReferenceClipError("the clip holds NaN or infinite samples; export it again from your recorder")
    if duration < MIN_CLIP_S:
        raise ReferenceClipError(
            f"the clip is {duration:.1f} s long; record or pick {MIN_CLIP_S:g}-{MAX_CLIP_S:g} s of one person speaking"
        )
    x = x[: int(MAX_CLIP_S * rate_hz)]
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_SHARE:
        raise ReferenceClipError(
            f"the clip is clipped ({100 * clipped:.1f}% of samples at full scale); "
            "lower the input gain and record again"
        )
    y = resample_clip(x, rate_hz, ANALYSIS_RATE_HZ)
    n = len(y) // FRAME
    rms = np.sqrt(np.mean(y[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1) + 1e-20)
    active = 20 * np.log10(rms) > ACTIVITY_DBFS
    sound_s = float(active.sum()) * FRAME / ANALYSIS_RATE_HZ
    if sound_s < MIN_SOUND_S:
        raise ReferenceClipError(
            f"the clip has only {sound_s:.1f} s of sound above {ACTIVITY_DBFS:g} dBFS: it is silent or nearly; "
            "check the microphone and record 5-30 s of speech"
        )
    f0, voiced = track_f0(y, ANALYSIS_RATE_HZ, FRAME, 60.0, 600.0)
    f0, voiced = f0[:n], voiced[:n]
    share = float(voiced[active].mean())
    lf = np.log2(f0[voiced & active]) if np.any(voiced & active) else np.zeros(0)
    spread = float(12.0 * np.std(lf)) if len(lf) else 0.0
    if share < MIN_VOICED_SHARE:
        raise ReferenceClipError(
            f"the clip does not sound like speech (only {100 * share:.0f}% of its sound is voiced); "
            "record a voice speaking, without music or loud noise"
        )
    if share > TONE_VOICED_SHARE and spread < TONE_SPREAD_ST:
        raise ReferenceClipError(
            f"the clip sounds like a steady tone (F0 varies by {spread:.2f} semitones), not speech; "
            "record a voice speaking normally"
        )
    return ClipReport(
        duration_s=round(duration, 3),
        used_s=round(len(x) / rate_hz, 3),
        sound_s=round(sound_s, 3),
        voiced_share=round(share, 3),
        f0_median_hz=round(float(2.0 ** np.median(lf)), 2),
        f0_spread_st=round(spread, 3),
        clipped_share=clipped,
    )


def check_voice_name(name: str) -> None:
    if not NAME_PATTERN.match(name) or name.startswith("_"):
        raise VcError(f"voice name {name!r}: use lower-case letters, digits, '-' or '_' (up to 64), e.g. 'my-voice'")


def voice_from_clip(
    clip: Path,
    name: str,
    out_root: Path,
    models_dir: Path,
    display_name: str | None = None,
    overwrite: bool = False,
    progress: Callable[[float, str], None] | None = None,
    encoder: SpeakerEncoder | None = None,
) -> tuple[Path, ClipReport]:
    """Make the voice ``name`` from ``clip`` into ``out_root/<name>``; returns (bundle folder, report).

    ``models_dir`` holds the shipped ``_speaker`` bundle, whose d-vector encoder measures the voice
    unless ``encoder`` is given. Nothing is written unless every check passes.
    """
    from vc_core.io.audiofile import read_audio

    def step(frac: float, what: str) -> None:
        if progress is not None:
            progress(frac, what)

    check_voice_name(name)
    out = out_root / name
    if out.exists() and not overwrite:
        raise VcError(f"a voice called {name!r} already exists in {out_root}; choose another name or overwrite it")
    step(0.05, "reading the clip")
    wav, rate = read_audio(clip)
    step(0.2, "checking the clip")
    report = analyse_clip(wav, rate)
    step(0.5, "measuring the voice")
    if encoder is None:
        encoder = DVectorEncoder.from_bundle(models_dir / SPEAKER_NAME)
    dvec = encoder.embed(wav[: int(MAX_CLIP_S * rate)], rate)
    step(0.9, "saving the voice")
    out_root.mkdir(parents=True, exist_ok=True)
    write_voice_bundle(
        out,
        name,
        display_name or name.replace("-", " ").replace("_", " ").title(),
        f"Made from {clip.name} ({report.used_s:.0f} s, F0 median {report.f0_median_hz:.0f} Hz)",
        dvec,
        report.f0_median_hz if math.isfinite(report.f0_median_hz) else 150.0,
        f"Speaker embedding of the user's clip {clip.name}",
        base_delay_frames(models_dir / BASE_NAME),
        licence="the clip owner's",
    )
    step(1.0, "done")
    return out, report
