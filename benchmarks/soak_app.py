"""Soak test with the desktop app driving the engine: offscreen Qt, PipeWire null sinks, N minutes.

The same rig as ``benchmarks/soak.py`` (a player loops real speech into ``mic``; the engine records
``mic_src`` and plays into ``spk``), but the session is started the way a user starts it: the app's
``build()`` makes the main window and its view-models (offscreen), the devices and voice are picked
in them, the neural base is set as the "Neural base" control sets it, and Start is pressed. The
Qt event loop then runs for the whole soak, with its 20 Hz stats timer and device watchdog, while
the script samples the stats the window shows. Reports xruns (after the first second too), the
base, latency, RSS and the player's PortAudio flags, as JSON::

    .venv/bin/python benchmarks/soak_app.py --minutes 10 --voice heart --base realtime \\
        --json benchmarks/results/soak_app_heart_realtime.json
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.soak import BLOCK, RATE, Player, rss_mb  # noqa: E402
from tests.helpers import speech_at  # noqa: E402
from tests.support.pipewire import PipeWireSession, refresh_sounddevice  # noqa: E402
from vc_core.io.latency_probe import make_probe_signal  # noqa: E402
from vc_core.io.pa import load_sounddevice  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.choice import AUTO, BASE_CHOICES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--voice", default="heart")
    ap.add_argument("--base", choices=BASE_CHOICES, default=AUTO)
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "soak_app.json")
    a = ap.parse_args(argv)
    from PyQt6.QtWidgets import QApplication

    from app.main import build

    total_s = 60.0 * a.minutes
    tmp = Path(tempfile.mkdtemp(prefix="soak-app-"))
    x, _ = sf.read(str(speech_at(RATE, tmp / "speech48.wav")), dtype="float32")
    probe = make_probe_signal(RATE, clicks=8, interval_s=0.25, lead_s=0.5)
    qapp = QApplication.instance() or QApplication([])
    with PipeWireSession(sinks=("mic", "spk")):
        refresh_sounddevice()
        sd = load_sounddevice()

        from vc_core.io.devices import find_device

        app = build(settings_path=tmp / "settings.json", user_voices=tmp / "voices", vmic_state=tmp / "vmic.json")
        live, devices = app.live, app.devices
        if not devices.refresh(rescan=False, wanted={"input": ("mic_src", "ALSA"), "output": ("spk", "ALSA")}):
            raise SystemExit("the PipeWire devices mic_src / spk were not found")
        app.library.select(a.voice)
        live.set_base_request(a.base)
        mic = find_device("mic", "ALSA", kind="output")
        spk_src = find_device("spk_src", "ALSA", kind="input")
        player = Player(np.ascontiguousarray(x), total_s, probe)
        stream = sd.Stream(
            samplerate=RATE,
            blocksize=BLOCK,
            device=(spk_src.index, mic.index),
            channels=1,
            dtype="float32",
            latency="low",
            callback=player.callback,
        )
        live.start()  # as the Start button does: the session is built on a worker thread
        t_start = time.monotonic()
        while live.state != "live" and time.monotonic() - t_start < 60:
            qapp.processEvents()
            time.sleep(0.01)
        if live.state != "live":
            raise SystemExit(f"the app did not go live (state {live.state})")
        started_s = time.monotonic() - t_start
        rss0 = float("nan")
        xruns_1s = None
        queue: list[float] = []
        t0 = time.monotonic()
        with stream:
            while not player.done.is_set():
                qapp.processEvents()
                time.sleep(0.02)
                now = time.monotonic() - t0
                s = live.last_stats
                queue.append(s.queue_ms)
                if xruns_1s is None and now > 1.0:
                    xruns_1s = s.xruns
                if np.isnan(rss0) and now > min(20.0, 0.2 * total_s):
                    rss0 = rss_mb()
        rss1 = rss_mb()
        s = live.last_stats
        base_line = live.base_text()
        live.stop()
        t_stop = time.monotonic()
        while live.state != "stopped" and time.monotonic() - t_stop < 20:
            qapp.processEvents()
            time.sleep(0.01)
    result = {
        "minutes": a.minutes,
        "voice": a.voice,
        "base_shown": base_line,
        "seconds_to_live": started_s,
        "engine_latency_ms": s.engine_latency_ms,
        "xruns": s.xruns,
        "xruns_after_first_second": s.xruns - (xruns_1s or 0),
        "underrun_ms": s.underrun_ms,
        "dropped_ms": s.dropped_ms,
        "rtf": s.rtf,
        "queue_ms_min_max": [float(min(queue)), float(max(queue))] if queue else None,
        "player_portaudio_status_flags": player.flags,
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
    }
    write_json_report(a.json, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
