"""The app's GUI thread never waits on the sound server, and a vanished device stops the stream.

Rig: PipeWire null sinks ``wd_spk`` (played into) and ``wd_gone`` (removed mid-stream); the app
records ``wd_spk_src``. The live controller's watchdog runs the presence check (``pactl``) on its
own thread; these tests make that check slow or make it fail, with the window open.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.main import App
from tests.support.app import app_in
from tests.support.pipewire import PipeWireSession, refresh_sounddevice, requires_pipewire
from vc_core.engine.session import PRESENCE_PERIOD_S

pytestmark = [requires_pipewire, pytest.mark.pipewire]

PACTL_DELAY_S = 3.0
MAX_STALL_MS = 50.0


@pytest.fixture(scope="module")
def wd_rig(pipewire_session: PipeWireSession) -> Iterator[PipeWireSession]:
    for n in ("wd_spk", "wd_gone"):
        pipewire_session.add_sink(n)
    refresh_sounddevice()
    try:
        yield pipewire_session
    finally:
        for n in ("wd_spk", "wd_gone"):
            if n in pipewire_session.sinks:
                pipewire_session.remove_sink(n)
        refresh_sounddevice()


def _app(tmp_path: Path, qtbot, output: str) -> App:  # type: ignore[no-untyped-def]
    a = app_in(tmp_path, qtbot)
    assert a.devices.refresh(rescan=False, wanted={"input": ("wd_spk_src", "ALSA"), "output": (output, "ALSA")})
    a.library.select("deep")
    return a


def _stop(a: App) -> None:
    a.live.shutdown()


def test_a_slow_sound_server_never_stalls_the_event_loop(qtbot, wd_rig, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every pactl call takes 3 s; the Qt event loop keeps answering within 50 ms while live."""
    real = shutil.which("pactl")
    assert real is not None
    calls = tmp_path / "pactl-calls"
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    stub = stub_dir / "pactl"
    stub.write_text(f'#!/bin/sh\necho x >> "{calls}"\nsleep {PACTL_DELAY_S}\nexec "{real}" "$@"\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub_dir}{os.pathsep}{os.environ['PATH']}")
    a = _app(tmp_path, qtbot, "wd_spk")
    live = a.live
    try:
        with qtbot.waitSignal(live.stateChanged, timeout=60000, check_params_cb=lambda s: s == "live"):
            live.start()  # arming the presence check runs pactl twice, on the start worker
        assert live.controller.session is not None and live.controller.session.presence_check is not None
        armed = calls.read_text().count("x")
        # the event loop's longest gap while the watchdog's pactl calls run
        gaps: list[float] = []
        last = [time.perf_counter()]

        def beat() -> None:
            now = time.perf_counter()
            gaps.append(1000.0 * (now - last[0]))
            last[0] = now

        qtbot.wait(300)  # the first ticks after start
        last[0] = time.perf_counter()
        live.stats.connect(beat)  # the 20 Hz stats tick: a stalled loop delays it
        t_end = time.monotonic() + PACTL_DELAY_S + 2 * PRESENCE_PERIOD_S + 0.5
        while time.monotonic() < t_end:
            qtbot.wait(20)
        live.stats.disconnect(beat)
        during = calls.read_text().count("x") - armed
        assert during >= 1, "the watchdog never ran the (slow) presence check: the test proves nothing"
        assert live.live and live.last_stats.running
        worst = max(gaps)
        print(f"\nslow pactl: {during} calls of {PACTL_DELAY_S} s while live; longest tick gap {worst:.1f} ms")
        assert worst < 50.0 + MAX_STALL_MS, f"ticks are 50 ms apart; the loop stalled {worst - 50.0:.0f} ms"
    finally:
        _stop(a)


def test_a_device_that_vanishes_while_open_gives_a_banner_and_stops(qtbot, wd_rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = _app(tmp_path, qtbot, "wd_gone")
    live, w = a.live, a.window
    w.show()
    removed = False
    try:
        with qtbot.waitSignal(live.stateChanged, timeout=30000, check_params_cb=lambda s: s == "live"):
            live.start()
        qtbot.waitUntil(lambda: live.last_stats.callbacks > 20, timeout=5000)
        with qtbot.waitSignal(live.error, timeout=10000) as err:
            wd_rig.remove_sink("wd_gone")
            removed = True
        assert "no longer has the sink 'wd_gone'" in err.args[0]
        qtbot.waitUntil(lambda: live.state.value == "stopped", timeout=5000)
        assert w.banner.isVisible() and "wd_gone" in w.banner.text.text()
        assert w.state_pill.text() == "STOPPED" and w.live_panel.start_btn.isEnabled()
        assert live.controller.session is None and not live.last_stats.running
        assert not any(t.name in ("vc-worker", "vc-live-watchdog") and t.is_alive() for t in threading.enumerate())
    finally:
        _stop(a)
        if not removed:
            wd_rig.remove_sink("wd_gone")
