"""Soak test: the live engine with a voice (default "deep") on PipeWire null sinks for N minutes.

Brings up a private PipeWire server (tests/support/pipewire.py) with sinks ``mic`` and ``spk``.
A player duplex stream plays looped real speech into ``mic`` and records ``spk_src``; the engine
records ``mic_src`` and plays into ``spk``. Reports (and writes as JSON):

- xruns: the engine's deadline-policy xruns and PortAudio status flags (engine and player streams);
- latency drift: the *actual* round trip player → engine → player, measured at the start and the
  end with a click train (engine switched to passthrough for those 3 s so the clicks come back
  unchanged; passthrough plays the input delayed by exactly P), plus the queue_ms range;
- RSS drift: VmRSS after warm-up vs at the end;
- per-push stage timings p50/p99 (ms) from the engine's worker history.

Run: ``.venv/bin/python benchmarks/soak.py --minutes 2 --json benchmarks/results/soak.json``; a neural
voice on a chosen base: ``--voice heart --base realtime`` (the base is chosen as ``vc live`` does,
``auto`` by default). Xruns are also counted from the end of the warm-up click window on
(``engine_xruns_after_start``), so a slow first second is told apart from a steady state.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import speech_at  # noqa: E402
from tests.support.pipewire import PipeWireSession, refresh_sounddevice  # noqa: E402
from vc_core.config import MixConfig  # noqa: E402
from vc_core.io.devices import find_device  # noqa: E402
from vc_core.io.latency_probe import make_probe_signal, measure_round_trip  # noqa: E402
from vc_core.io.pa import load_sounddevice  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.live.controller import LiveController, LiveRequest  # noqa: E402
from vc_core.neural.choice import AUTO, BASE_CHOICES  # noqa: E402
from vc_core.voices.library import VoiceLibrary  # noqa: E402

RATE = 48000
BLOCK = 256
WARMUP_S = 20.0  # RSS baseline is taken after this long (allocator and caches settled)


def _ends(xs: list[float]) -> list[float] | None:
    """[first, last, max] of a series (device delays from PortAudio's timestamps), None if empty."""
    return [xs[2] if len(xs) > 2 else xs[0], xs[-1], max(xs)] if xs else None


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


class Player:
    """Duplex stream: plays [click window | looped speech | click window] into ``mic``, records the windows."""

    def __init__(self, speech: np.ndarray, total_s: float, probe: np.ndarray) -> None:
        self.speech = speech
        self.probe = probe
        self.w = len(probe)
        self.total = int(total_s * RATE)
        self.rec = [np.ones(self.w, np.float32), np.ones(self.w, np.float32)]  # touched now: no RSS growth later
        for r in self.rec:
            r.fill(0.0)
        self.pos = 0  # NB: written by the player callback only
        self.flags = 0  # NB: written by the player callback only
        self.delay_s = 0.0  # NB: written by the player callback only: its own in + out buffering now
        self.done = threading.Event()

    def _out(self, out: np.ndarray, a: int, n: int) -> None:
        """Callback helper: program samples [a, a+n) into out[:n]."""
        end_w = self.total - self.w
        for k in range(n):  # only reached at window boundaries and speech wrap: few samples per call
            p = a + k
            if p < self.w:
                out[k] = self.probe[p]
            elif p >= end_w:
                out[k] = self.probe[p - end_w] if p - end_w < self.w else 0.0
            else:
                out[k] = 0.5 * self.speech[(p - self.w) % len(self.speech)]

    def callback(self, indata: Any, outdata: Any, frames: int, when: Any, status: Any) -> None:
        if status:
            self.flags += 1
        self.delay_s = when.outputBufferDacTime - when.inputBufferAdcTime
        a = self.pos
        out = outdata[:, 0]
        end_w = self.total - self.w
        s0 = (a - self.w) % len(self.speech)
        if self.w <= a and a + frames <= end_w and s0 + frames <= len(self.speech):
            np.multiply(self.speech[s0 : s0 + frames], 0.5, out=out)
        elif a + frames <= self.w:
            out[:] = self.probe[a : a + frames]
        elif a >= end_w and a + frames <= self.total:
            out[:] = self.probe[a - end_w : a - end_w + frames]
        else:
            self._out(out, a, frames)
        for i, base in ((0, 0), (1, end_w)):
            lo, hi = max(a, base), min(a + frames, base + self.w)
            if lo < hi:
                self.rec[i][lo - base : hi - base] = indata[lo - a : hi - a, 0]
        self.pos = a + frames
        if self.pos >= self.total:
            self.done.set()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    ap.add_argument("--voice", default="deep")
    ap.add_argument("--block", type=int, default=BLOCK, help=f"device period of both streams (default {BLOCK})")
    ap.add_argument("--base", choices=BASE_CHOICES, default=AUTO, help="neural base (as vc live --base)")
    a = ap.parse_args(argv)
    total_s = 60.0 * a.minutes
    with tempfile.TemporaryDirectory() as tmp:
        x, _ = sf.read(str(speech_at(RATE, Path(tmp) / "speech48.wav")), dtype="float32")
    speech = np.ascontiguousarray(x, dtype=np.float32)
    probe = make_probe_signal(RATE, clicks=8, interval_s=0.25, lead_s=0.5)
    with PipeWireSession(sinks=("mic", "spk")):
        refresh_sounddevice()
        sd = load_sounddevice()

        mic, mic_src = find_device("mic", "ALSA", kind="output"), find_device("mic_src", "ALSA", kind="input")
        spk, spk_src = find_device("spk", "ALSA", kind="output"), find_device("spk_src", "ALSA", kind="input")
        # started as `vc live` starts: one controller, its watchdog thread included
        controller = LiveController(VoiceLibrary.default())
        req = LiveRequest(voice=a.voice, input=mic_src, output=spk, base=a.base, rate_hz=RATE, block_frames=a.block)
        choice = controller.start(req).base

        def passthrough(on: bool) -> None:  # on for the click windows at both ends
            controller.update(req.params, req.gate, MixConfig(passthrough=on))

        passthrough(True)
        player = Player(speech, total_s, probe)
        stream = sd.Stream(
            samplerate=RATE,
            blocksize=a.block,
            device=(spk_src.index, mic.index),
            channels=1,
            dtype="float32",
            latency="low",
            callback=player.callback,
        )
        win_s = len(probe) / RATE
        rss0 = float("nan")
        queue: list[float] = []
        player_delay_ms: list[float] = []
        engine_delay_ms: list[float] = []
        lost = None
        t0 = time.monotonic()
        xruns_at_start = 0
        with stream:
            wet_on = end_pass = False
            while not player.done.wait(0.5):
                now_s = player.pos / RATE
                snap = controller.snapshot()
                if not wet_on and now_s > win_s + 0.3:
                    passthrough(False)
                    wet_on = True
                    xruns_at_start = snap.stats.xruns
                if not end_pass and now_s > total_s - win_s - 0.5:
                    passthrough(True)
                    end_pass = True
                if np.isnan(rss0) and time.monotonic() - t0 > min(WARMUP_S, 0.2 * total_s):
                    rss0 = rss_mb()
                queue.append(snap.stats.queue_ms)
                player_delay_ms.append(1000.0 * player.delay_s)
                lost = lost or snap.lost
                if snap.latency_now_ms:  # the watchdog's: engine P + what the device buffers hold now
                    engine_delay_ms.append(snap.latency_now_ms - snap.stats.engine_latency_ms)
        rss1 = rss_mb()
        wall = time.monotonic() - t0
        session = controller.session
        eng_flags = session.device.status_flags if session is not None and session.device else -1
        s = controller.stop()
        snap = controller.snapshot()
    rt = [measure_round_trip(probe, r, RATE) for r in player.rec]
    result = {
        "minutes": a.minutes,
        "wall_s": wall,
        "voice": s.voice,
        "block_frames": a.block,
        "engine_latency_ms": s.engine_latency_ms,
        "engine_device_latency_reported_ms": s.device_latency_ms,
        "base": None if choice is None else {"base": choice.base, "reason": choice.reason},
        "engine_xruns": s.xruns,
        "engine_xruns_after_start": s.xruns - xruns_at_start,
        "engine_underrun_ms": s.underrun_ms,
        "engine_dropped_ms": s.dropped_ms,
        "engine_portaudio_status_flags": eng_flags,
        "player_portaudio_status_flags": player.flags,
        "round_trip_start_ms": rt[0].median_ms,
        "round_trip_end_ms": rt[1].median_ms,
        "round_trip_drift_ms": rt[1].median_ms - rt[0].median_ms,
        "round_trip_spread_ms": [rt[0].spread_ms, rt[1].spread_ms],
        "round_trip_note": "player -> mic -> engine (P) -> spk -> player: includes the player stream's own in+out",
        "player_device_delay_ms_start_end_max": _ends(player_delay_ms),
        "engine_device_delay_ms_start_end_max": _ends(engine_delay_ms),
        "engine_device_resets": snap.delay_resets,
        "queue_ms_min": float(min(queue)) if queue else None,
        "queue_ms_max": float(max(queue)) if queue else None,
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
        "stage_p50_ms_per_push": s.stage_p50_ms,
        "stage_p99_ms_per_push": s.stage_p99_ms,
        "pushes": s.pushes,
        "rtf": s.rtf,
        "lost": lost,
    }
    write_json_report(a.json, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
