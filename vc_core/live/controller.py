"""The one way to run the voice live: devices resolved, engine and session built, a watchdog.

Every front end (``vc live``, the desktop app, tests) is a thin client of :class:`LiveController`:

- :meth:`LiveController.start` loads the voice on the requested base, resolves the devices and
  rates, builds the :class:`~vc_core.engine.live.LiveEngine` and the
  :class:`~vc_core.engine.session.LiveSession` and starts the watchdog. It blocks (loading a voice
  takes seconds, a first ``auto`` start measures the quality base): call it from a worker thread
  or a command line's main thread, never from a GUI thread.
- The watchdog thread (context (c), its own thread) owns everything slow about a running stream:
  the presence check (``pactl``, up to seconds when the sound server is slow), the stall check and
  reopening the streams when the device buffers grew. When the stream is lost it stops the session
  itself and records why.
- :meth:`LiveController.snapshot` is an immutable :class:`LiveSnapshot` (state, engine stats, the
  latency the device reports now, why the stream was lost): GUIs poll it on a timer.
- Device switches, monitor switches, voice switches and calibration block (workers) and are
  serialised with the watchdog by one lock, so a reopen never races a switch.

States: ``STOPPED -> STARTING -> LIVE -> STOPPING -> STOPPED``; a lost stream goes
``LIVE -> STOPPING -> STOPPED`` on the watchdog with :attr:`LiveSnapshot.lost` set.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from vc_core.config import GateConfig, MixConfig, MonitorConfig, StreamConfig, VoiceParams
from vc_core.engine.live import EngineStats, LiveEngine
from vc_core.engine.session import LiveSession, PresenceCheck, pulse_presence_check
from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo, Kind, find_device, list_devices, pick_rates, resolve_pair
from vc_core.io.latency_probe import LatencyMeasurement
from vc_core.neural.choice import AUTO, BaseChoice, load_voice
from vc_core.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

WATCH_PERIOD_S = 0.1  # how often the watchdog looks at the stream (the presence check has its own period)

DeviceRef = DeviceInfo | str | None  # a device, a name to find, or None for the system default
SessionFactory = Callable[..., LiveSession]  # (engine, presence_check=...) -> LiveSession
PresenceFactory = Callable[[DeviceInfo, DeviceInfo], "PresenceCheck | None"]


class LiveState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    LIVE = "live"
    STOPPING = "stopping"


@dataclass(frozen=True)
class LiveRequest:
    """What to run live. Devices are a :class:`DeviceInfo`, a name (matched as ``vc devices`` lists
    it, on ``host_api`` when given) or None for the system default."""

    voice: str
    input: DeviceRef = None
    output: DeviceRef = None
    monitor: DeviceRef = None
    host_api: str | None = None
    base: str = AUTO  # neural base request: auto | quality | realtime
    rate_hz: int | None = None  # both devices at this rate; None: probed (one shared rate if possible)
    output_rate_hz: int | None = None  # the output at its own rate (split streams)
    block_frames: int = 256
    safety_ms: float = StreamConfig.safety_ms
    stereo: bool = False  # the voice on two output channels; mono outputs that refuse mono retry in stereo
    params: VoiceParams = field(default_factory=VoiceParams)
    gate: GateConfig = field(default_factory=GateConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    monitor_config: MonitorConfig = field(default_factory=MonitorConfig)


@dataclass(frozen=True)
class LiveSnapshot:
    """Immutable view of the controller, safe to read from any thread."""

    state: LiveState = LiveState.STOPPED
    stats: EngineStats = field(default_factory=EngineStats)
    latency_now_ms: float = 0.0  # engine P + what the device timestamps say the buffers hold now
    delay_resets: int = 0  # times the watchdog reopened the streams because the buffers grew
    lost: str | None = None  # why the last stream was lost (the watchdog stopped it); None otherwise
    voice: str = ""
    base: BaseChoice | None = None  # the neural base the voice runs on; None for an effects voice
    input_label: str = ""
    output_label: str = ""
    output_channels: int = 1


@dataclass(frozen=True)
class LatencyBudget:
    """The engine's fixed latency P on one duplex stream, and what it is made of (ms)."""

    chain_ms: float  # resampling, gate hop, voice look-ahead and hop
    block_ms: float
    safety_ms: float
    engine_ms: float  # P = chain + one block + safety, rounded to whole samples


def engine_latency(voice: Voice, rate_hz: int, block_frames: int, safety_ms: float) -> LatencyBudget:
    """P for ``voice`` at ``rate_hz`` with this block and safety margin (builds the chain once)."""
    from vc_core.pipeline import VoiceChain

    stream = StreamConfig(device_rate_hz=rate_hz, block_frames=block_frames, safety_ms=safety_ms)
    chain_samples = VoiceChain(voice, rate_hz, rate_hz).latency_samples
    return LatencyBudget(
        chain_ms=1000.0 * chain_samples / rate_hz,
        block_ms=stream.block_ms,
        safety_ms=stream.safety_ms,
        engine_ms=1000.0 * stream.engine_latency_samples(chain_samples) / rate_hz,
    )


def resolve_device(ref: DeviceRef, kind: Kind, host_api: str | None = None) -> DeviceInfo:
    """This process's device for ``ref``: found by name, the system default for None; DeviceError
    saying what to do when there is none."""
    if isinstance(ref, DeviceInfo):
        return find_device(ref.name, ref.host_api, kind=kind)
    if ref is not None:
        return find_device(ref, host_api, kind=kind)
    devs = list_devices(kind)
    if not devs:
        raise DeviceError(f"no {kind} device found: connect one or create a virtual one (`vc route create`)")
    return devs[0]


def _resolve_pair(r: LiveRequest) -> tuple[DeviceInfo, DeviceInfo]:
    """This process's input and output for ``r`` (re-initialising PortAudio for a device a rescan
    in a child process found: only while no stream of this process runs)."""
    if isinstance(r.input, DeviceInfo) and isinstance(r.output, DeviceInfo):
        return resolve_pair(r.input, r.output)
    return resolve_device(r.input, "input", r.host_api), resolve_device(r.output, "output", r.host_api)


def default_presence(input_device: DeviceInfo, output_device: DeviceInfo) -> PresenceCheck | None:
    """Linux: watch both devices' sound-server nodes (see :func:`pulse_presence_check`)."""
    if not sys.platform.startswith("linux"):
        return None
    return pulse_presence_check((input_device, "sources"), (output_device, "sinks"))


class LiveController:
    """Owns at most one live session and its watchdog. Thread-safe; blocking calls say so."""

    def __init__(
        self,
        library: VoiceLibrary,
        session_factory: SessionFactory = LiveSession,
        presence: PresenceFactory | None = default_presence,
        load: Callable[[VoiceLibrary, str, str], tuple[Voice, BaseChoice | None]] = load_voice,
    ) -> None:
        self.library = library
        self._factory = session_factory
        self._presence = presence
        self._load = load
        self._lock = threading.RLock()  # held by every device operation and by each watchdog look
        # NB: _snap is replaced (never mutated) by whichever thread changes the state; read by anyone.
        self._snap = LiveSnapshot()
        self._session: LiveSession | None = None  # NB: written under _lock only
        self._stop_watch = threading.Event()
        self._watch: threading.Thread | None = None
        self._lost_event = threading.Event()

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> LiveSnapshot:
        """The state now, with fresh engine stats (any thread, never blocks)."""
        snap = self._snap
        session = self._session
        if session is None or snap.state is not LiveState.LIVE:
            return snap
        return replace(snap, stats=session.stats())

    @property
    def state(self) -> LiveState:
        return self._snap.state

    @property
    def session(self) -> LiveSession | None:
        """The running session (for tests and diagnostics; front ends use the controller's methods)."""
        return self._session

    def wait_lost(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s``; True as soon as the watchdog found the stream lost."""
        return self._lost_event.wait(timeout_s)

    # ------------------------------------------------------------------ start / stop (blocking)

    def start(self, request: LiveRequest) -> LiveSnapshot:
        """Load the voice, open the devices and start streaming (blocking; worker or CLI thread).

        Raises the VcError subclass that says what went wrong (voice, config, device); the
        controller is then stopped again.
        """
        with self._lock:
            if self._snap.state is not LiveState.STOPPED:
                raise DeviceError(f"the live stream is {self._snap.state.value}: stop it first")
            self._set(LiveSnapshot(state=LiveState.STARTING, voice=request.voice))
            self._lost_event.clear()
            try:
                session, choice, inp, out = self._open(request)
            except BaseException:
                self._set(LiveSnapshot())
                raise
            self._session = session
            self._set(
                LiveSnapshot(
                    state=LiveState.LIVE,
                    stats=session.stats(),
                    voice=request.voice,
                    base=choice,
                    input_label=inp.label(),
                    output_label=out.label(),
                    output_channels=session.output_channels,
                )
            )
            self._stop_watch.clear()
            self._watch = threading.Thread(target=self._watchdog, name="vc-live-watchdog", daemon=True)
            self._watch.start()
            log.info("live: %s -> %s -> %s", inp.label(), request.voice, out.label())
            return self._snap

    def _open(self, r: LiveRequest) -> tuple[LiveSession, BaseChoice | None, DeviceInfo, DeviceInfo]:
        voice, choice = self._load(self.library, r.voice, r.base)
        inp, out = _resolve_pair(r)
        mon = None if r.monitor is None else resolve_device(r.monitor, "output", r.host_api)
        rate_in, rate_out = (r.rate_hz, r.rate_hz) if r.rate_hz is not None else pick_rates(inp, out)
        stream = StreamConfig(
            device_rate_hz=rate_in,
            output_rate_hz=r.output_rate_hz or rate_out,
            block_frames=r.block_frames,
            safety_ms=r.safety_ms,
        )
        presence = self._presence(inp, out) if self._presence is not None else None

        def session() -> LiveSession:
            engine = LiveEngine(voice, stream, r.params, r.gate, r.mix, monitor=r.monitor_config)
            return self._factory(engine, presence_check=presence)

        s = session()
        try:
            s.start(inp, out, 2 if r.stereo else 1, monitor_device=mon)
        except DeviceError:
            if r.stereo or out.max_output_channels < 2:
                raise
            # some hardware outputs (ALSA hw:) take stereo only: the voice on both channels
            log.info("mono output refused by %s; retrying in stereo", out.label())
            s = session()
            s.start(inp, out, 2, monitor_device=mon)
        return s, choice, inp, out

    def stop(self) -> EngineStats:
        """Stop the watchdog and close the streams (blocking); the last stats. No-op when stopped."""
        self._stop_watch.set()
        watch = self._watch
        if watch is not None and watch is not threading.current_thread():
            watch.join()
        with self._lock:
            return self._close(lost=None)

    def _close(self, lost: str | None) -> EngineStats:
        """Under the lock: stop the session (if any) and publish STOPPED with ``lost``."""
        session, self._session = self._session, None
        if session is None:
            return self._snap.stats
        self._set(replace(self._snap, state=LiveState.STOPPING, lost=lost))
        try:
            session.stop()
        finally:
            stats = session.stats()
            self._set(replace(self._snap, state=LiveState.STOPPED, stats=stats, lost=lost))
        return stats

    # ------------------------------------------------------------------ the watchdog (its own thread)

    def _watchdog(self) -> None:
        while not self._stop_watch.wait(WATCH_PERIOD_S):
            # a switch or calibration holds the lock: its pause must not look like a lost device
            if not self._lock.acquire(blocking=False):
                continue
            try:
                session = self._session
                if session is None:
                    return
                lost = session.check_alive()  # may run pactl, may reopen the streams
                if lost is not None:
                    log.warning("audio device lost: %s", lost)
                    self._close(lost=lost)
                    self._lost_event.set()
                    return
                self._set(
                    replace(
                        self._snap,
                        latency_now_ms=session.stats().engine_latency_ms + session.device_delay_ms(),
                        delay_resets=session.delay_resets,
                    )
                )
            finally:
                self._lock.release()

    # ------------------------------------------------------------------ changes while live

    def update(self, params: VoiceParams, gate: GateConfig, mix: MixConfig) -> None:
        """Hand new settings to the running engine (cheap, any thread; raises ConfigError)."""
        session = self._session
        if session is not None:
            session.engine.update(params, gate, mix)

    def set_monitor(self, monitor: MonitorConfig) -> None:
        """The monitor bus's gain and mix (cheap, any thread)."""
        session = self._session
        if session is not None:
            session.engine.set_monitor(monitor)

    def switch_devices(self, input_device: DeviceInfo, output_device: DeviceInfo) -> None:
        """Move the stream to another pair (blocking); on DeviceError the old pair keeps playing."""
        with self._lock:
            session = self._running()
            session.switch_devices(input_device, output_device)
            dev = session.device
            assert dev is not None
            self._set(replace(self._snap, input_label=dev.input_device.label(), output_label=dev.output_device.label()))

    def set_monitor_device(self, device: DeviceInfo | None) -> None:
        """Play the monitor bus on ``device`` (None: off), blocking; on DeviceError keep the old one."""
        with self._lock:
            self._running().set_monitor_device(device)

    def set_voice(self, name: str, base: str = AUTO) -> BaseChoice | None:
        """Load ``name`` on ``base`` and swap it in at a hop boundary (blocking); the base it runs on."""
        voice, choice = self._load(self.library, name, base)
        with self._lock:
            self._running().engine.set_voice(voice)  # builds and warms the chain off the audio path
            self._set(replace(self._snap, voice=name, base=choice))
        return choice

    def measure_round_trip(self, request: LiveRequest, clicks: int = 8) -> tuple[LatencyMeasurement, LatencyBudget]:
        """Stopped only (blocking): the round trip of ``request``'s devices measured with clicks
        through a loopback or cable, and the engine latency its voice would add on one duplex stream."""
        from vc_core.io.devices import pick_common_rate
        from vc_core.io.latency_probe import measure_device_round_trip

        with self._lock:
            if self._snap.state is not LiveState.STOPPED:
                raise DeviceError("stop the live stream first, or calibrate the running one")
            voice, _ = self._load(self.library, request.voice, request.base)
            inp, out = _resolve_pair(request)
            rate = request.rate_hz or pick_common_rate(inp, out)
            budget = engine_latency(voice, rate, request.block_frames, request.safety_ms)
            m = measure_device_round_trip(inp.index, out.index, rate, request.block_frames, clicks=clicks)
            return m, budget

    def calibrate(self, clicks: int = 8) -> LatencyMeasurement:
        """Measure the running pair's round trip with clicks (blocking, the stream pauses ~3 s)."""
        with self._lock:
            return self._running().calibrate(clicks)

    def monitor_device(self) -> DeviceInfo | None:
        session = self._session
        return None if session is None or session.monitor_device is None else session.monitor_device.device

    def devices(self) -> tuple[DeviceInfo, DeviceInfo] | None:
        """The (input, output) pair streaming now; None when stopped."""
        session = self._session
        dev = None if session is None else session.device
        return None if dev is None else (dev.input_device, dev.output_device)

    def _running(self) -> LiveSession:
        session = self._session
        if session is None:
            raise DeviceError("the live stream is not running: start it first")
        return session

    def _set(self, snap: LiveSnapshot) -> None:
        self._snap = snap
