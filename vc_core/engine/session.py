"""A live session: one engine and the device pair it plays through, switched transactionally.

Context (c) only. Switching devices opens the new stream *before* the old one is touched; if
that fails, the old stream keeps running and the caller gets a DeviceError with the host API's
text. The engine (its rings, voice and counters) lives on across switches. An optional monitor
device (headphones) gets its own output-only stream fed by the engine's monitor ring.

Losing a device: PortAudio does not always say so. Through PortAudio's ALSA ``pulse`` plugin
on PipeWire, unloading the sink a stream plays into makes the sound server *move* the stream to
the fallback sink: callbacks keep coming at the same rate, with no status flag and no finished
callback. :meth:`LiveSession.check_alive` therefore combines three signals: the stream finished
on its own, the engine's callbacks stopped advancing for ``STALL_S``, or an optional presence
check (e.g. :func:`pulse_presence_check`) no longer finds a device by name.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable

from vc_core.engine.live import EngineStats, LiveEngine
from vc_core.errors import DeviceError
from vc_core.io.devices import (
    DeviceInfo,
    check_pair_isolated,
    find_device,
    known_in_process,
    reinitialize_portaudio,
)
from vc_core.io.latency_probe import LatencyMeasurement, measure_device_round_trip
from vc_core.io.portaudio import PortAudioDevice, PortAudioOutput

log = logging.getLogger(__name__)

DeviceFactory = Callable[..., PortAudioDevice]  # (input, output, rate, block, channels, output_rate_hz=)
MonitorFactory = Callable[[DeviceInfo, int, int, int], PortAudioOutput]
PresenceCheck = Callable[[], "str | None"]  # None while the devices exist, else why not

# Device buffers that grew after an overload (the sound server keeps a capture backlog: seen
# through PortAudio's ALSA 'pulse' plugin, 21 ms -> 565 ms after a 0.6 s stall) are reset by
# reopening the streams once the device-reported delay exceeds its start value by this much.
DELAY_GROWTH_LIMIT_S = 0.05
DELAY_BASELINE_S = 1.0  # after a (re)start, the delay's minimum over this long is the baseline
STALL_S = 1.0  # no engine callback for this long while running: the device is lost
PRESENCE_PERIOD_S = 0.5  # how often check_alive runs the (slow, subprocess) presence check
_PACTL_TIMEOUT_S = 5.0


class LiveSession:
    """Owns a started :class:`LiveEngine`, the :class:`PortAudioDevice` feeding it and an optional monitor."""

    def __init__(
        self,
        engine: LiveEngine,
        device_factory: DeviceFactory = PortAudioDevice,
        monitor_factory: MonitorFactory = PortAudioOutput,
        presence_check: PresenceCheck | None = None,
        lookup_by_name: bool = True,
    ) -> None:
        self.engine = engine
        self._factory = device_factory
        self._monitor_factory = monitor_factory
        self.presence_check = presence_check
        self.lookup_by_name = lookup_by_name  # False only for devices PortAudio does not list (tests)
        self.device: PortAudioDevice | None = None
        self.monitor_device: PortAudioOutput | None = None
        self.output_channels = 1
        self.lost_message: str | None = None  # NB: written by PortAudio's finished callback and control
        self._watch_count = -1
        self._watch_since = 0.0
        self._presence_at = 0.0
        self.delay_resets = 0  # times the streams were reopened because device buffers grew
        self._delay_baseline_s: float | None = None
        self._delay_started = 0.0

    def start(
        self,
        input_device: DeviceInfo,
        output_device: DeviceInfo,
        output_channels: int = 1,
        monitor_device: DeviceInfo | None = None,
    ) -> None:
        self.output_channels = output_channels
        self.engine.start()
        try:
            self.switch_devices(input_device, output_device)
            if monitor_device is not None:
                self.set_monitor_device(monitor_device)
        except DeviceError:
            self.stop()
            raise

    def switch_devices(self, input_device: DeviceInfo, output_device: DeviceInfo) -> None:
        """Open and start the new pair, then close the old one; on failure keep the old one.

        Devices are looked up again by name + host API (indexes from another scan are stale).
        A device this process's PortAudio has not seen yet (plugged in after start-up, found by
        :func:`~vc_core.io.devices.rescan_isolated`) needs PortAudio re-initialised, which closes
        every stream: the pair is first checked in a child process, and only then are the old
        streams stopped, PortAudio re-initialised and the new pair opened.
        """
        cfg = self.engine.cfg
        if self.lookup_by_name:
            input_device, output_device = self._resolve(input_device, output_device)
        new = self._factory(
            input_device,
            output_device,
            cfg.rate_in_hz,
            cfg.block_frames,
            self.output_channels,
            output_rate_hz=cfg.rate_out_hz,
        )
        new.open()  # raises DeviceError; the old device is untouched
        new.on_lost = self._on_lost
        old = self.device
        if old is not None:
            old.close()
        try:
            new.start(self.engine)
        except DeviceError:
            if old is not None:  # put the old pair back the way it was
                self._reopen(old)
            raise
        self.device = new
        self.lost_message = None
        self._watch_started(new)
        self.engine.set_measured_device_round_trip(None)  # a calibration belongs to one stream
        log.info("live on %s -> %s", input_device.label(), output_device.label())

    def _resolve(self, input_device: DeviceInfo, output_device: DeviceInfo) -> tuple[DeviceInfo, DeviceInfo]:
        """This process's current DeviceInfo for both (by name + host API), re-initialising
        PortAudio first when one of them is new to it (see :meth:`switch_devices`)."""
        cfg = self.engine.cfg
        if not (known_in_process(input_device) and known_in_process(output_device)):
            check_pair_isolated(input_device, output_device, cfg.rate_in_hz, self.output_channels)
            monitor = self.monitor_device.device if self.monitor_device is not None else None
            self._close_streams()
            reinitialize_portaudio()
            if monitor is not None:
                self.set_monitor_device(find_device(monitor.name, monitor.host_api, kind="output"))
        return (
            find_device(input_device.name, input_device.host_api, kind="input"),
            find_device(output_device.name, output_device.host_api, kind="output"),
        )

    def calibrate(self, clicks: int = 8) -> LatencyMeasurement:
        """Measure the current pair's round trip with clicks (needs a loopback or a cable from the
        output back to the input). The stream pauses for about 3 s and then resumes; the result is
        shown in the stats as ``measured_latency_ms`` (device round trip + engine latency P)."""
        if self.device is None:
            raise DeviceError("start the live stream before calibrating")
        dev = self.device
        cfg = self.engine.cfg
        dev.close()
        try:
            m = measure_device_round_trip(
                dev.input_device.index, dev.output_device.index, cfg.device_rate_hz, cfg.block_frames, clicks=clicks
            )
        finally:
            self._reopen(dev)
        self.engine.set_measured_device_round_trip(m.median_ms)
        return m

    def set_monitor_device(self, device: DeviceInfo | None) -> None:
        """Play the monitor bus on ``device`` (None: no monitor stream); on failure keep the old one.

        The monitor's gain and mix come from the engine (:meth:`LiveEngine.set_monitor`); the
        old monitor stream is closed before the new one starts, so the ring has one reader.
        """
        new: PortAudioOutput | None = None
        if device is not None:
            cfg = self.engine.cfg
            new = self._monitor_factory(device, cfg.rate_out_hz, cfg.block_frames_out, self.output_channels)
            new.open()  # raises DeviceError; the old monitor is untouched
        old, self.monitor_device = self.monitor_device, None
        if old is not None:
            old.close()
        if new is not None:
            new.start(self.engine.monitor_callback)
            self.monitor_device = new
            log.info("monitor on %s", new.device.label())

    def _on_lost(self, message: str) -> None:
        self.lost_message = message

    def check_alive(self) -> str | None:
        """Control: None while the stream is healthy, else a message saying why it is lost.

        Call a few times a second. Lost means: the stream finished on its own; or the engine's
        callback count has not advanced for more than ``STALL_S`` (a silently stalled device);
        or the presence check says a device is gone (a stream the sound server moved elsewhere).
        """
        if self.lost_message is not None:
            return self.lost_message
        dev = self.device
        if dev is None:
            return None
        now = time.monotonic()
        count = self.engine.callback_count
        if count != self._watch_count:
            self._watch_count = count
            self._watch_since = now
        elif now - self._watch_since > STALL_S:
            self.lost_message = (
                f"the audio device stopped calling back for {now - self._watch_since:.1f} s "
                f"(input {dev.input_device.label()}, output {dev.output_device.label()}): it was probably "
                "unplugged or taken by another program"
            )
            return self.lost_message
        self._check_delay(dev, now)
        if self.presence_check is not None and now - self._presence_at >= PRESENCE_PERIOD_S:
            self._presence_at = now
            gone = self.presence_check()
            if gone is not None:
                self.lost_message = gone
                return gone
        return None

    def device_delay_ms(self) -> float:
        """Input + output delay the device's timestamps report now (what the buffers hold)."""
        dev = self.device
        return 0.0 if dev is None else 1000.0 * (dev.input_delay_s + dev.output_delay_s)

    def _check_delay(self, dev: PortAudioDevice, now: float) -> None:
        """Reopen the pair when its buffers grew past the baseline (bounded latency, not just P)."""
        delay = dev.input_delay_s + dev.output_delay_s
        if delay <= 0.0:
            return
        if now - self._delay_started < DELAY_BASELINE_S:
            self._delay_baseline_s = delay if self._delay_baseline_s is None else min(self._delay_baseline_s, delay)
            return
        if self._delay_baseline_s is None or delay <= self._delay_baseline_s + DELAY_GROWTH_LIMIT_S:
            return
        log.warning(
            "device delay grew from %.0f to %.0f ms; reopening %s",
            1000 * self._delay_baseline_s,
            1000 * delay,
            dev.output_device.label(),
        )
        dev.close()
        self._reopen(dev)
        self.delay_resets += 1

    def _reopen(self, dev: PortAudioDevice) -> None:
        """Open and start ``dev`` (closed by the caller) again; watchdogs start over."""
        dev.open()
        dev.start(self.engine)
        self._watch_started(dev)

    def _watch_started(self, dev: PortAudioDevice) -> None:
        """A stream (re)started: the stall and delay watchdogs and the reported latency start over."""
        self._watch_count = -1
        self._delay_baseline_s = None
        self._delay_started = time.monotonic()
        self.engine.set_device_latency(dev.latency_s)

    @property
    def running(self) -> bool:
        return self.device is not None and self.device.running

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def _close_streams(self) -> None:
        if self.monitor_device is not None:
            self.monitor_device.close()
            self.monitor_device = None
        if self.device is not None:
            self.device.close()
            self.device = None

    def stop(self) -> None:
        self._close_streams()
        self.engine.stop()


def _pulse_names(kind: str) -> set[str] | None:
    """Names of the pulse server's sinks or sources (``pactl list short``), None when unavailable."""
    exe = shutil.which("pactl")
    if exe is None:
        return None
    try:
        res = subprocess.run(
            [exe, "list", "short", kind],
            capture_output=True,
            text=True,
            timeout=_PACTL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return {line.split("\t")[1] for line in res.stdout.splitlines() if line.count("\t") >= 1}


def pulse_presence_check(*devices: tuple[DeviceInfo, str]) -> PresenceCheck | None:
    """Linux: a check that says when a (device, "sinks"|"sources") pair's pulse node has vanished.

    Arms only for devices whose PortAudio name is also a sink or source name on the running
    PulseAudio/PipeWire server (ALSA ``pulse`` plugin PCMs named after the node); returns None
    when none is, or when pactl or the server is missing. Each call runs ``pactl`` (~10 ms).
    """
    watched: list[tuple[DeviceInfo, str]] = []
    for dev, kind in devices:
        names = _pulse_names(kind)
        if names is not None and dev.name in names:
            watched.append((dev, kind))
    if not watched:
        return None

    def check() -> str | None:
        for dev, kind in watched:
            names = _pulse_names(kind)
            if names is not None and dev.name not in names:
                what = "sink" if kind == "sinks" else "source"
                return (
                    f"the sound server no longer has the {what} {dev.name!r} that {dev.label()} uses: "
                    "it was removed or unplugged, and the server moved the stream elsewhere"
                )
        return None

    return check
