"""Start-up: seconds from a cold process to the first converted audio of a neural voice.

Times, in one process started for this: importing the engine, choosing the base (``auto``: the
first run on a machine measures the quality base; later runs read the cached figure), loading
and warming the voice (``LiveEngine`` builds and warms its chain), then driving the engine's
audio callback at the sound card's pace with speech until the first output block that is not
the prefilled silence. Run it twice to see the first and the cached case::

    .venv/bin/python benchmarks/startup.py --voice heart
    .venv/bin/python benchmarks/startup.py --voice heart --base realtime

Prints one line per phase and the total.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.config import StreamConfig  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.engine.live import LiveEngine  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.neural.choice import AUTO, BASE_CHOICES, load_voice  # noqa: E402
from vc_core.voices.library import VoiceLibrary  # noqa: E402

RATE, BLOCK = 48000, 256


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="heart")
    ap.add_argument("--base", choices=BASE_CHOICES, default=AUTO)
    a = ap.parse_args()
    t_import = time.perf_counter()
    voice, choice = load_voice(VoiceLibrary.default(), a.voice, a.base)
    t_choice = time.perf_counter()
    engine = LiveEngine(voice, StreamConfig(device_rate_hz=RATE, block_frames=BLOCK))
    engine.start()
    t_ready = time.perf_counter()
    x, rate = read_audio(ROOT / "assets" / "speech_librivox.flac")
    x = resample_clip(x, rate, RATE)
    indata = np.zeros((BLOCK, 1), np.float32)
    outdata = np.zeros((BLOCK, 1), np.float32)
    t_first = None
    try:
        for k, i in enumerate(range(0, len(x) - BLOCK, BLOCK)):
            wait = t_ready + k * BLOCK / RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            indata[:, 0] = x[i : i + BLOCK]
            engine.audio_callback(indata, outdata, BLOCK)
            if np.any(outdata):
                t_first = time.perf_counter()
                break
    finally:
        engine.stop()
    base = "-" if choice is None else f"{choice.base} ({choice.reason})"
    print(f"base            {base}")
    print(f"import          {t_import - T0:6.2f} s")
    print(f"choose + load   {t_choice - t_import:6.2f} s")
    print(f"engine + warm   {t_ready - t_choice:6.2f} s")
    if t_first is None:
        print("no converted audio came out")
        return 1
    print(f"first audio     {t_first - t_ready:6.2f} s after the first callback (the engine's latency)")
    print(f"total           {t_first - T0:6.2f} s from process start to the first converted audio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
