"""What the vocoder alone keeps of each library voice: real speech vs its copy-synthesis.

For each voice's held-out reference clip (``benchmarks/references/<voice>.flac``, 22.05 kHz,
written by ``make train``), computes the vocoder's log-mel of the real audio and renders it back
with the shipped HiFi-GAN (``models/_vocoder``), then prints, real beside copy-synthesis:

- voiced share of the loud frames (YIN, 10 ms frames at 16 kHz, frames within 20 dB of the
  clip's loudest),
- log-F0 correlation between the real clip and its copy-synthesis (the ``vc eval`` metric),
- DNSMOS OVRL (with the ``eval`` extra; ``-`` without);

and the same for a *self-conversion*: the reference converted into its own voice by the live
path (``NeuralStage.converted_mel``, voices from ``--models``), rendered by the same vocoder.

A converter can at best hand the vocoder the real voice's mels, so the copy-synthesis figures
bound what ``vc eval`` can measure for that voice through this vocoder; the self-conversion
shows what the converter's own mels keep. ``--vocoder`` compares another vocoder bundle::

    .venv-train/bin/python benchmarks/vocoder_ceiling.py                 # every reference
    .venv-train/bin/python benchmarks/vocoder_ceiling.py --voices joe,ked
    .venv-train/bin/python benchmarks/vocoder_ceiling.py --vocoder /tmp/universal/_vocoder

About 15 s per voice on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.config import VoiceParams  # noqa: E402
from vc_core.dsp.mel import VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.dsp.pitch import track_f0  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.eval.metrics import F0_HOP_16K, RATE_16K, EvalDependencyError, f0_correlation, to_16k  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.neural.vocoder import OnnxVocoder  # noqa: E402
from vc_core.neural.voice import NeuralVoice  # noqa: E402
from vc_core.voices.library import VoiceLibrary  # noqa: E402

LOUD_DB = 20.0  # frames within this many dB of the clip's loudest count as speech


def voiced_share_of_loud(x: NDArray[np.floating], rate_hz: int) -> float:
    """Share of the loud 10 ms frames that YIN calls voiced."""
    y = to_16k(x, rate_hz)
    _, voiced = track_f0(y, RATE_16K, F0_HOP_16K)
    n = len(voiced)
    padded = np.concatenate([y, np.zeros(F0_HOP_16K * n + 400 - len(y))])
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::F0_HOP_16K][:n]
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-12
    loud = 20 * np.log10(rms / rms.max()) > -LOUD_DB
    return float(voiced[loud].mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", default=None, help="comma-separated voice names (default: every reference)")
    ap.add_argument("--references", type=Path, default=ROOT / "benchmarks" / "references")
    ap.add_argument("--vocoder", type=Path, default=ROOT / "models" / "_vocoder")
    ap.add_argument("--models", type=Path, default=ROOT / "models", help="where the voices are")
    args = ap.parse_args()
    refs = sorted(args.references.glob("*.flac"))
    if args.voices:
        wanted = [v.strip() for v in args.voices.split(",") if v.strip()]
        missing = [v for v in wanted if not (args.references / f"{v}.flac").is_file()]
        if missing:
            print(f"vocoder_ceiling: no reference for {', '.join(missing)} in {args.references}", file=sys.stderr)
            return 2
        refs = [args.references / f"{v}.flac" for v in wanted]
    if not refs:
        print(f"vocoder_ceiling: no references in {args.references}: run `make train` first", file=sys.stderr)
        return 2
    try:
        from vc_core.eval.metrics import Dnsmos

        mos: Dnsmos | None = Dnsmos(threads=1)
    except EvalDependencyError:
        mos = None
    vocoder = OnnxVocoder(args.vocoder, threads=1)
    mel = VocoderMel()
    library = VoiceLibrary([args.models])
    print(f"vocoder: {vocoder.manifest.name} ({args.vocoder}); voices from {args.models}")
    print("| voice | rendering | voiced share | F0 r vs real | DNSMOS |")
    print("|---|---|---|---|---|")
    for path in refs:
        samples, rate = read_audio(path)
        real = resample_clip(samples, rate, VOCODER_RATE_HZ)  # as is when already 22.05 kHz
        voice = library.load(path.stem)
        if not isinstance(voice, NeuralVoice):
            print(f"vocoder_ceiling: {path.stem} in {args.models} is not a neural voice", file=sys.stderr)
            return 2
        renderings = {
            "real": real,
            "copy-synthesis": vocoder.vocode(mel(real)),
            "self-conversion": vocoder.vocode(voice.make_stage(VoiceParams()).converted_mel(real)),
        }
        for label, y in renderings.items():
            r = None if label == "real" else f0_correlation(real, VOCODER_RATE_HZ, y, VOCODER_RATE_HZ)
            cells = [
                label,
                f"{voiced_share_of_loud(y, VOCODER_RATE_HZ):.2f}",
                "-" if r is None else f"{r:.3f}",
                "-" if mos is None else f"{mos.score(y, VOCODER_RATE_HZ).ovrl:.2f}",
            ]
            print(f"| {path.stem} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
