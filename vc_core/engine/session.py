"""A live session: one engine and the device pair it plays through, switched transactionally.

Context (c) only. Switching devices opens the new stream *before* the old one is touched; if
that fails, the old stream keeps running and the caller gets a DeviceError with the host API's
text. The engine (its rings, voice and counters) lives on across switches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vc_core.engine.live import EngineStats, LiveEngine
from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo
from vc_core.io.portaudio import PortAudioDevice

log = logging.getLogger(__name__)

DeviceFactory = Callable[[DeviceInfo, DeviceInfo, int, int, int], PortAudioDevice]


class LiveSession:
    """Owns a started :class:`LiveEngine` and the :class:`PortAudioDevice` feeding it."""

    def __init__(self, engine: LiveEngine, device_factory: DeviceFactory = PortAudioDevice) -> None:
        self.engine = engine
        self._factory = device_factory
        self.device: PortAudioDevice | None = None
        self.output_channels = 1
        self.lost_message: str | None = None  # NB: written by PortAudio's finished callback

    def start(self, input_device: DeviceInfo, output_device: DeviceInfo, output_channels: int = 1) -> None:
        self.output_channels = output_channels
        self.engine.start()
        self.switch_devices(input_device, output_device)

    def switch_devices(self, input_device: DeviceInfo, output_device: DeviceInfo) -> None:
        """Open and start the new pair, then close the old one; on failure keep the old one."""
        cfg = self.engine.cfg
        new = self._factory(input_device, output_device, cfg.device_rate_hz, cfg.block_frames, self.output_channels)
        new.open()  # raises DeviceError; the old device is untouched
        new.on_lost = self._on_lost
        old = self.device
        if old is not None:
            old.close()
        try:
            new.start(self.engine.audio_callback)
        except DeviceError:
            if old is not None:  # put the old pair back the way it was
                old.open()
                old.start(self.engine.audio_callback)
            raise
        self.device = new
        self.lost_message = None
        self.engine.set_device_latency(new.latency_s)
        log.info("live on %s -> %s", input_device.label(), output_device.label())

    def _on_lost(self, message: str) -> None:
        self.lost_message = message

    @property
    def running(self) -> bool:
        return self.device is not None and self.device.running

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def stop(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None
        self.engine.stop()
