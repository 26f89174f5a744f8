"""Audio I/O as an interface, and a device that plays a file into the live engine.

:class:`CallbackTarget` is the interface between a device and the live engine: a device's
``start(target)`` makes it call the engine's callbacks (``audio_callback(indata (frames, ch_in),
outdata (frames, ch_out), frames)`` for a duplex device, ``input_callback``/``output_callback`` for
split streams) at the device rate. The PortAudio devices live in :mod:`vc_core.io.portaudio`;
:class:`FileDevice` here drives the *same* engine (same threads, rings and deadline policy) from a
file, paced in real time or as fast as the worker allows, and records what the engine plays.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.resample import Resampler
from vc_core.errors import DeviceError
from vc_core.io.audiofile import AtomicAudioWriter, AudioReader

FAST_WAIT_S = 0.0002
FAST_TIMEOUT_S = 10.0


class CallbackTarget(Protocol):
    """What a device calls: the live engine's context (a) entry points, all float32 arrays."""

    def audio_callback(self, indata: NDArray[np.float32], outdata: NDArray[np.float32], frames: int) -> None: ...

    def input_callback(self, indata: NDArray[np.float32], frames: int) -> None: ...

    def output_callback(self, outdata: NDArray[np.float32], frames: int) -> None: ...

    def output_ready(self, frames: int) -> bool:
        """True when the next ``frames`` of output are queued and no input is unread (for devices that may wait)."""
        ...


@dataclass(frozen=True)
class FileRunReport:
    """What a simulated run did."""

    input_s: float
    wall_s: float
    callbacks: int
    late_callbacks: int  # real-time mode: callbacks that started after their deadline


class FileDevice:
    """Feeds ``src`` (resampled to ``rate_hz``) block by block; writes what the engine plays.

    ``tail_frames`` of silence follow the file so that the engine's latency drains out.
    ``realtime=True`` paces callbacks by the wall clock, as a sound card would: a worker slower than
    real time meets the deadline policy as it does live. Otherwise each callback waits until the
    engine has read all the input and has its output ready, so the policy never triggers and the
    output equals the offline chain for any stage speed.
    """

    def __init__(
        self,
        src: Path,
        dst: Path,
        rate_hz: int,
        block_frames: int,
        realtime: bool,
        tail_frames: int,
        overwrite: bool = False,
    ) -> None:
        self.rate_hz = rate_hz
        self.block_frames = block_frames
        self.realtime = realtime
        self._reader = AudioReader(src)
        self._writer = AtomicAudioWriter(dst, rate_hz, overwrite=overwrite)
        self._tail = tail_frames
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._error: str | None = None
        self.report: FileRunReport | None = None

    @property
    def latency_s(self) -> tuple[float, float]:
        return (0.0, 0.0)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def error(self) -> str | None:
        return self._error

    def start(self, target: CallbackTarget) -> None:
        self._thread = threading.Thread(target=self._drive, args=(target,), name="vc-file-device", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def _drive(self, target: CallbackTarget) -> None:
        f = self.block_frames
        res = Resampler(self._reader.rate_hz, self.rate_hz)
        pending = np.zeros(0, dtype=np.float32)
        indata = np.zeros((f, 1), dtype=np.float32)
        outdata = np.zeros((f, 1), dtype=np.float32)
        t0 = time.perf_counter()
        callbacks = late = 0
        produced = 0
        total = None
        try:
            source = self._reader.blocks(max(f, 4096))
            exhausted = False
            tail_left = self._tail
            while not self._done.is_set():
                while len(pending) < f and not exhausted:
                    try:
                        pending = np.concatenate([pending, res.push(next(source))])
                    except StopIteration:
                        pending = np.concatenate([pending, res.flush()])
                        exhausted = True
                        total = produced + len(pending)
                if len(pending) >= f:
                    indata[:, 0] = pending[:f]
                    pending = pending[f:]
                elif tail_left > 0 or len(pending):
                    indata[:, 0] = 0.0
                    indata[: len(pending), 0] = pending
                    tail_left -= f - len(pending)
                    pending = pending[:0]
                else:
                    break
                if self.realtime:
                    deadline = t0 + callbacks * f / self.rate_hz
                    wait = deadline - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    elif wait < -f / self.rate_hz:
                        late += 1
                else:
                    give_up = time.perf_counter() + FAST_TIMEOUT_S
                    while not target.output_ready(f):
                        if time.perf_counter() > give_up:
                            raise DeviceError("the engine produced no output for 10 s; the worker is stuck")
                        time.sleep(FAST_WAIT_S)
                target.audio_callback(indata, outdata, f)
                self._writer.write(outdata[:, 0])
                produced += f
                callbacks += 1
            self._writer.commit()
        except Exception as e:  # reported by the caller; nothing half-written stays
            self._error = str(e)
            self._writer.abort()
        finally:
            self._reader.close()
            self.report = FileRunReport(
                input_s=(total or produced) / self.rate_hz,
                wall_s=time.perf_counter() - t0,
                callbacks=callbacks,
                late_callbacks=late,
            )
            self._done.set()
