"""What numpy's OpenBLAS threads cost the content stage when processes share the cores.

Starts ``--procs`` processes at once (default: one per core, as ``make train``'s two shards of
streamed Whisper states), each streaming ``--seconds`` of audio through the content stage
(:class:`vc_core.neural.whisper.StreamedContent`, Whisper-base on ``--window`` W,H,L windows, its
log-mel by numpy), first with ``OPENBLAS_NUM_THREADS`` = cores (OpenBLAS's own default), then
with 1 (what ``import vc_core`` sets), and prints milliseconds per window and their ratio::

    .venv-train/bin/python benchmarks/blas_threads.py                          # training's windows
    .venv-train/bin/python benchmarks/blas_threads.py --window 64000,640,640   # the live stream's

The audio is a seeded noise burst pattern (the encode's cost does not depend on what is said).
About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(seconds: float, window: tuple[int, int, int], start_at: float) -> dict[str, float]:
    """Stream ``seconds`` of audio through the content stage once the clock reaches ``start_at``."""
    import numpy as np

    from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ
    from vc_core.neural.whisper import F32, StreamedContent, WhisperBase, WindowedWhisper, windowed_states

    model = WhisperBase(ROOT / ".cache", threads=1)
    encodes = 0

    class Counted:  # the encoder, counting its windows
        def encode_mel(self, mel: F32) -> F32:
            nonlocal encodes
            encodes += 1
            return model.encode_mel(mel)

    content = StreamedContent(WindowedWhisper(Counted(), *window))
    rng = np.random.default_rng(0)
    n = int(seconds * VOCODER_RATE_HZ)
    bursts = (np.sin(2 * np.pi * 3.0 * np.arange(n) / VOCODER_RATE_HZ) > 0).astype(np.float32)
    wav = (0.1 * rng.standard_normal(n) * bursts).astype(np.float32)
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    windowed_states(wav, content, n // VOCODER_HOP)
    took = time.perf_counter() - t0
    return {"seconds": took, "windows": encodes}


def run(threads: int, procs: int, seconds: float, window: str) -> float:
    """Milliseconds per window, mean over ``procs`` processes running at once with ``threads`` BLAS threads."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads)}
    start_at = time.time() + 8.0  # every process has loaded Whisper-base by then
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--seconds",
        str(seconds),
        "--window",
        window,
        "--start-at",
        str(start_at),
    ]
    running = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    results = []
    for p in running:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"worker failed (exit {p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return sum(1000.0 * r["seconds"] / r["windows"] for r in results) / len(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes at once (default: cores)")
    ap.add_argument("--seconds", type=float, default=20.0, help="audio per process")
    ap.add_argument("--window", default="64000,1280,640", help="W,H,L in 16 kHz samples (default: training's)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    window = tuple(int(v) for v in args.window.split(","))
    if len(window) != 3:
        ap.error(f"--window {args.window!r}: want W,H,L")
    if args.worker:
        print(json.dumps(worker(args.seconds, window, args.start_at)))  # type: ignore[arg-type]
        return 0
    cores = os.cpu_count() or 1
    default = run(cores, args.procs, args.seconds, args.window)
    one = run(1, args.procs, args.seconds, args.window)
    print(f"{args.procs} processes, window {args.window}, {args.seconds:g} s of audio each")
    for label, ms in ((f"OpenBLAS threads {cores} (its default)", default), ("OpenBLAS threads 1 (vc_core's)", one)):
        print(f"{label:<34} {ms:6.1f} ms per window")
    print(f"ratio default / one thread: {default / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
