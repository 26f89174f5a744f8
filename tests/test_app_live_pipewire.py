"""The desktop app live on virtual PipeWire devices: start, meters move, voice switch, failed device switch, stop.

Rig: null sinks ``app_mic`` and ``app_spk`` (each with a ``*_src`` source). A player loops speech
into ``app_mic``; the app records ``app_mic_src`` and plays into ``app_spk``. Also saves a screenshot
while live (docs/screenshots/main_window.png under `make screenshots`, else a temp dir).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import speech_at
from tests.support.app import app_in
from tests.support.pipewire import PipeWireSession, refresh_sounddevice, requires_pipewire
from tests.support.screenshots import screenshot_path
from vc_core.io.devices import find_device
from vc_core.io.pa import load_sounddevice

pytestmark = [requires_pipewire, pytest.mark.pipewire]


@pytest.fixture(scope="module")
def app_rig(pipewire_session: PipeWireSession) -> Iterator[PipeWireSession]:
    names = ("app_mic", "app_spk", "app_mon")
    for n in names:
        pipewire_session.add_sink(n)
    refresh_sounddevice()
    try:
        yield pipewire_session
    finally:
        for n in names:
            if n in pipewire_session.sinks:
                pipewire_session.remove_sink(n)
        refresh_sounddevice()


@pytest.mark.flaky(reruns=1, reruns_delay=1)  # real time on a shared 2-core machine
def test_live_on_virtual_devices(qtbot, app_rig, tmp_path: Path, qapp) -> None:  # type: ignore[no-untyped-def]
    from app.views import theme

    theme.apply(qapp)
    sd = load_sounddevice()
    a = app_in(tmp_path, qtbot)
    w, live, devices = a.window, a.live, a.devices
    assert devices.refresh(rescan=False, wanted={"input": ("app_spk_src", "ALSA"), "output": ("app_spk", "ALSA")})
    assert devices.selected("input").name == "app_spk_src" and devices.selected("output").name == "app_spk"
    with qtbot.waitSignal(a.vmic.statusChanged, timeout=10000):
        a.vmic.refresh()  # pactl against the private server
    assert "no virtual microphone" in a.vmic.status_text
    # calibrate on a loopback (the sink's own monitor): measured round trip beside the expected
    with qtbot.waitSignal(live.calibrated, timeout=20000) as cal:
        live.calibrate()
    c = cal.args[0]
    assert c.detected >= 4, c
    assert 2.0 < c.device_ms < 400.0, c  # 21–48 ms idle; more under load
    assert c.engine_ms > 40.0, c
    assert w.live_panel.r_measured.value.text() == f"{c.total_ms:.1f} ms"
    assert devices.select_key("input", ("app_mic_src", "ALSA"))
    # a card's sample plays on the output (no monitor chosen yet)
    assert w.voices_panel.cards["robot"].play.isEnabled()
    with qtbot.waitSignal(a.library.sampleReady, timeout=10000) as smp:
        w.voices_panel.cards["robot"].play.click()
    assert smp.args[0] == "robot"
    assert len(smp.args[1]) > smp.args[2]  # more than a second of audio
    a.library.select("robot")
    mic = find_device("app_mic", "ALSA", kind="output")
    x, _ = sf.read(str(speech_at(48000, tmp_path / "speech48.wav")), dtype="float32")
    w.resize(1360, 840)
    w.show()
    try:
        with qtbot.waitSignal(live.stateChanged, timeout=20000, check_params_cb=lambda s: s == "live"):
            live.start()
        assert w.state_pill.text() == "LIVE" and w.live_panel.start_btn.text().endswith("Stop")
        sd.play(0.5 * np.asarray(x), 48000, device=mic.index, loop=True)
        qtbot.waitUntil(lambda: w.live_panel.meter_in.db > -40 and w.live_panel.meter_out.db > -40, timeout=15000)
        s = live.last_stats
        assert s.running, s
        assert s.voice == "robot", s
        assert s.engine_latency_ms > 40.0, s
        assert s.expected_latency_ms >= s.engine_latency_ms, s

        # voice switch while live
        with qtbot.waitSignal(live.voiceSwitched, timeout=10000):
            a.library.select("deep")
        qtbot.waitUntil(lambda: live.last_stats.voice == "deep", timeout=5000)
        live.set_control("output_gain_db", -3.0)  # live control change goes to the engine

        # refresh while live: listed by a fresh PortAudio in a child process; the stream goes on
        before = live.session.device
        with qtbot.waitSignal(devices.devicesChanged, timeout=15000):
            devices.refresh_async()
        assert devices.selected("output").name == "app_spk"
        assert live.session.device is before and before.running  # no reopen for the same pair

        # monitor (headphones) switched on while live: its own stream, fed by the engine
        with qtbot.waitSignal(live.devicesSwitched, timeout=10000):
            assert devices.select_key("monitor", ("app_mon", "ALSA"))
        qtbot.waitUntil(
            lambda: live.last_stats.monitor_enabled and live.last_stats.monitor_callbacks > 20, timeout=5000
        )

        # a device switch that fails keeps the old devices and shows the banner
        old = live.session.device
        spk = devices.selected("output")
        bogus = replace(spk, name="Gone USB Headset", index=9999)
        with qtbot.waitSignal(live.error, timeout=10000) as sig:
            devices.select("output", bogus)
        assert "still on the previous devices" in sig.args[0]
        assert live.session.device is old and old.running
        assert devices.selected("output") == spk
        assert w.devices_panel.combos["output"].currentText().startswith("app_spk")
        assert w.banner.isVisible() and "Gone USB Headset" in w.banner.text.text()
        calls = live.session.engine.callback_count
        qtbot.wait(300)
        assert live.session.engine.callback_count > calls  # still streaming
        qtbot.waitUntil(lambda: w.live_panel.meter_out.db > -40, timeout=5000)
        w.banner.hide()

        qtbot.wait(6000)  # let the plot scroll (the screenshot shows it)
        assert w.grab().save(str(screenshot_path("main_window.png", tmp_path)))

        with qtbot.waitSignal(live.stateChanged, timeout=15000, check_params_cb=lambda s: s == "stopped"):
            qtbot.keyClick(w, " ")
        assert live.session is None and not live.last_stats.running
    finally:
        sd.stop()
        live.shutdown()
