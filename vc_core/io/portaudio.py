"""The PortAudio device: one duplex sounddevice stream whose callback calls the engine's.

Context (a) of the live engine runs here: ``_callback`` only forwards the device buffers to
:meth:`LiveEngine.audio_callback` and counts PortAudio's over/underflow flags. Opening is
transactional for the caller: :func:`open_duplex` either returns a started device or raises
:class:`DeviceError` with the host API's text, never leaving a half-open stream behind.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo

log = logging.getLogger(__name__)

Callback = Callable[[Any, Any, int], None]


def _sd() -> Any:
    try:
        return importlib.import_module("sounddevice")
    except OSError as e:
        raise DeviceError(f"PortAudio is not available ({e}): install libportaudio2 (Debian/Ubuntu)") from e


class PortAudioDevice:
    """A duplex input/output pair at one rate and block size (mono in, mono or stereo out)."""

    def __init__(
        self,
        input_device: DeviceInfo,
        output_device: DeviceInfo,
        rate_hz: int,
        block_frames: int,
        output_channels: int = 1,
        latency: str | float = "low",
    ) -> None:
        self.input_device = input_device
        self.output_device = output_device
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.output_channels = output_channels
        self._latency = latency
        self._stream: Any = None
        self._callback: Callback | None = None
        self.status_flags = 0  # NB: written by the audio callback only
        self._finished = threading.Event()
        self._stopping = False  # NB: written by control only
        self._error: str | None = None  # NB: written by PortAudio's finished callback / control
        self.on_lost: Callable[[str], None] | None = None

    @property
    def latency_s(self) -> tuple[float, float]:
        if self._stream is None:
            return (0.0, 0.0)
        lat = self._stream.latency
        return (float(lat[0]), float(lat[1]))

    @property
    def running(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    @property
    def error(self) -> str | None:
        return self._error

    def _describe(self) -> str:
        return (
            f"input {self.input_device.label()} + output {self.output_device.label()} at {self.rate_hz} Hz, "
            f"block {self.block_frames}"
        )

    def open(self) -> None:
        """Open the stream (not started). Raises DeviceError with PortAudio's text."""
        sd = _sd()
        if self.input_device.host_api != self.output_device.host_api:
            raise DeviceError(
                f"input {self.input_device.label()} and output {self.output_device.label()} are on different "
                "host APIs; PortAudio needs both on the same one (pick the matching pair)"
            )
        try:
            self._stream = sd.Stream(
                samplerate=self.rate_hz,
                blocksize=self.block_frames,
                device=(self.input_device.index, self.output_device.index),
                channels=(1, self.output_channels),
                dtype="float32",
                latency=self._latency,
                callback=self._on_audio,
                finished_callback=self._on_finished,
            )
        except (sd.PortAudioError, ValueError) as e:
            self._stream = None
            raise DeviceError(f"cannot open {self._describe()}: {e}") from e

    def _on_audio(self, indata: Any, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        # Context (a): forward and count; nothing else.
        if status:
            self.status_flags += 1
        cb = self._callback
        if cb is None:
            outdata.fill(0.0)
        else:
            cb(indata, outdata, frames)

    def _on_finished(self) -> None:
        self._finished.set()
        if not self._stopping:
            self._error = (
                f"the audio stream stopped by itself ({self._describe()}): the device was probably unplugged "
                "or taken by another program. Pick another device or fall back to the default."
            )
            if self.on_lost is not None:
                self.on_lost(self._error)

    def start(self, callback: Callback, ready: Callable[[int], bool] | None = None) -> None:
        if self._stream is None:
            self.open()
        self._callback = callback
        self._stopping = False
        try:
            self._stream.start()
        except Exception as e:
            self.close()
            raise DeviceError(f"cannot start {self._describe()}: {e}") from e

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self._stopping = True
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.abort() if s.active else None
                s.close()
            except Exception as e:  # the device may be gone already
                log.info("closing %s: %s", self._describe(), e)

    def wait_lost(self, timeout: float) -> bool:
        """True when the stream finished on its own within ``timeout`` seconds."""
        return self._finished.wait(timeout) and not self._stopping


OutputCallback = Callable[[Any, int], None]


class PortAudioOutput:
    """An output-only stream (the monitor bus): mono or stereo at one rate and block size.

    Its callback is context (a) as well: it forwards the device buffer to ``callback(outdata,
    frames)`` and counts PortAudio's underflow flags.
    """

    def __init__(
        self,
        device: DeviceInfo,
        rate_hz: int,
        block_frames: int,
        channels: int = 1,
        latency: str | float = "low",
    ) -> None:
        self.device = device
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.channels = channels
        self._latency = latency
        self._stream: Any = None
        self._callback: OutputCallback | None = None  # NB: written by control before start
        self.status_flags = 0  # NB: written by the audio callback only

    @property
    def latency_s(self) -> float:
        return 0.0 if self._stream is None else float(self._stream.latency)

    @property
    def running(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def _describe(self) -> str:
        return f"monitor output {self.device.label()} at {self.rate_hz} Hz, block {self.block_frames}"

    def open(self) -> None:
        """Open the stream (not started). Raises DeviceError with PortAudio's text."""
        sd = _sd()
        try:
            self._stream = sd.OutputStream(
                samplerate=self.rate_hz,
                blocksize=self.block_frames,
                device=self.device.index,
                channels=self.channels,
                dtype="float32",
                latency=self._latency,
                callback=self._on_audio,
            )
        except (sd.PortAudioError, ValueError) as e:
            self._stream = None
            raise DeviceError(f"cannot open {self._describe()}: {e}") from e

    def _on_audio(self, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        # Context (a): forward and count; nothing else.
        if status:
            self.status_flags += 1
        cb = self._callback
        if cb is None:
            outdata.fill(0.0)
        else:
            cb(outdata, frames)

    def start(self, callback: OutputCallback) -> None:
        if self._stream is None:
            self.open()
        self._callback = callback
        try:
            self._stream.start()
        except Exception as e:
            self.close()
            raise DeviceError(f"cannot start {self._describe()}: {e}") from e

    def close(self) -> None:
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.abort() if s.active else None
                s.close()
            except Exception as e:  # the device may be gone already
                log.info("closing %s: %s", self._describe(), e)
