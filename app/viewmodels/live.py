"""The live session view-model: start/stop, passthrough, voice switch, controls, stats, calibration.

Context (c), a thin client of :class:`vc_core.live.controller.LiveController`, which builds the
session exactly as ``vc live`` does and watches the devices on its own thread. Starting,
stopping, switching devices or voices and calibrating run on worker QThreads; the Qt main thread
only reads the controller's immutable :class:`LiveSnapshot` on a QTimer (~20 Hz) and hands
validated settings to the engine (one reference swap each). It never waits on a device or a
subprocess: a lost device is found by the controller's watchdog, which stops the stream, and the
next tick shows why.

Every voice a session runs is loaded with the user's ``base_request`` (as ``vc live --base``): the
first ``auto`` start on a machine measures the quality base for a few seconds, on a worker. A new
request takes effect at the next start or voice switch; the devices are not reopened for it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from PyQt6.QtCore import QCoreApplication, QObject, QTimer, pyqtSignal

from app.viewmodels.devices import DevicesViewModel, key_of
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.tasks import TaskRunner
from vc_core.config import DenoiseConfig, DenoiseSetting, GateConfig, MixConfig, MonitorConfig, VoiceParams
from vc_core.dsp.denoise import denoise_availability
from vc_core.engine.live import EngineStats
from vc_core.engine.session import LiveSession
from vc_core.errors import ConfigError
from vc_core.io.devices import DeviceInfo, is_safe_output
from vc_core.live.controller import LiveController, LiveRequest, LiveSnapshot, LiveState
from vc_core.neural.choice import AUTO, BASE_CHOICES, BASE_LABELS, BaseChoice

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
    denoise: str = DenoiseSetting.OFF.value  # mic cleanup: off | light | strong

    def denoise_setting(self) -> DenoiseSetting:
        try:
            return DenoiseSetting(self.denoise)
        except ValueError:
            raise ConfigError(
                f"denoise = {self.denoise!r}: use one of " + ", ".join(d.value for d in DenoiseSetting)
            ) from None

    def configs(
        self, passthrough: bool, monitor_on: bool, denoise_reserve: DenoiseSetting | None = None
    ) -> tuple[VoiceParams, GateConfig, MixConfig, MonitorConfig]:
        """The engine's configs (the chain keeps latency for ``denoise_reserve``, default the
        setting itself); raises ConfigError naming the field and range."""
        return (
            VoiceParams(self.pitch_semitones, self.formant_ratio),
            GateConfig(enabled=self.gate_enabled, threshold_dbfs=self.gate_threshold_dbfs),
            MixConfig(
                input_gain_db=self.input_gain_db,
                output_gain_db=self.output_gain_db,
                passthrough=passthrough,
                denoise=DenoiseConfig(self.denoise_setting(), denoise_reserve),
            ),
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


class Operation(enum.Enum):
    """The one device operation running on a worker while live (they take turns in the controller)."""

    NONE = "none"
    SWITCHING = "switching devices"
    CALIBRATING = "calibrating"


class LiveViewModel(QObject):
    """States (:class:`LiveState`): stopped → starting → live → stopping → stopped."""

    stateChanged = pyqtSignal(str)  # a LiveState value
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
        self.controller = (
            LiveController(library.library, session_factory)
            if presence_checks
            else LiveController(library.library, session_factory, presence=None)
        )
        self.state = LiveState.STOPPED
        self.operation = Operation.NONE
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
        self._confirmed_outputs: set[tuple[str, str]] = set()  # speaker outputs the user accepted
        # why each mic-cleanup setting cannot run here (None: it can); views grey those out
        self.denoise_unavailable: dict[DenoiseSetting, str | None] = denoise_availability()
        self._denoise_reserved: DenoiseSetting | None = None  # what the running chain keeps latency for
        self._tasks = TaskRunner(self)
        # voice switches queue: the latest pick waits while one loads
        self._pending_voice: str | None = None
        self._voice_loading = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)
        library.selectedChanged.connect(self._on_voice_selected)
        devices.selectionChanged.connect(self._on_device_selected)

    # ------------------------------------------------------------------ state

    def _set_state(self, s: LiveState) -> None:
        self.state = s
        self.devices.live = s is not LiveState.STOPPED
        self.stateChanged.emit(s.value)

    @property
    def live(self) -> bool:
        return self.state is LiveState.LIVE

    @property
    def session(self) -> LiveSession | None:
        """The controller's running session (diagnostics and tests)."""
        return self.controller.session

    def input_in_use(self) -> DeviceInfo | None:
        """The input device the live session has (or is about to have) open; None when stopped."""
        if self.state is LiveState.STOPPED:
            return None
        pair = self.controller.devices()
        return pair[0] if pair is not None else self.devices.selected("input")  # starting: being opened

    def saved(self) -> dict[str, Any]:
        """What the settings file keeps of the live session: the controls, the preset, the base request."""
        return {"controls": asdict(self.controls), "latency_preset": self.preset, "neural_base": self.base_request}

    def output_needing_confirmation(self) -> DeviceInfo | None:
        """The selected output when starting would route the microphone to what may be a loudspeaker
        (and the user has not accepted it yet); None otherwise."""
        out = self.devices.selected("output")
        if self.state is not LiveState.STOPPED or out is None or is_safe_output(out.name):
            return None
        return None if (out.name, out.host_api) in self._confirmed_outputs else out

    def confirm_output(self, out: DeviceInfo) -> None:
        """The user accepted playing on ``out`` (asked once per device per run)."""
        self._confirmed_outputs.add((out.name, out.host_api))

    def toggle(self) -> None:
        if self.state is LiveState.STOPPED:
            self.start()
        elif self.state is LiveState.LIVE:
            self.stop()

    def _request(self) -> LiveRequest | None:
        """The session the controls describe now; emits ``error`` and returns None when incomplete."""
        inp, out, mon = (self.devices.selected(r) for r in ("input", "output", "monitor"))
        if inp is None or out is None:
            self.error.emit("pick an input and an output device first (none found: connect one or refresh)")
            return None
        name = self.library.selected
        if not name:
            self.error.emit("pick a voice first")
            return None
        try:
            reserve = self._denoise_reserve(self.controls.denoise_setting())
            params, gate, mix, mon_cfg = self.controls.configs(self.passthrough, mon is not None, reserve)
        except ConfigError as e:
            self.error.emit(str(e))
            return None
        preset = PRESETS[self.preset]
        return LiveRequest(
            voice=name,
            input=inp,
            output=out,
            monitor=mon,
            base=self.base_request,
            block_frames=preset.block_frames,
            safety_ms=preset.safety_ms,
            params=params,
            gate=gate,
            mix=mix,
            monitor_config=mon_cfg,
        )

    def start(self) -> None:
        if self.state is not LiveState.STOPPED:
            return
        request = self._request()
        if request is None:
            return
        self._set_state(LiveState.STARTING)
        self._denoise_reserved = request.mix.denoise.reserved
        self._tasks.run(
            lambda: self.controller.start(request), "starting the live session", self._started, self._start_failed
        )

    def _started(self, result: object) -> None:
        assert isinstance(result, LiveSnapshot)
        self.base_choice, self.base_voice = result.base, result.voice
        self._set_state(LiveState.LIVE)
        self._timer.start()
        log.info(
            "live: voice %s, %d Hz, block %d", result.voice, result.stats.device_rate_hz, result.stats.block_frames
        )
        if result.base is not None:
            log.info("live: base %s (%s): %s", result.base.base, result.base.label, result.base.reason)
        self.baseChosen.emit(result.base)

    def _start_failed(self, msg: str) -> None:
        self._set_state(LiveState.STOPPED)
        self.error.emit(f"could not start: {msg}")

    def stop(self, then: Callable[[], None] | None = None) -> None:
        if self.state is not LiveState.LIVE:
            return
        self._set_state(LiveState.STOPPING)

        def done(_: object = None) -> None:
            self._stopped()
            if then is not None:
                then()

        def failed(msg: str) -> None:
            self.error.emit(msg)
            done()

        self._tasks.run(self.controller.stop, "stopping the live session", done, failed)

    def _stopped(self) -> None:
        self._timer.stop()
        self.last_stats = self.controller.snapshot().stats
        self.stats.emit(self.last_stats)
        self._set_state(LiveState.STOPPED)

    def _tick(self) -> None:
        snap = self.controller.snapshot()
        self.last_stats = snap.stats
        self.latency_now_ms = snap.latency_now_ms
        self.delay_resets = snap.delay_resets
        self.stats.emit(snap.stats)
        if self.state is LiveState.LIVE and snap.state is not LiveState.LIVE and snap.lost is not None:
            # the controller's watchdog found the device gone and stopped the stream
            self.error.emit(f"audio device lost: {snap.lost}. Pick other devices and press Start.")
            if snap.state is LiveState.STOPPED:
                self._stopped()
            else:
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

    def _denoise_reserve(self, setting: DenoiseSetting) -> DenoiseSetting:
        """What a new chain keeps latency for: none while cleanup is off; once it is on, the
        heaviest setting that runs here, so that every setting switches live without a reopen
        (strong costs 10 ms more than light)."""
        if setting is DenoiseSetting.OFF:
            return DenoiseSetting.OFF
        usable = [d for d in DenoiseSetting if self.denoise_unavailable.get(d) is None]
        return max(usable, key=lambda d: d.rank, default=setting)

    def set_denoise(self, value: str) -> bool:
        """Mic cleanup off/light/strong. A setting that cannot run here is refused with its reason.
        While live it crossfades in; from off, the stream restarts once (the chain then keeps the
        latency a denoiser needs)."""
        try:
            setting = replace(self.controls, denoise=value).denoise_setting()
        except ConfigError as e:
            self.error.emit(str(e))
            self.controlsChanged.emit(self.controls)
            return False
        reason = self.denoise_unavailable.get(setting)
        if reason is not None:
            self.error.emit(f"mic cleanup {setting.value!r} is unavailable: {reason}")
            self.controlsChanged.emit(self.controls)
            return False
        reserved = self._denoise_reserved
        if self.live and reserved is not None and setting.rank > reserved.rank:
            self.controls = replace(self.controls, denoise=setting.value)
            self.controlsChanged.emit(self.controls)
            self.info.emit(f"restarting: mic cleanup '{setting.value}' needs latency the running stream did not keep")
            self.stop(then=self.start)
            return True
        return self.set_control("denoise", setting.value)

    def set_control(self, name: str, value: float | bool | str) -> bool:
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
        reserve = self._denoise_reserved if self.state is not LiveState.STOPPED else None
        params, gate, mix, mon_cfg = self.controls.configs(self.passthrough, mon is not None, reserve)
        self.controller.update(params, gate, mix)  # raises ConfigError for an impossible voice total
        self.controller.set_monitor(mon_cfg)

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
        if self.state is not LiveState.STOPPED and self.base_choice is not None:
            self.info.emit(
                f"neural base {BASE_LABELS[request]!r} applies from the next start or voice switch "
                f"(running on {self.base_choice.label} until then)"
            )
        return True

    def base_text(self) -> str:
        """One line: the base the running voice uses and why; "—" unless live."""
        if self.state is not LiveState.LIVE:
            return "—"
        c = self.base_choice
        return "effects voice: no neural base" if c is None else f"{c.label} — {c.reason}"

    def _on_voice_selected(self, name: str) -> None:
        if self.state is not LiveState.LIVE:
            return
        self._pending_voice = name
        self._next_voice()

    def _next_voice(self) -> None:
        if self._voice_loading or self._pending_voice is None or self.state is not LiveState.LIVE:
            return
        name, self._pending_voice = self._pending_voice, None
        request = self.base_request
        self._voice_loading = True

        def done(choice: object) -> None:
            self._voice_loading = False
            assert choice is None or isinstance(choice, BaseChoice)
            self.voiceSwitched.emit(name)
            if self.state is LiveState.LIVE:  # not stopped meanwhile
                self.base_choice, self.base_voice = choice, name
                self.baseChosen.emit(choice)
            self._next_voice()

        def failed(msg: str) -> None:
            self._voice_loading = False
            self.error.emit(f"could not switch to voice {name!r}: {msg}")
            self._next_voice()

        self._tasks.run(lambda: self.controller.set_voice(name, request), f"loading voice {name}", done, failed)

    def _on_device_selected(self, role: str) -> None:
        if self.state is not LiveState.LIVE:
            return
        if role == "monitor":
            dev = self.devices.selected("monitor")
            old_mon = self.controller.monitor_device()
            if key_of(dev) == key_of(old_mon):
                return  # same device (e.g. re-found after a rescan): nothing to reopen
            self._run_switch(
                lambda: self.controller.set_monitor_device(dev),
                "switching the monitor device",
                revert=lambda: self.devices.select("monitor", old_mon, quiet=True),
            )
            return
        pair = self.controller.devices()
        inp, out = self.devices.selected("input"), self.devices.selected("output")
        if pair is None or inp is None or out is None:
            return
        if key_of(inp) == key_of(pair[0]) and key_of(out) == key_of(pair[1]):
            return  # same pair (e.g. re-found after a rescan): nothing to reopen
        self.switch_devices(inp, out)

    def switch_devices(self, inp: DeviceInfo, out: DeviceInfo) -> None:
        """Switch the running session to ``inp``/``out``; on failure the old pair keeps playing and is re-selected."""
        pair = self.controller.devices()
        if pair is None:
            return
        old_in, old_out = pair

        def revert() -> None:
            self.devices.select("input", old_in, quiet=True)
            self.devices.select("output", old_out, quiet=True)

        self._run_switch(
            lambda: self.controller.switch_devices(inp, out), f"switching to {inp.label()} → {out.label()}", revert
        )

    def _run_switch(self, fn: Callable[[], None], what: str, revert: Callable[[], None]) -> None:
        self.operation = Operation.SWITCHING

        def ok(_: object) -> None:
            self.operation = Operation.NONE
            self._apply_monitor_enabled()
            self.devicesSwitched.emit()

        def failed(msg: str) -> None:
            self.operation = Operation.NONE
            revert()
            self.error.emit(f"{what} failed; still on the previous devices. {msg}")

        self._tasks.run(fn, what, ok, failed)

    def _apply_monitor_enabled(self) -> None:
        try:
            self._apply()
        except ConfigError as e:
            self.error.emit(str(e))

    # ------------------------------------------------------------------ calibration

    def calibrate(self) -> None:
        """Measure the device round trip (clicks through a loopback) on a worker, stopped or live
        (live: the stream pauses about 3 s)."""
        if self.operation is not Operation.NONE:
            return
        if self.state is LiveState.LIVE:
            controller = self.controller

            def measure() -> Calibration:
                m = controller.calibrate()
                engine_ms = controller.snapshot().stats.engine_latency_ms
                return Calibration(m.median_ms, m.spread_ms, engine_ms, m.reported_ms, m.n_detected, m.n_clicks)

            what = "measuring the round-trip latency (live)"
        elif self.state is LiveState.STOPPED:
            if self.devices.selected("input") is None or self.devices.selected("output") is None:
                self.error.emit("pick an input and an output device to calibrate")
                return
            request = self._request()
            if request is None:
                return

            def measure() -> Calibration:
                m, budget = self.controller.measure_round_trip(request)
                return Calibration(m.median_ms, m.spread_ms, budget.engine_ms, m.reported_ms, m.n_detected, m.n_clicks)

            what = "measuring the round-trip latency"
        else:
            return
        self.operation = Operation.CALIBRATING
        self.calibratingChanged.emit(True)

        def ok(c: object) -> None:
            self.operation = Operation.NONE
            self.calibratingChanged.emit(False)
            assert isinstance(c, Calibration)
            self.calibration = c
            self.calibrated.emit(c)

        def failed(msg: str) -> None:
            self.operation = Operation.NONE
            self.calibratingChanged.emit(False)
            self.error.emit(f"calibration failed: {msg}")

        self._tasks.run(measure, what, ok, failed)

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop synchronously (app exit): waits for workers, then closes the session."""
        self._timer.stop()
        self._tasks.wait_all()
        QCoreApplication.processEvents()  # deliver a start that finished meanwhile, so it is stopped too
        self._timer.stop()
        if self.controller.state is not LiveState.STOPPED:
            self.controller.stop()
        if self.state is not LiveState.STOPPED:
            self._set_state(LiveState.STOPPED)
