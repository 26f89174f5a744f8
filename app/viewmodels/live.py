"""The live session view-model: start/stop, passthrough, voice switch, controls, stats, calibration.

Context (c). Building the engine (which loads and warms up the voice), opening and closing
devices, switching voices and measuring latency all run on worker QThreads; the Qt main thread
only reads the engine's immutable :class:`EngineStats` on a QTimer (~20 Hz), calls
``check_alive`` and hands validated settings to the engine (one reference swap each).

Every voice a session runs is loaded through :func:`vc_core.neural.choice.load_voice` with the
user's ``base_request`` (as ``vc live --base``): the first ``auto`` start on a machine measures the
quality base for a few seconds, so it only ever runs on a worker. A new request takes effect at the
next start or voice switch; the devices are not reopened for it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from PyQt6.QtCore import QCoreApplication, QObject, QTimer, pyqtSignal

from app.viewmodels.devices import DevicesViewModel, key_of
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.tasks import TaskRunner
from vc_core.config import GateConfig, MixConfig, MonitorConfig, StreamConfig, VoiceParams
from vc_core.engine.live import EngineStats, LiveEngine
from vc_core.engine.session import LiveSession, pulse_presence_check
from vc_core.errors import ConfigError, DeviceError
from vc_core.io.devices import DeviceInfo, pick_common_rate, pick_rates, resolve_pair
from vc_core.neural.choice import AUTO, BASE_CHOICES, BASE_LABELS, BaseChoice, load_voice
from vc_core.voices.library import Voice

log = logging.getLogger(__name__)

POLL_MS = 50  # stats poll period: 20 Hz
OUTPUT_CHANNELS = 1  # as `vc live` without --stereo


@dataclass(frozen=True)
class LatencyPreset:
    """A latency preset: device period and output safety margin."""

    block_frames: int
    safety_ms: float
    title: str


PRESETS: dict[str, LatencyPreset] = {
    "lowest": LatencyPreset(64, 4.0, "Lowest"),
    "low": LatencyPreset(128, 6.0, "Low"),
    "balanced": LatencyPreset(256, 12.0, "Balanced"),
    "safe": LatencyPreset(512, 30.0, "Safe"),
    "safest": LatencyPreset(1024, 50.0, "Safest"),
}


@dataclass(frozen=True)
class Controls:
    """Every live control, with units in the names (validated by the engine's config classes)."""

    pitch_semitones: float = 0.0
    formant_ratio: float = 1.0
    gate_enabled: bool = True
    gate_threshold_dbfs: float = -50.0
    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    monitor_gain_db: float = 0.0
    monitor_wet_ratio: float = 1.0

    def configs(self, passthrough: bool, monitor_on: bool) -> tuple[VoiceParams, GateConfig, MixConfig, MonitorConfig]:
        """The engine's configs; raises ConfigError naming the field and range."""
        return (
            VoiceParams(self.pitch_semitones, self.formant_ratio),
            GateConfig(enabled=self.gate_enabled, threshold_dbfs=self.gate_threshold_dbfs),
            MixConfig(input_gain_db=self.input_gain_db, output_gain_db=self.output_gain_db, passthrough=passthrough),
            MonitorConfig(enabled=monitor_on, gain_db=self.monitor_gain_db, wet_ratio=self.monitor_wet_ratio),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Controls:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Calibration:
    """A measured round trip: the devices' own (clicks through a loopback) plus the engine's exact P."""

    device_ms: float
    spread_ms: float
    engine_ms: float
    reported_ms: float | None
    detected: int
    clicks: int

    @property
    def total_ms(self) -> float:
        return self.device_ms + self.engine_ms


SessionFactory = Callable[..., LiveSession]


class LiveViewModel(QObject):
    """States: stopped → starting → live → stopping → stopped."""

    stateChanged = pyqtSignal(str)
    stats = pyqtSignal(object)  # EngineStats
    error = pyqtSignal(str)
    info = pyqtSignal(str)
    passthroughChanged = pyqtSignal(bool)
    controlsChanged = pyqtSignal(object)  # Controls (also after a rejected value: views re-sync)
    presetChanged = pyqtSignal(str)
    calibratingChanged = pyqtSignal(bool)
    calibrated = pyqtSignal(object)  # Calibration
    devicesSwitched = pyqtSignal()
    voiceSwitched = pyqtSignal(str)
    baseRequestChanged = pyqtSignal(str)  # also after a rejected value: views re-sync
    baseChosen = pyqtSignal(object)  # BaseChoice | None (effects voice), after a start or a voice switch

    def __init__(
        self,
        library: LibraryViewModel,
        devices: DevicesViewModel,
        session_factory: SessionFactory = LiveSession,
        presence_checks: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.devices = devices
        self._factory = session_factory
        self._presence = presence_checks and sys.platform.startswith("linux")
        self.session: LiveSession | None = None
        self.state = "stopped"
        self.passthrough = False
        self.controls = Controls()
        self.preset = "balanced"
        self.base_request = AUTO  # one of BASE_CHOICES: the neural base the user asks for
        self.base_choice: BaseChoice | None = None  # the base the last start / voice switch runs on
        self.base_voice = ""  # the voice base_choice belongs to
        self.last_stats = EngineStats()
        self.latency_now_ms = 0.0  # engine P + what the device timestamps say its buffers hold now
        self.delay_resets = 0
        self.calibration: Calibration | None = None
        self._tasks = TaskRunner(self)
        self._switching = False  # a device/voice operation runs on a worker: skip check_alive
        self._pending_voice: str | None = None
        self._voice_busy = False
        self._reverting = False
        self._calibrating = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)
        library.selectedChanged.connect(self._on_voice_selected)
        devices.selectionChanged.connect(self._on_device_selected)

    # ------------------------------------------------------------------ state

    def _set_state(self, s: str) -> None:
        self.state = s
        self.devices.live = s != "stopped"
        self.stateChanged.emit(s)

    @property
    def live(self) -> bool:
        return self.state == "live"

    def input_in_use(self) -> DeviceInfo | None:
        """The input device the live session has (or is about to have) open; None when stopped."""
        if self.state == "stopped":
            return None
        s = self.session
        if s is not None and s.device is not None:
            return s.device.input_device
        return self.devices.selected("input")  # starting: the stream is being opened on it

    def toggle(self) -> None:
        if self.state == "stopped":
            self.start()
        elif self.state == "live":
            self.stop()

    def start(self) -> None:
        if self.state != "stopped":
            return
        inp, out, mon = (self.devices.selected(r) for r in ("input", "output", "monitor"))
        if inp is None or out is None:
            self.error.emit("pick an input and an output device first (none found: connect one or refresh)")
            return
        name = self.library.selected
        if not name:
            self.error.emit("pick a voice first")
            return
        try:
            params, gate, mix, mon_cfg = self.controls.configs(self.passthrough, mon is not None)
        except ConfigError as e:
            self.error.emit(str(e))
            return
        preset = PRESETS[self.preset]
        request = self.base_request
        self._set_state("starting")

        def build() -> tuple[LiveSession, BaseChoice | None]:
            voice, choice = self._load_voice(name, request)  # may measure the quality base once: worker only
            i, o = resolve_pair(inp, out)
            rate_in, rate_out = pick_rates(i, o)  # one duplex stream when they share a rate, else split
            stream = StreamConfig(
                device_rate_hz=rate_in,
                output_rate_hz=rate_out,
                block_frames=preset.block_frames,
                safety_ms=preset.safety_ms,
            )
            engine = LiveEngine(voice, stream, params, gate, mix, monitor=mon_cfg)
            presence = pulse_presence_check((inp, "sources"), (out, "sinks")) if self._presence else None
            session = self._factory(engine, presence_check=presence)
            try:
                session.start(i, o, OUTPUT_CHANNELS, monitor_device=mon)
            except DeviceError:
                if o.max_output_channels < 2:
                    raise
                # some hardware outputs (ALSA hw:) take stereo only: the voice on both channels
                log.info("mono output refused by %s; retrying in stereo", o.label())
                session = self._factory(
                    LiveEngine(voice, stream, params, gate, mix, monitor=mon_cfg), presence_check=presence
                )
                session.start(i, o, 2, monitor_device=mon)
            return session, choice

        self._tasks.run(build, "starting the live session", lambda r: self._started(r, name), self._start_failed)

    def _load_voice(self, name: str, request: str) -> tuple[Voice, BaseChoice | None]:
        """The voice ``name`` on the base ``request`` picks (worker threads only: it may measure)."""
        return load_voice(self.library.library, name, request)

    def _started(self, result: object, name: str) -> None:
        assert isinstance(result, tuple)
        session, choice = result
        assert isinstance(session, LiveSession)
        self.session = session
        self.base_choice, self.base_voice = choice, name
        self._set_state("live")
        self._timer.start()
        s = session.engine.cfg
        log.info("live: voice %s, %d Hz, block %d", session.engine.voice_name, s.device_rate_hz, s.block_frames)
        if choice is not None:
            log.info("live: base %s (%s): %s", choice.base, choice.label, choice.reason)
        self.baseChosen.emit(choice)

    def _start_failed(self, msg: str) -> None:
        self._set_state("stopped")
        self.error.emit(f"could not start: {msg}")

    def stop(self, then: Callable[[], None] | None = None) -> None:
        if self.state != "live" or self.session is None:
            return
        self._timer.stop()
        session, self.session = self.session, None
        self._set_state("stopping")

        def done(_: object = None) -> None:
            self.last_stats = session.stats()
            self.stats.emit(self.last_stats)
            self._set_state("stopped")
            if then is not None:
                then()

        def failed(msg: str) -> None:
            self.error.emit(msg)
            done()

        self._tasks.run(session.stop, "stopping the live session", done, failed)

    def _tick(self) -> None:
        session = self.session
        if session is None:
            return
        s = session.stats()
        self.last_stats = s
        if not self._switching:
            self.latency_now_ms = s.engine_latency_ms + session.device_delay_ms()
            self.delay_resets = session.delay_resets
        self.stats.emit(s)
        if self._switching:
            return
        lost = session.check_alive()
        if lost is not None:
            self.error.emit(f"audio device lost: {lost}. Pick other devices and press Start.")
            self.stop()

    # ------------------------------------------------------------------ live changes

    def set_passthrough(self, on: bool) -> None:
        if on == self.passthrough:
            return
        self.passthrough = on
        self._apply()
        self.passthroughChanged.emit(on)

    def toggle_passthrough(self) -> None:
        self.set_passthrough(not self.passthrough)

    def set_control(self, name: str, value: float | bool) -> bool:
        """Change one control; on a rejected value emit ``error`` and keep the previous controls."""
        old = self.controls
        try:
            self.controls = replace(old, **{name: value})
            self._apply()
        except (ConfigError, TypeError) as e:
            self.controls = old
            self.error.emit(str(e))
            self.controlsChanged.emit(old)
            return False
        self.controlsChanged.emit(self.controls)
        return True

    def set_controls(self, controls: Controls) -> None:
        self.controls = controls
        self.controlsChanged.emit(controls)

    def _apply(self) -> None:
        """Validate and hand the settings to the running engine (raises ConfigError)."""
        mon = self.devices.selected("monitor")
        params, gate, mix, mon_cfg = self.controls.configs(self.passthrough, mon is not None)
        if self.session is not None:
            self.session.engine.update(params, gate, mix)  # raises ConfigError for an impossible voice total
            self.session.engine.set_monitor(mon_cfg)

    def set_preset(self, name: str) -> None:
        if name not in PRESETS:
            self.error.emit(f"latency preset {name!r} is not one of {', '.join(PRESETS)}")
            return
        if name == self.preset:
            return
        self.preset = name
        self.presetChanged.emit(name)
        if self.live:  # a new block size needs a new stream: restart
            self.info.emit(f"restarting with the {PRESETS[name].title.lower()} latency preset")
            self.stop(then=self.start)

    def set_base_request(self, request: str) -> bool:
        """Ask for a neural base (``auto``, ``quality``, ``realtime``); a rejected value emits ``error``
        and keeps the previous one. While live it applies at the next start or voice switch."""
        if request not in BASE_CHOICES:
            self.error.emit(f"neural base {request!r} is not one of {', '.join(BASE_CHOICES)}")
            self.baseRequestChanged.emit(self.base_request)
            return False
        if request == self.base_request:
            return True
        self.base_request = request
        self.baseRequestChanged.emit(request)
        if self.state != "stopped" and self.base_choice is not None:
            self.info.emit(
                f"neural base {BASE_LABELS[request]!r} applies from the next start or voice switch "
                f"(running on {self.base_choice.label} until then)"
            )
        return True

    def base_text(self) -> str:
        """One line: the base the running voice uses and why; "—" unless live."""
        if self.state != "live":
            return "—"
        c = self.base_choice
        return "effects voice: no neural base" if c is None else f"{c.label} — {c.reason}"

    def _on_voice_selected(self, name: str) -> None:
        if self.session is None:
            return
        self._pending_voice = name
        self._next_voice()

    def _next_voice(self) -> None:
        if self._voice_busy or self._pending_voice is None or self.session is None:
            return
        name, self._pending_voice = self._pending_voice, None
        engine = self.session.engine
        request = self.base_request
        self._voice_busy = True

        def load() -> BaseChoice | None:
            voice, choice = self._load_voice(name, request)
            engine.set_voice(voice)  # builds + warms the chain off the audio path
            return choice

        def done(choice: object) -> None:
            self._voice_busy = False
            assert choice is None or isinstance(choice, BaseChoice)
            self.voiceSwitched.emit(name)
            if self.session is not None:  # not stopped meanwhile
                self.base_choice, self.base_voice = choice, name
                self.baseChosen.emit(choice)
            self._next_voice()

        def failed(msg: str) -> None:
            self._voice_busy = False
            self.error.emit(f"could not switch to voice {name!r}: {msg}")
            self._next_voice()

        self._tasks.run(load, f"loading voice {name}", done, failed)

    def _on_device_selected(self, role: str) -> None:
        if self.session is None or self._reverting or self.state != "live":
            return
        session = self.session
        if role == "monitor":
            dev = self.devices.selected("monitor")
            old_mon = session.monitor_device.device if session.monitor_device is not None else None
            if key_of(dev) == key_of(old_mon):
                return  # same device (e.g. re-found after a rescan): nothing to reopen
            self._run_switch(
                lambda: session.set_monitor_device(dev),
                "switching the monitor device",
                revert=lambda: self.devices.select("monitor", old_mon, quiet=True),
            )
            return
        pair = session.device
        if pair is None:
            return
        inp, out = self.devices.selected("input"), self.devices.selected("output")
        if inp is None or out is None:
            return
        if key_of(inp) == key_of(pair.input_device) and key_of(out) == key_of(pair.output_device):
            return  # same pair (e.g. re-found after a rescan): nothing to reopen
        self.switch_devices(inp, out)

    def switch_devices(self, inp: DeviceInfo, out: DeviceInfo) -> None:
        """Switch the running session to ``inp``/``out``; on failure the old pair keeps playing and is re-selected."""
        session = self.session
        if session is None or session.device is None:
            return
        old_in, old_out = session.device.input_device, session.device.output_device

        def revert() -> None:
            self.devices.select("input", old_in, quiet=True)
            self.devices.select("output", old_out, quiet=True)

        self._run_switch(
            lambda: session.switch_devices(inp, out), f"switching to {inp.label()} → {out.label()}", revert
        )

    def _run_switch(self, fn: Callable[[], None], what: str, revert: Callable[[], None]) -> None:
        self._switching = True

        def ok(_: object) -> None:
            self._switching = False
            self._apply_monitor_enabled()
            self.devicesSwitched.emit()

        def failed(msg: str) -> None:
            self._switching = False
            self._reverting = True
            try:
                revert()
            finally:
                self._reverting = False
            self.error.emit(f"{what} failed; still on the previous devices. {msg}")

        self._tasks.run(fn, what, ok, failed)

    def _apply_monitor_enabled(self) -> None:
        try:
            self._apply()
        except ConfigError as e:
            self.error.emit(str(e))

    # ------------------------------------------------------------------ calibration

    def calibrate(self) -> None:
        """Measure the device round trip (clicks through a loopback) on a worker; stopped only."""
        if self._calibrating:
            return
        if self.state == "live" and self.session is not None:
            self._calibrate_live(self.session)
            return
        if self.state != "stopped":
            return
        inp, out = self.devices.selected("input"), self.devices.selected("output")
        if inp is None or out is None:
            self.error.emit("pick an input and an output device to calibrate")
            return
        name = self.library.selected
        preset = PRESETS[self.preset]
        request = self.base_request

        def measure() -> Calibration:
            from vc_core.io.latency_probe import measure_device_round_trip
            from vc_core.pipeline import VoiceChain

            i, o = resolve_pair(inp, out)
            rate = pick_common_rate(i, o)
            voice, _ = self._load_voice(name, request)
            chain_samples = VoiceChain(voice, rate, rate).latency_samples
            stream = StreamConfig(device_rate_hz=rate, block_frames=preset.block_frames, safety_ms=preset.safety_ms)
            engine_ms = 1000.0 * stream.engine_latency_samples(chain_samples) / rate
            m = measure_device_round_trip(i.index, o.index, rate, preset.block_frames)
            return Calibration(m.median_ms, m.spread_ms, engine_ms, m.reported_ms, m.n_detected, m.n_clicks)

        self._calibrating = True
        self.calibratingChanged.emit(True)

        def ok(c: object) -> None:
            self._calibrating = False
            self.calibratingChanged.emit(False)
            assert isinstance(c, Calibration)
            self.calibration = c
            self.calibrated.emit(c)

        def failed(msg: str) -> None:
            self._calibrating = False
            self.calibratingChanged.emit(False)
            self.error.emit(f"calibration failed: {msg}")

        self._tasks.run(measure, "measuring the round-trip latency", ok, failed)

    def _calibrate_live(self, session: LiveSession) -> None:
        """Calibrate the running pair (the stream pauses ~3 s; the engine then reports the measured latency)."""
        self._calibrating = True
        self._switching = True  # the pause must not look like a lost device
        self.calibratingChanged.emit(True)

        def measure() -> Calibration:
            m = session.calibrate()
            engine_ms = session.engine.stats().engine_latency_ms
            return Calibration(m.median_ms, m.spread_ms, engine_ms, m.reported_ms, m.n_detected, m.n_clicks)

        def ok(c: object) -> None:
            self._calibrating = self._switching = False
            self.calibratingChanged.emit(False)
            assert isinstance(c, Calibration)
            self.calibration = c
            self.calibrated.emit(c)

        def failed(msg: str) -> None:
            self._calibrating = self._switching = False
            self.calibratingChanged.emit(False)
            self.error.emit(f"calibration failed: {msg}")

        self._tasks.run(measure, "measuring the round-trip latency (live)", ok, failed)

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop synchronously (app exit): waits for workers, then closes the session."""
        self._timer.stop()
        self._tasks.wait_all()
        QCoreApplication.processEvents()  # deliver a start that finished meanwhile, so it is stopped too
        self._timer.stop()
        if self.session is not None:
            self.session.stop()
            self.session = None
            self._set_state("stopped")
