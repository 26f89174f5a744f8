"""Streaming HiFi-GAN vs whole-utterance vocode: accuracy and speed per window setting.

For each context / look-ahead / chunk setting (frames of 256 samples = 11.6 ms at 22.05 kHz)
the LibriVox speech asset's mel is streamed through :class:`vc_core.neural.vocoder.StreamingVocoder`
(pushes of 5 frames, then ``flush``) and compared with ``OnnxVocoder.vocode`` of the whole mel:

* ``snr_db``: waveform SNR of the stream against the whole-utterance output;
* ``mel_l1``: mean |log-mel(stream) - log-mel(whole)| (natural log, ``VocoderMel``) - for scale,
  the whole-utterance resynthesis is ``resynth_mel_l1`` away from the original speech's mel;
* ``rtf_1t`` / ``rtf_2t``: seconds of compute per second of audio for one steady-state chunk
  with 1 and 2 onnxruntime threads (fastest of ``TIMING_REPEATS`` chunks, to keep other
  processes' noise out).

The grid runs on the first ``GRID_FRAMES`` frames to stay short on a 2-core machine; the
chosen defaults are also measured on the whole clip. Prints a table and writes
``benchmarks/results/vocoder_stream.json``. Needs ``models/_vocoder`` (see
``vc_core/train/export_vocoder.py``). Run: ``nice -n 15 .venv/bin/python benchmarks/vocoder_stream.py``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.vocoder import (  # noqa: E402
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_CONTEXT_FRAMES,
    DEFAULT_CROSSFADE_SAMPLES,
    DEFAULT_LOOKAHEAD_FRAMES,
    OnnxVocoder,
    StreamingVocoder,
)

OUT_JSON = ROOT / "benchmarks" / "results" / "vocoder_stream.json"
BUNDLE = ROOT / "models" / "_vocoder"
SPEECH = ROOT / "assets" / "speech_librivox.flac"
GRID_FRAMES = 108  # 1.25 s
PUSH_FRAMES = 5
TIMING_REPEATS = 2
CONTEXTS = (8, 16, 32)
LOOKAHEADS = (0, 1, 2, 4, 8, 10, 12)
CHUNKS = (4, 8, 16)
CROSSFADES = (0, 128, 256)  # compared at the default context and chunk
CROSSFADE_LOOKAHEADS = (2, 4, 10)


def speech_mel() -> np.ndarray:
    x, rate = sf.read(SPEECH, dtype="float32")
    g = np.gcd(VOCODER_RATE_HZ, rate)
    return VocoderMel()(resample_poly(x, VOCODER_RATE_HZ // g, rate // g).astype(np.float32))


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    return float(10.0 * np.log10(np.sum(ref**2) / max(float(np.sum((ref - test) ** 2)), 1e-30)))


def stream(v: OnnxVocoder, mel: np.ndarray, ctx: int, look: int, chunk: int, fade: int) -> np.ndarray:
    s = StreamingVocoder(v, ctx, look, chunk, fade)
    parts = [s.push(mel[i : i + PUSH_FRAMES]) for i in range(0, len(mel), PUSH_FRAMES)]
    return np.concatenate([*parts, s.flush()])


def chunk_rtf(v: OnnxVocoder, mel: np.ndarray, ctx: int, look: int, chunk: int) -> float:
    """Fastest steady-state chunk: compute seconds per second of audio it returns."""
    s = StreamingVocoder(v, ctx, look, chunk)
    s.push(mel[: ctx + look + chunk])  # fills the context; later windows are full size
    pos, best = ctx + look + chunk, float("inf")
    for _ in range(TIMING_REPEATS):
        t0 = time.perf_counter()
        out = s.push(mel[pos : pos + chunk])
        best = min(best, (time.perf_counter() - t0) / (len(out) / VOCODER_RATE_HZ))
        pos += chunk
    return best


def whole_rtf(v: OnnxVocoder, mel: np.ndarray) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        v.vocode(mel)
        best = min(best, time.perf_counter() - t0)
    return best / (len(mel) * VOCODER_HOP / VOCODER_RATE_HZ)


HEADER = " ".join(
    f"{name:>{width}}"
    for name, width in (
        ("ctx", 4),
        ("look", 4),
        ("chunk", 5),
        ("xfade", 5),
        ("lat ms", 7),
        ("SNR dB", 7),
        ("mel L1", 7),
        ("RTF 1t", 7),
        ("RTF 2t", 7),
    )
)


def show(r: dict[str, Any]) -> None:
    print(
        f"{r['context_frames']:>4} {r['lookahead_frames']:>4} {r['chunk_frames']:>5} {r['crossfade_samples']:>5} "
        f"{r['latency_ms']:>7.1f} {r['snr_db']:>7.1f} {r['mel_l1']:>7.3f} {r['rtf_1t']:>7.2f} {r['rtf_2t']:>7.2f}",
        flush=True,
    )


def measure(
    v1: OnnxVocoder, v2: OnnxVocoder, mel: np.ndarray, ref: np.ndarray, ctx: int, look: int, chunk: int, fade: int
) -> dict[str, Any]:
    mel_of = VocoderMel()
    y = stream(v2, mel, ctx, look, chunk, fade)
    assert len(y) == len(ref)
    return {
        "context_frames": ctx,
        "lookahead_frames": look,
        "chunk_frames": chunk,
        "crossfade_samples": min(fade, look * VOCODER_HOP),
        "latency_ms": 1000.0 * (look + chunk - 1) * VOCODER_HOP / VOCODER_RATE_HZ,
        "frames": len(mel),
        "snr_db": snr_db(ref, y),
        "mel_l1": float(np.abs(mel_of(y) - mel_of(ref)).mean()),
        "rtf_1t": chunk_rtf(v1, mel, ctx, look, chunk),
        "rtf_2t": chunk_rtf(v2, mel, ctx, look, chunk),
    }


def run_grid(v1: OnnxVocoder, v2: OnnxVocoder, mel: np.ndarray) -> dict[str, Any]:
    """Every setting of the grid (crossfade at its default) and the crossfade comparison."""
    ref = v2.vocode(mel)
    print(f"grid on the first {len(mel)} frames, crossfade {DEFAULT_CROSSFADE_SAMPLES} samples where look-ahead allows")
    print(HEADER)
    grid = []
    for ctx, look, chunk in itertools.product(CONTEXTS, LOOKAHEADS, CHUNKS):
        grid.append(measure(v1, v2, mel, ref, ctx, look, chunk, DEFAULT_CROSSFADE_SAMPLES))
        show(grid[-1])
    print(f"crossfade at context {DEFAULT_CONTEXT_FRAMES}, chunk {DEFAULT_CHUNK_FRAMES}")
    print(HEADER)
    fades = []
    for look, fade in itertools.product(CROSSFADE_LOOKAHEADS, CROSSFADES):
        if fade <= look * VOCODER_HOP:
            fades.append(measure(v1, v2, mel, ref, DEFAULT_CONTEXT_FRAMES, look, DEFAULT_CHUNK_FRAMES, fade))
            show(fades[-1])
    return {"grid": grid, "crossfade": fades}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--defaults-only", action="store_true", help="remeasure the defaults row, keep the stored grid")
    args = p.parse_args(argv)
    mel_all = speech_mel()
    v1, v2 = OnnxVocoder(BUNDLE, threads=1), OnnxVocoder(BUNDLE, threads=2)
    ref_all = v2.vocode(mel_all)
    result: dict[str, Any] = {
        "clip": SPEECH.name,
        "clip_frames": len(mel_all),
        "grid_frames": GRID_FRAMES,
        "whole_rtf_1t": whole_rtf(v1, mel_all),
        "whole_rtf_2t": whole_rtf(v2, mel_all),
        "resynth_mel_l1": float(np.abs(VocoderMel()(ref_all) - mel_all).mean()),
    }
    print(
        f"whole utterance ({len(mel_all)} frames): RTF {result['whole_rtf_1t']:.3f} (1 thread), "
        f"{result['whole_rtf_2t']:.3f} (2 threads); resynthesis mel L1 vs original {result['resynth_mel_l1']:.3f}",
        flush=True,
    )
    if args.defaults_only:
        old = json.loads(OUT_JSON.read_text())
        result.update(grid=old["grid"], crossfade=old["crossfade"])
    else:
        result.update(run_grid(v1, v2, mel_all[:GRID_FRAMES]))
    print("defaults, whole clip")
    print(HEADER)
    result["default"] = measure(
        v1,
        v2,
        mel_all,
        ref_all,
        DEFAULT_CONTEXT_FRAMES,
        DEFAULT_LOOKAHEAD_FRAMES,
        DEFAULT_CHUNK_FRAMES,
        DEFAULT_CROSSFADE_SAMPLES,
    )
    show(result["default"])
    write_json_report(OUT_JSON, result)
    print(f"wrote {OUT_JSON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
