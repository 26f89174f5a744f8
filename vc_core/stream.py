"""Streaming stages: the contract every block of the audio path follows.

A *stage* consumes mono float32 samples at ``rate_in_hz`` and returns whatever output it has
completed at ``rate_out_hz``. Output is *aligned*: output sample ``j`` describes input time
``j / rate_out_hz`` (delays are compensated by withholding, never by prepending zeros). So a
stage fed a whole file at once and one fed the same file in blocks of any size return the
same samples; only *when* they come out differs.

``latency_samples`` (at the output rate) is the worst case of how many output samples a stage
may still owe after its input has been pushed: look-ahead plus hop quantisation. The live
engine adds it to the device periods to state the expected round trip, and
:class:`FixedLatency` uses it to turn a stage into a same-length block processor.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Audio = NDArray[np.float32]


def as_audio(x: NDArray[np.floating] | Sequence[float]) -> Audio:
    """Return ``x`` as a contiguous 1-D float32 array (no copy when it already is one)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got shape {a.shape}")
    return a


class Stage(Protocol):
    """A streaming block of the audio path (see the module docstring for the contract)."""

    @property
    def rate_in_hz(self) -> int: ...

    @property
    def rate_out_hz(self) -> int: ...

    @property
    def latency_samples(self) -> int:
        """Worst-case output samples still owed after the input pushed so far (output rate)."""
        ...

    def push(self, x: Audio) -> Audio:
        """Consume ``x`` (n,) at ``rate_in_hz``; return newly completed output at ``rate_out_hz``."""
        ...

    def flush(self) -> Audio:
        """Complete the stream as if silence followed; return the remaining output."""
        ...

    def reset(self) -> None:
        """Forget all history, as if freshly built."""
        ...


class SampleFifo:
    """Growable first-in first-out sample queue for the worker side (not for the callback)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def append(self, x: Audio) -> None:
        n = len(x)
        if self._end + n > len(self._buf):
            live = self._buf[self._start : self._end]
            size = max(len(self._buf), 2 * (len(live) + n))
            new = np.zeros(size, dtype=np.float32)
            new[: len(live)] = live
            self._buf, self._start, self._end = new, 0, len(live)
        self._buf[self._end : self._end + n] = x
        self._end += n

    def peek(self, n: int) -> Audio:
        """View of the oldest ``n`` samples (valid until the next append)."""
        return self._buf[self._start : self._start + n]

    def pop(self, n: int) -> Audio:
        """Remove and return (a copy of) the oldest ``n`` samples."""
        n = min(n, len(self))
        out = self._buf[self._start : self._start + n].copy()
        self._start += n
        if self._start == self._end:
            self._start = self._end = 0
        return out

    def clear(self) -> None:
        self._start = self._end = 0


class HopStage:
    """Base for stages that work on a fixed hop with a look-ahead, at one sample rate.

    Subclasses implement :meth:`process_hop`, which is called once per ``hop_samples`` of
    input with ``frame`` = the newest ``frame_samples`` input samples (zero-padded before the
    stream start) and must return exactly ``hop_samples`` output samples describing input
    positions ``[end - lookahead - hop, end - lookahead)`` where ``end`` is the index one past the
    frame's last sample. Hop grids start at sample 0, so the output is independent of how the
    input was split into blocks.

    Latency at ``rate_hz``: ``lookahead_samples + hop_samples - 1``.
    """

    def __init__(self, rate_hz: int, hop_samples: int, frame_samples: int, lookahead_samples: int) -> None:
        if hop_samples <= 0 or frame_samples < hop_samples or lookahead_samples < 0:
            raise ValueError("need hop > 0, frame >= hop, look-ahead >= 0")
        self._rate_hz = rate_hz
        self.hop_samples = hop_samples
        self.frame_samples = frame_samples
        self.lookahead_samples = lookahead_samples
        self._frame = np.zeros(frame_samples, dtype=np.float32)
        self._pending = SampleFifo(4 * hop_samples)
        self._to_skip = lookahead_samples  # first outputs describe time before the stream start
        self._pushed = 0
        self._emitted = 0

    @property
    def rate_in_hz(self) -> int:
        return self._rate_hz

    @property
    def rate_out_hz(self) -> int:
        return self._rate_hz

    @property
    def latency_samples(self) -> int:
        return self.lookahead_samples + self.hop_samples - 1

    def process_hop(self, frame: Audio) -> Audio:  # pragma: no cover - abstract
        raise NotImplementedError

    def push(self, x: Audio) -> Audio:
        x = as_audio(x)
        self._pushed += len(x)
        return self._run(x)

    def _run(self, x: Audio) -> Audio:
        self._pending.append(x)
        h = self.hop_samples
        outs: list[Audio] = []
        while len(self._pending) >= h:
            self._frame[:-h] = self._frame[h:]
            self._frame[-h:] = self._pending.pop(h)
            y = self.process_hop(self._frame)
            if self._to_skip:
                k = min(self._to_skip, h)
                y = y[k:]
                self._to_skip -= k
            outs.append(y)
        out = np.concatenate(outs) if outs else np.zeros(0, dtype=np.float32)
        self._emitted += len(out)
        return out

    def flush(self) -> Audio:
        owed = self._pushed - self._emitted
        outs: list[Audio] = []
        got = 0
        while got < owed:
            y = self._run(np.zeros(self.hop_samples, dtype=np.float32))
            outs.append(y)
            got += len(y)
        out = np.concatenate(outs)[:owed] if outs else np.zeros(0, dtype=np.float32)
        self.reset()
        return out

    def reset(self) -> None:
        self._frame[:] = 0.0
        self._pending.clear()
        self._to_skip = self.lookahead_samples
        self._pushed = 0
        self._emitted = 0
        self.reset_state()

    def reset_state(self) -> None:
        """Subclasses clear their own history here."""


def push_silence(push: Callable[[Audio], Audio], owed: int, pad_samples: int, max_pushes: int, what: str) -> Audio:
    """The next ``owed`` output samples of a stream that hears silence after its input, as a live
    stream does: ``push`` blocks of ``pad_samples`` zeros (its worst-case latency, so one block
    should do) until they are out. More than ``max_pushes`` blocks means a stage owes more than it
    declares: RuntimeError naming ``what``."""
    parts = [np.zeros(0, dtype=np.float32)]
    got = 0
    for _ in range(max_pushes):
        if got >= owed:
            break
        y = push(np.zeros(pad_samples, dtype=np.float32))
        parts.append(y)
        got += len(y)
    if got < owed:
        raise RuntimeError(f"{what} still owes {owed - got} samples after flushing: a stage's latency is wrong")
    return np.concatenate(parts)[: max(0, owed)]


class Chain:
    """Stages in series; rates must match stage to stage. Latency sums (an upper bound)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise ValueError("a chain needs at least one stage")
        for a, b in itertools.pairwise(stages):
            if a.rate_out_hz != b.rate_in_hz:
                raise ValueError(f"rate mismatch: {a!r} outputs {a.rate_out_hz} Hz, {b!r} takes {b.rate_in_hz} Hz")
        self.stages = list(stages)
        self._pushed = 0  # input samples since the last reset
        self._emitted = 0  # output samples since the last reset

    @property
    def rate_in_hz(self) -> int:
        return self.stages[0].rate_in_hz

    @property
    def rate_out_hz(self) -> int:
        return self.stages[-1].rate_out_hz

    @property
    def latency_samples(self) -> int:
        total = 0.0
        for s in self.stages:
            total += s.latency_samples / s.rate_out_hz
        return int(np.ceil(total * self.rate_out_hz - 1e-9))

    def push(self, x: Audio) -> Audio:
        self._pushed += len(x)
        y = self._push_stages(x)
        self._emitted += len(y)
        return y

    def _push_stages(self, x: Audio) -> Audio:
        for s in self.stages:
            x = s.push(x)
        return x

    def output_length(self, n_in: int) -> int:
        """Output samples that ``n_in`` input samples stand for (each rate change rounds up)."""
        for s in self.stages:
            n_in = -(-n_in * s.rate_out_hz // s.rate_in_hz)
        return n_in

    def flush(self) -> Audio:
        """The output still owed, as a live stream would get it: silence follows the input through
        every stage (flushing stage by stage instead would cut each resampler's ringing at its
        nominal end and change what the next stage hears); then reset."""
        owed = self.output_length(self._pushed) - self._emitted
        pad = -(-self.latency_samples * self.rate_in_hz // self.rate_out_hz) + 1  # the worst case, at the input rate
        out = push_silence(self.push, owed, pad, max_pushes=4, what="chain")
        self.reset()
        return out

    def reset(self) -> None:
        self._pushed = 0
        self._emitted = 0
        for s in self.stages:
            s.reset()


class FixedLatency:
    """Wrap a stage as a same-length block processor: ``process(block)`` returns ``len(block)``
    samples, the aligned output delayed by exactly ``latency_samples`` (zeros first).

    Only for stages whose input and output rates are equal.
    """

    def __init__(self, stage: Stage) -> None:
        if stage.rate_in_hz != stage.rate_out_hz:
            raise ValueError("FixedLatency needs equal input and output rates")
        self.stage = stage
        self.latency_samples = stage.latency_samples
        self._out = SampleFifo()
        self._out.append(np.zeros(self.latency_samples, dtype=np.float32))

    def process(self, block: Audio) -> Audio:
        self._out.append(self.stage.push(block))
        if len(self._out) < len(block):
            raise RuntimeError(f"{self.stage!r} owed more than its declared latency of {self.latency_samples} samples")
        return self._out.pop(len(block))

    def reset(self) -> None:
        self.stage.reset()
        self._out.clear()
        self._out.append(np.zeros(self.latency_samples, dtype=np.float32))
