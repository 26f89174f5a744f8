"""PortAudio streams over sounddevice: the live input/output pair, the monitor output, preview
playback (:func:`play`) and clip recording (:func:`start_recording`).

Context (a) of the live engine runs in these callbacks: they only forward the device buffers to
the engine and count PortAudio's over/underflow flags.

The pair runs as **one duplex stream** when both devices share a host API and a rate (one clock,
lowest latency). Otherwise it runs as **split streams**, an input-only and an output-only one,
each at its own rate: that avoids PortAudio's "illegal combination of devices" (-9993) for
devices on different host APIs, and lets each device keep a rate it supports (the engine
resamples each side independently and bounds the drift between the two clocks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo
from vc_core.io.pa import load_sounddevice
from vc_core.io.simulated import CallbackTarget

log = logging.getLogger(__name__)

OutputCallback = Callable[[Any, int], None]
InputCallback = Callable[[Any, int, Any, Any], None]  # (indata (frames, 1) float32, frames, time, status)


class _Streams:
    """Open/start/close bookkeeping shared by the pair and the monitor output."""

    def __init__(self, latency: str | float) -> None:
        self._latency = latency
        self._streams: list[Any] = []
        self.status_flags = 0  # NB: written by the audio callbacks only
        self._finished = threading.Event()
        self._stopping = False  # NB: written by control only
        self._error: str | None = None  # NB: written by PortAudio's finished callback / control
        self.on_lost: Callable[[str], None] | None = None

    def _describe(self) -> str:  # pragma: no cover - overridden
        return "audio stream"

    @property
    def running(self) -> bool:
        return bool(self._streams) and all(bool(s.active) for s in self._streams)

    @property
    def error(self) -> str | None:
        return self._error

    def _open_all(self, makers: list[Callable[[Any], Any]]) -> None:
        """Create every stream (not started); on any failure close those made and raise DeviceError."""
        sd = load_sounddevice()
        made: list[Any] = []
        try:
            for make in makers:
                made.append(make(sd))
        except (sd.PortAudioError, ValueError) as e:
            for s in made:
                s.close()
            raise DeviceError(f"cannot open {self._describe()}: {e}") from e
        self._streams = made

    def _start_all(self) -> None:
        self._stopping = False
        self._finished.clear()
        self._error = None
        try:
            for s in self._streams:
                s.start()
        except Exception as e:
            self.close()
            raise DeviceError(f"cannot start {self._describe()}: {e}") from e

    def _on_finished(self) -> None:
        self._finished.set()
        if not self._stopping:
            self._error = (
                f"the audio stream stopped by itself ({self._describe()}): the device was probably unplugged "
                "or taken by another program. Pick another device or fall back to the default."
            )
            if self.on_lost is not None:
                self.on_lost(self._error)

    def close(self) -> None:
        self._stopping = True
        streams, self._streams = self._streams, []
        for s in streams:
            try:
                if s.active:
                    s.abort()
                s.close()
            except Exception as e:  # the device may be gone already
                log.info("closing %s: %s", self._describe(), e)

    def stop(self) -> None:
        self.close()

    def wait_lost(self, timeout: float) -> bool:
        """True when a stream finished on its own within ``timeout`` seconds."""
        return self._finished.wait(timeout) and not self._stopping


class PortAudioDevice(_Streams):
    """The live input/output pair: mono in, mono or stereo out; duplex or split (see module doc).

    ``rate_hz``/``block_frames`` are the input's; ``output_rate_hz`` (default: the same) and
    ``block_frames_out`` (default: the same duration) the output's.
    """

    def __init__(
        self,
        input_device: DeviceInfo,
        output_device: DeviceInfo,
        rate_hz: int,
        block_frames: int,
        output_channels: int = 1,
        latency: str | float = "low",
        output_rate_hz: int | None = None,
    ) -> None:
        super().__init__(latency)
        self.input_device = input_device
        self.output_device = output_device
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.output_rate_hz = output_rate_hz or rate_hz
        self.block_frames_out = max(1, round(block_frames * self.output_rate_hz / rate_hz))
        self.output_channels = output_channels
        self.split = input_device.host_api != output_device.host_api or self.output_rate_hz != rate_hz
        self._target: CallbackTarget | None = None  # NB: written by control before start
        # What PortAudio's timestamps say the device buffers hold right now, in seconds: capture
        # time to callback (input) and callback to playback (output). NB: written by the callbacks.
        self.input_delay_s = 0.0
        self.output_delay_s = 0.0

    @property
    def latency_s(self) -> tuple[float, float]:
        if not self._streams:
            return (0.0, 0.0)
        if not self.split:
            lat = self._streams[0].latency
            return (float(lat[0]), float(lat[1]))
        return (float(self._streams[0].latency), float(self._streams[1].latency))

    def _describe(self) -> str:
        rates = f"{self.rate_hz} Hz" if not self.split else f"{self.rate_hz} Hz in / {self.output_rate_hz} Hz out"
        mode = "split streams" if self.split else "duplex"
        return (
            f"input {self.input_device.label()} + output {self.output_device.label()} at {rates}, "
            f"block {self.block_frames} ({mode})"
        )

    def open(self) -> None:
        """Create the stream(s), not started. Raises DeviceError with PortAudio's text."""
        common = {"dtype": "float32", "latency": self._latency, "finished_callback": self._on_finished}
        if not self.split:
            self._open_all(
                [
                    lambda sd: sd.Stream(
                        samplerate=self.rate_hz,
                        blocksize=self.block_frames,
                        device=(self.input_device.index, self.output_device.index),
                        channels=(1, self.output_channels),
                        callback=self._on_duplex,
                        **common,
                    )
                ]
            )
            return
        self._open_all(
            [
                lambda sd: sd.InputStream(
                    samplerate=self.rate_hz,
                    blocksize=self.block_frames,
                    device=self.input_device.index,
                    channels=1,
                    callback=self._on_input,
                    **common,
                ),
                lambda sd: sd.OutputStream(
                    samplerate=self.output_rate_hz,
                    blocksize=self.block_frames_out,
                    device=self.output_device.index,
                    channels=self.output_channels,
                    callback=self._on_output,
                    **common,
                ),
            ]
        )

    # context (a): forward and count; nothing else
    def _on_duplex(self, indata: Any, outdata: Any, frames: int, when: Any, status: Any) -> None:
        if status:
            self.status_flags += 1
        self.input_delay_s = when.currentTime - when.inputBufferAdcTime
        self.output_delay_s = when.outputBufferDacTime - when.currentTime
        t = self._target
        if t is None:
            outdata.fill(0.0)
        else:
            t.audio_callback(indata, outdata, frames)

    def _on_input(self, indata: Any, frames: int, when: Any, status: Any) -> None:
        if status:
            self.status_flags += 1
        self.input_delay_s = when.currentTime - when.inputBufferAdcTime
        t = self._target
        if t is not None:
            t.input_callback(indata, frames)

    def _on_output(self, outdata: Any, frames: int, when: Any, status: Any) -> None:
        if status:
            self.status_flags += 1
        self.output_delay_s = when.outputBufferDacTime - when.currentTime
        t = self._target
        if t is None:
            outdata.fill(0.0)
        else:
            t.output_callback(outdata, frames)

    def start(self, target: CallbackTarget) -> None:
        if not self._streams:
            self.open()
        self._target = target
        self._start_all()


class PortAudioOutput(_Streams):
    """An output-only stream (the monitor bus): mono or stereo at one rate and block size."""

    def __init__(
        self,
        device: DeviceInfo,
        rate_hz: int,
        block_frames: int,
        channels: int = 1,
        latency: str | float = "low",
    ) -> None:
        super().__init__(latency)
        self.device = device
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.channels = channels
        self._callback: OutputCallback | None = None  # NB: written by control before start

    @property
    def latency_s(self) -> float:
        return float(self._streams[0].latency) if self._streams else 0.0

    def _describe(self) -> str:
        return f"monitor output {self.device.label()} at {self.rate_hz} Hz, block {self.block_frames}"

    def open(self) -> None:
        """Create the stream, not started. Raises DeviceError with PortAudio's text."""
        self._open_all(
            [
                lambda sd: sd.OutputStream(
                    samplerate=self.rate_hz,
                    blocksize=self.block_frames,
                    device=self.device.index,
                    channels=self.channels,
                    dtype="float32",
                    latency=self._latency,
                    callback=self._on_audio,
                )
            ]
        )

    def _on_audio(self, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        # context (a): forward and count; nothing else
        if status:
            self.status_flags += 1
        cb = self._callback
        if cb is None:
            outdata.fill(0.0)
        else:
            cb(outdata, frames)

    def start(self, callback: OutputCallback) -> None:
        if not self._streams:
            self.open()
        self._callback = callback
        self._start_all()


def play(audio: np.ndarray, rate_hz: int, device: DeviceInfo) -> None:
    """Start playing mono ``audio`` (T,) at ``rate_hz`` on ``device``; returns at once.

    PortAudio plays from its own thread on sounddevice's one playback stream, so a new preview
    stops the last. DeviceError with PortAudio's text when the device refuses.
    """
    sd = load_sounddevice()
    try:
        sd.stop()
        sd.play(np.asarray(audio, dtype=np.float32), rate_hz, device=device.index)
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot play on {device.label()} at {rate_hz} Hz: {e}") from e


def stop_playback() -> None:
    """Stop what :func:`play` started; quiet when nothing plays or PortAudio is gone."""
    try:
        load_sounddevice().stop()
    except Exception as e:
        log.debug("stop playback: %s", e)


class RecordingStream(Protocol):
    """What a recorder needs of a started input stream (sounddevice.InputStream, or a test fake)."""

    @property
    def active(self) -> bool: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def start_recording(device: DeviceInfo, rate_hz: int, callback: InputCallback) -> RecordingStream:
    """Open and start a mono float32 input stream on ``device`` at ``rate_hz``; ``callback`` runs in
    context (a). DeviceError with PortAudio's text when it cannot open or start."""
    sd = load_sounddevice()
    try:
        stream = sd.InputStream(
            samplerate=rate_hz,
            device=device.index,
            channels=1,
            dtype="float32",
            latency="high",  # a recording has no latency budget: prefer fewer overflows
            callback=callback,
        )
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot record from {device.label()} at {rate_hz} Hz: {e}") from e
    try:
        stream.start()
    except sd.PortAudioError as e:
        stream.close()
        raise DeviceError(f"cannot start recording from {device.label()} at {rate_hz} Hz: {e}") from e
    return stream  # type: ignore[no-any-return]
