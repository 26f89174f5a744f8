"""Accuracy and speed of the voice effects on synthetic (espeak-ng) and real (LibriVox) speech.

Prints one row per preset: requested pitch ratio, measured median F0 ratio (Praat AC pitch,
frames voiced in input and output), its error, the measured formant warp (LPC envelopes), the
level change, the harmonics-to-noise ratio (Praat) of input and output, and the real-time
factor (single thread, whole clip pushed in 10 ms hops). Writes the same as JSON to
``benchmarks/results/effects_accuracy.json``.

The measurements are the ones ``tests/test_shifter.py`` asserts on, imported from there so the
table and the tests cannot drift apart. Needs ``praat-parselmouth``, ``espeak-ng`` and
``pocketsphinx-testdata``. Run: ``.venv/bin/python benchmarks/effects_accuracy.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_shifter as m  # noqa: E402

from vc_core.dsp.shifter import HOP_SAMPLES, RATE_HZ, PitchFormantShifter, ShiftParams  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402

OUT_JSON = ROOT / "benchmarks" / "results" / "effects_accuracy.json"
TIMING_REPEATS = 3  # best of, to keep other processes' noise out of the RTF
HNR_MIN_PITCH_HZ = 60.0

PRESETS: list[tuple[str, ShiftParams]] = [
    ("identity", ShiftParams()),
    ("-7 st", ShiftParams(pitch_semitones=-7.0)),
    ("-4 st", ShiftParams(pitch_semitones=-4.0)),
    ("+4 st", ShiftParams(pitch_semitones=4.0)),
    ("+7 st", ShiftParams(pitch_semitones=7.0)),
    ("+12 st", ShiftParams(pitch_semitones=12.0)),
    ("formant 0.8", ShiftParams(formant_ratio=0.8)),
    ("formant 1.25", ShiftParams(formant_ratio=1.25)),
    ("deeper -4 st x0.88", ShiftParams(pitch_semitones=-4.0, formant_ratio=0.88)),
    ("higher +5 st x1.12", ShiftParams(pitch_semitones=5.0, formant_ratio=1.12)),
    ("robot 110 Hz", ShiftParams(robot_hz=110.0)),
    ("robot 150 Hz", ShiftParams(robot_hz=150.0)),
]


def _espeak() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "m3.wav"
        subprocess.run(["espeak-ng", "-v", m.ESPEAK_VOICE, "-w", str(wav), m.ESPEAK_TEXT], check=True)
        x, rate = sf.read(wav, dtype="float64")
    return m._resample(x, rate)


def _librivox() -> np.ndarray:
    x, rate = sf.read(m.LIBRIVOX_WAV, dtype="float64")
    return m._resample(x, rate)


def _hnr_db(x: np.ndarray) -> float:
    snd = m.parselmouth.Sound(x.astype(np.float64), RATE_HZ)
    h = snd.to_harmonicity_cc(time_step=HOP_SAMPLES / RATE_HZ, minimum_pitch=HNR_MIN_PITCH_HZ).values[0]
    return float(np.mean(h[h > -100]))  # Praat marks unvoiced frames with -200 dB


def _rtf(x: np.ndarray, params: ShiftParams) -> float:
    best = float("inf")
    for _ in range(TIMING_REPEATS):
        stage = PitchFormantShifter(params)
        t0 = time.perf_counter()
        stage.push(x)
        stage.flush()
        best = min(best, time.perf_counter() - t0)
    return best / (len(x) / RATE_HZ)


def main() -> None:
    rows: list[dict[str, object]] = []
    for clip_name, x in (("espeak en-us+m3", _espeak()), ("LibriVox 0870", _librivox())):
        f_in = m._ref_pitch(x)
        hnr_in = _hnr_db(x)
        for name, params in PRESETS:
            y = m._offline(x, params)
            f_out = m._ref_pitch(y)
            both = m._speech_frames(f_in, f_out)
            if params.robot_hz is not None:
                want = float("nan")
                f0 = f_out[both]
                ratio = float(np.median(f0))
                err = 100.0 * (ratio / params.robot_hz - 1.0)
                spread = 100.0 * float(np.std(f0)) / ratio
            else:
                want = params.pitch_ratio
                ratio = float(np.median(f_out[both] / f_in[: len(both)][both]))
                err = 100.0 * (ratio / want - 1.0)
                spread = float("nan")
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
            row: dict[str, object] = {
                "clip": clip_name,
                "preset": name,
                "pitch_ratio_requested": want,
                "f0_measured": ratio,  # ratio, or Hz for robot presets
                "f0_error_pct": err,
                "robot_f0_std_pct": spread,
                "formant_warp_requested": params.formant_ratio,
                "formant_warp_measured": m._formant_warp(x, y, f_in, f_out),
                "level_change_db": 10 * np.log10(np.mean(y64**2) / np.mean(x64**2)),
                "hnr_in_db": hnr_in,
                "hnr_out_db": _hnr_db(y),
                "rtf": _rtf(x, params),
            }
            if params.is_identity:
                row["identity_snr_db"] = 10 * np.log10(np.sum(x64**2) / max(np.sum((y64 - x64) ** 2), 1e-30))
            rows.append(row)

    head = (
        f"{'clip':16} {'preset':20} {'want':>6} {'F0 meas':>8} {'err %':>6} {'std %':>6} "
        f"{'warp':>5} {'meas':>6} {'dB':>6} {'HNR in':>6} {'out':>6} {'RTF':>6}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['clip']:16} {r['preset']:20} {r['pitch_ratio_requested']:6.3f} {r['f0_measured']:8.3f} "
            f"{r['f0_error_pct']:+6.2f} {r['robot_f0_std_pct']:6.2f} {r['formant_warp_requested']:5.2f} "
            f"{r['formant_warp_measured']:6.3f} {r['level_change_db']:+6.2f} {r['hnr_in_db']:6.1f} "
            f"{r['hnr_out_db']:6.1f} {r['rtf']:6.3f}"
        )
    stage = PitchFormantShifter(ShiftParams())
    summary = {
        "rate_hz": RATE_HZ,
        "hop_samples": stage.hop_samples,
        "lookahead_ms": 1000 * stage.lookahead_samples / RATE_HZ,
        "latency_ms": 1000 * stage.latency_samples / RATE_HZ,
        "rows": rows,
    }
    write_json_report(OUT_JSON, summary)
    print(f"latency {summary['latency_ms']:.1f} ms (look-ahead {summary['lookahead_ms']:.1f} ms); wrote {OUT_JSON}")


if __name__ == "__main__":
    main()
