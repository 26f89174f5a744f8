"""Regenerate the listening clips in ``assets/`` (24 kHz mono FLAC, each under 300 KB).

Source: the first ``CLIP_S`` seconds of LibriVox "Sense and Sensibility" ch. 1 (public domain),
as shipped by Debian's ``pocketsphinx-testdata``; see ``assets/SOURCES.md``.
Run: ``.venv/bin/python benchmarks/make_listening_clips.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.dsp.shifter import RATE_HZ, PitchFormantShifter, ShiftParams  # noqa: E402

SOURCE = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
ASSETS = ROOT / "assets"
CLIP_S = 5.5
PEAK_DBFS = -1.0  # common peak level for the original and every effect
CLIPS = {
    "listen_deeper.flac": ShiftParams(pitch_semitones=-4.0, formant_ratio=0.88),
    "listen_higher.flac": ShiftParams(pitch_semitones=5.0, formant_ratio=1.12),
    "listen_robot.flac": ShiftParams(robot_hz=110.0),
}


def _write(name: str, x: np.ndarray, gain: float) -> None:
    path = ASSETS / name
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, np.clip(x * gain, -1.0, 1.0), RATE_HZ, subtype="PCM_16")
    tmp.replace(path)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


def main() -> None:
    x, rate = sf.read(SOURCE, dtype="float64")
    x = soxr.resample(x, rate, RATE_HZ)[: int(CLIP_S * RATE_HZ)].astype(np.float32)
    outs = {
        name: np.concatenate([s.push(x), s.flush()])
        for name, s in ((n, PitchFormantShifter(p)) for n, p in CLIPS.items())
    }
    # One gain for all, so level differences between the effects stay audible as they are.
    peak = max(float(np.max(np.abs(y))) for y in [x, *outs.values()])
    gain = 10 ** (PEAK_DBFS / 20) / peak
    ASSETS.mkdir(exist_ok=True)
    _write("speech_librivox.flac", x, gain)
    for name, y in outs.items():
        _write(name, y, gain)


if __name__ == "__main__":
    main()
