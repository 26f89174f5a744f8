"""Fast vocoders against HiFi-GAN V1 on real speech: copy-synthesis of the evaluation clips.

For each clip (``vc_core.eval.clips``: LibriVox, cards, Allison prompts), the vocoder's log-mel
and the live path's YIN F0 of the real audio are rendered back by each vocoder; Whisper-base
transcribes the result (word errors against the clip's transcript), DNSMOS scores it, and the
log-F0 correlation to the real clip is measured. Beside each: the vocoder's real-time factor on
one thread, frame by frame (a stream's calls), and its look-ahead. Side by side in one run::

    .venv-train/bin/python benchmarks/cpu_vocoder.py --clips 10 --json benchmarks/results/cpu_vocoder.json

Vocoders: ``hifigan`` (``models/_vocoder``, streamed as the quality base runs it) and
``source-filter`` (:mod:`vc_core.neural.source_filter`, calibrated on the clips' own mels unless
``--gain`` names a calibration from a base bundle).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.eval.clips import find_eval_clips  # noqa: E402
from vc_core.eval.metrics import Dnsmos, WhisperTranscriber, f0_correlation, word_errors  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.source_filter import SourceFilterVocoder, fit_band_gain  # noqa: E402
from vc_core.neural.vocoder import OnnxVocoder, StreamingVocoder  # noqa: E402
from vc_core.train.dataset import frame_f0  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    clips = find_eval_clips(limit=args.clips, cache_dir=args.cache)
    mel_of = VocoderMel()
    data = []
    for c in clips:
        audio, rate = read_audio(c.path)
        wav = resample_clip(audio, rate, VOCODER_RATE_HZ)
        mel = mel_of(wav)
        data.append((c, wav[: len(mel) * VOCODER_HOP], mel, frame_f0(wav)[: len(mel)]))
    gain = fit_band_gain([(m, f) for _, _, m, f in data])
    hifigan = StreamingVocoder(OnnxVocoder(ROOT / "models" / "_vocoder", threads=1))
    sf_voc = SourceFilterVocoder(gain)

    def run_hifigan(mel: np.ndarray, f0: np.ndarray) -> np.ndarray:
        hifigan.reset()
        out = [hifigan.push(mel[i : i + 1]) for i in range(len(mel))]
        return np.concatenate([*out, hifigan.flush()])

    def run_sf(mel: np.ndarray, f0: np.ndarray) -> np.ndarray:
        sf_voc.reset()
        out = [sf_voc.push(mel[i : i + 1], f0[i : i + 1]) for i in range(len(mel))]
        return np.concatenate([*out, sf_voc.flush()])

    vocoders = {"hifigan": (run_hifigan, hifigan.latency_samples), "source-filter": (run_sf, sf_voc.latency_samples)}
    asr = WhisperTranscriber(args.cache)
    mos = Dnsmos()
    rows: dict[str, dict[str, float]] = {}
    for name in ["source", *vocoders]:
        errors = words = 0
        seconds = audio_s = 0.0
        ovrl, f0r = [], []
        for _c, wav, mel, f0 in data:
            if name == "source":
                out = wav
            else:
                fn, _ = vocoders[name]
                t0 = time.perf_counter()
                out = fn(mel, f0)
                seconds += time.perf_counter() - t0
                audio_s += len(wav) / VOCODER_RATE_HZ
                r = f0_correlation(wav, VOCODER_RATE_HZ, out[: len(wav)], VOCODER_RATE_HZ)
                if r is not None:
                    f0r.append(r)
            e, n = word_errors(_c.text, asr.transcribe(out, VOCODER_RATE_HZ))
            errors, words = errors + e, words + n
            ovrl.append(mos.score(out, VOCODER_RATE_HZ).ovrl)
        rows[name] = {
            "word_errors": errors,
            "words": words,
            "wer": errors / max(words, 1),
            "dnsmos_ovrl": float(np.mean(ovrl)),
            "f0_r": float(np.mean(f0r)) if f0r else float("nan"),
            "rtf_frame_by_frame": seconds / audio_s if audio_s else 0.0,
            "lookahead_ms": 1000.0 * (vocoders[name][1] if name in vocoders else 0) / VOCODER_RATE_HZ,
        }
        r = rows[name]
        print(
            f"{name:14s} WER {r['wer']:.3f} ({r['word_errors']}/{r['words']})  DNSMOS {r['dnsmos_ovrl']:.2f}  "
            f"F0 r {r['f0_r']:.2f}  RTF {r['rtf_frame_by_frame']:.3f}  owes {r['lookahead_ms']:.0f} ms",
            flush=True,
        )
    if args.json:
        write_json_report(args.json, {"clips": len(data), "band_gain_db": gain, "vocoders": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
