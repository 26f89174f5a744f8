"""Shared test helpers: real speech clips and small signal utilities."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
LIBRIVOX_CLIP = LIBRIVOX_DIR / "sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.1 s, 16 kHz
REPO = Path(__file__).resolve().parents[1]


def librivox_clip() -> Path:
    """A real LibriVox recording from Debian's pocketsphinx-testdata (installed by scripts/sysdeps.sh)."""
    if not LIBRIVOX_CLIP.is_file():
        raise RuntimeError(f"{LIBRIVOX_CLIP} is missing: run scripts/sysdeps.sh (package pocketsphinx-testdata)")
    return LIBRIVOX_CLIP


def speech_at(rate_hz: int, out: Path, seconds: float | None = None) -> Path:
    """The LibriVox clip resampled to ``rate_hz`` (sox), optionally cut to ``seconds``."""
    if shutil.which("sox") is None:
        raise RuntimeError("sox is missing: run scripts/sysdeps.sh")
    cmd = ["sox", str(librivox_clip()), "-r", str(rate_hz), "-b", "32", "-e", "floating-point", str(out)]
    if seconds is not None:
        cmd += ["trim", "0", str(seconds)]
    subprocess.run(cmd, check=True)
    return out


def flip_middle_byte(path: Path) -> None:
    """Tamper with a bundle file: invert the bits of its middle byte (same size, new hash)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def write_wav(path: Path, x: np.ndarray, rate_hz: int, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), x, rate_hz, subtype=subtype)
    return path
