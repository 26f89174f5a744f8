"""The live engine: three contexts, named.

(a) **audio callbacks** (:meth:`LiveEngine.audio_callback` for a duplex stream, or
    :meth:`~LiveEngine.input_callback` + :meth:`~LiveEngine.output_callback` for split streams at
    different rates or host APIs, and :meth:`~LiveEngine.monitor_callback`): mixes the input
    to mono into a preallocated buffer, writes it to the input ring, reads the output ring into
    the device buffer, feeds the monitor ring and bumps counters. No allocation of buffers, no
    locks, no logging, no model calls.
(b) **worker** (one thread, :meth:`LiveEngine._work`): drains the input ring, runs the
    :class:`VoiceChain` hop by hop, mixes passthrough, writes the output ring, publishes stats.
(c) **control** (the caller: CLI or GUI thread): builds voices and settings off the audio path,
    hands them over by swapping one reference, reads :meth:`LiveEngine.stats`.

Timing model (output rate ``sr``, block ``f``): the output ring starts with ``P = L + f + S``
samples of silence, where ``L`` is the chain's worst-case owed output and ``S`` the safety
margin. Input and output may run at different rates (each side is resampled independently);
with split streams the two device clocks drift, and the output callback compares the slots each
clock has delivered and skips what the input got ahead by more than a slack (counted as drift).
Output slot ``s`` then plays the converted input sample ``s - P``: the engine's own latency is
exactly ``P`` samples (within the drift slack for split streams), and the devices add their
input and output buffering.

Deadline policy: when the worker has not produced a slot in time, the callback plays the dry
input (or silence), with a ramp from the last wet sample, counts an xrun, and remembers the debt:
the late samples are discarded when they arrive, so stale audio is never replayed and latency
never grows. When the worker falls more than ``max_backlog_ms`` behind, it drops the backlog
(filling its slots with dry/silence) and restarts the chain.

Monitor bus: the main callback writes ``gain * (wet_ratio * out + (1 - wet_ratio) * in)`` for
every slot it plays into a monitor SPSC ring; the monitor device's callback reads it. The two
devices run on different clocks, so the monitor callback keeps the ring near a target fill
(``2 blocks + MONITOR_MARGIN_MS``): above target + ``MONITOR_SLACK_MS`` it skips the excess,
when empty it plays silence, counts an underrun and waits for the target fill again. The main
output never waits for or depends on the monitor.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vc_core.config import GateConfig, MixConfig, MonitorConfig, StreamConfig, UnderrunFill, VoiceParams
from vc_core.dsp.resample import Resampler
from vc_core.engine.ring import SpscRing
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio, SampleFifo
from vc_core.voices.library import Voice

log = logging.getLogger(__name__)

MAX_CALLBACK_FRAMES = 16384
RING_SECONDS = 4.0
JOIN_RAMP_MS = 3.0  # ramp length when audio switches between wet and dry
STATS_PERIOD_S = 0.05
DRIFT_SLACK_MS = 10.0  # split streams: extra queue tolerated before skipping
LEVEL_FLOOR_DBFS = -120.0
LEVEL_DECAY_DB_PER_S = 30.0  # meter fall-back speed
MONITOR_RING_SECONDS = 0.5
MONITOR_MARGIN_MS = 10.0  # monitor ring target fill above two blocks (clock drift, callback jitter)
MONITOR_SLACK_MS = 15.0  # fill above target before the monitor skips back to the target
TIMING_HISTORY = 4096  # worker pushes kept for per-stage percentiles (~20 s at block 256, 48 kHz)
PERCENTILE_PERIOD_S = 1.0  # how often the worker recomputes the timing percentiles


@dataclass(frozen=True)
class EngineStats:
    """Immutable snapshot published by the worker; safe to read from any thread."""

    running: bool = False
    voice: str = ""
    device_rate_hz: int = 0  # input device rate
    output_rate_hz: int = 0
    block_frames: int = 0
    input_dbfs: float = LEVEL_FLOOR_DBFS
    output_dbfs: float = LEVEL_FLOOR_DBFS
    gate_open: bool = False
    passthrough: bool = False
    engine_latency_ms: float = 0.0  # P: chain + one block + safety, exact
    chain_latency_ms: float = 0.0  # L: resampling, gate hop, voice look-ahead + hop
    device_latency_ms: float = 0.0  # what the device reports for input + output
    expected_latency_ms: float = 0.0  # engine + device
    # device round trip measured by calibration (clicks through a loopback) + engine latency P;
    # None until calibrated
    measured_latency_ms: float | None = None
    queue_ms: float = 0.0  # converted audio waiting in the output ring
    backlog_ms: float = 0.0  # input waiting for the worker
    rtf: float = 0.0  # worker busy time / audio time, recent
    stage_ms_per_s: dict[str, float] = field(default_factory=dict)  # ms of compute per s of audio
    callbacks: int = 0
    xruns: int = 0
    underrun_ms: float = 0.0
    dropped_ms: float = 0.0  # input dropped because the worker fell behind
    input_overflow_ms: float = 0.0  # input the callback could not queue: the input ring was full
    drift_skipped_ms: float = 0.0  # split streams: output skipped because the two clocks drift
    late_discarded_ms: float = 0.0  # converted audio that arrived after its slot had played
    uptime_s: float = 0.0
    error: str = ""
    # per worker push (one drain of the input ring, typically one block): ms of compute, over the
    # last TIMING_HISTORY pushes; keys are the chain's stage names plus "total"
    stage_p50_ms: dict[str, float] = field(default_factory=dict)
    stage_p99_ms: dict[str, float] = field(default_factory=dict)
    pushes: int = 0
    # monitor bus (second, output-only device)
    monitor_enabled: bool = False
    monitor_callbacks: int = 0
    monitor_underruns: int = 0  # monitor callbacks that found the ring short
    monitor_underrun_ms: float = 0.0  # silence played by the monitor
    monitor_skipped_ms: float = 0.0  # skipped to stay near the target fill (clock drift)
    monitor_dropped_ms: float = 0.0  # not written because the monitor ring was full
    monitor_queue_ms: float = 0.0  # monitor ring fill now


class _CallbackCounters:
    """Counters owned by the audio callback. NB: every field written by the callback only."""

    def __init__(self) -> None:
        self.callbacks = 0
        self.frames = 0
        self.xruns = 0
        self.underrun_samples = 0
        self.input_overflow_samples = 0
        self.debt = 0  # slots played without converted audio; discard that many late samples
        self.late_discarded = 0
        self.skips_done = 0
        self.wet = True
        self.last_out = 0.0
        self.monitor_dropped = 0
        self.in_callbacks = 0
        self.in_frames = 0
        self.drift_skipped = 0  # split streams: queued output skipped because the clocks drift


class _MonitorCounters:
    """Counters owned by the monitor callback. NB: every field written by the monitor callback only."""

    def __init__(self) -> None:
        self.callbacks = 0
        self.underruns = 0
        self.underrun_samples = 0
        self.skipped = 0
        self.primed = False  # False: play silence until the ring reaches the target fill


@dataclass(frozen=True)
class _Settings:
    params: VoiceParams
    gate: GateConfig
    mix: MixConfig


def _dbfs(x: Audio) -> float:
    if not len(x):
        return LEVEL_FLOOR_DBFS
    peak = float(np.max(np.abs(x)))
    return max(LEVEL_FLOOR_DBFS, 20.0 * float(np.log10(peak + 1e-12)))


class LiveEngine:
    """Streams a voice between a device's input and output with bounded, fixed latency."""

    def __init__(
        self,
        voice: Voice,
        stream: StreamConfig | None = None,
        params: VoiceParams | None = None,
        gate: GateConfig | None = None,
        mix: MixConfig | None = None,
        device_latency_s: tuple[float, float] = (0.0, 0.0),
        monitor: MonitorConfig | None = None,
    ) -> None:
        self.cfg = stream or StreamConfig()
        sr = self.cfg.rate_out_hz  # rings after the chain, ramps, monitor: output rate
        self._settings = _Settings(params or VoiceParams(), gate or GateConfig(), mix or MixConfig())
        # NB: _settings and _next_chain are written by control, read by the worker.
        self._next_chain: VoiceChain | None = None
        self._chain = self._build_chain(voice, self._settings)
        self._device_latency_s = device_latency_s
        self._measured_device_ms: float | None = None
        self._block_out = self.cfg.block_frames_out
        self._prefill = self.cfg.engine_latency_samples(self._chain.latency_samples)
        cap = int(RING_SECONDS * sr)
        self._in = SpscRing(int(RING_SECONDS * self.cfg.rate_in_hz))
        self._out = SpscRing(cap)
        # split streams (two device clocks): keep the output queue within P + this much
        self._drift_slack = 2 * self._block_out + round(DRIFT_SLACK_MS * sr / 1000.0)
        self._out_per_in = sr / self.cfg.rate_in_hz
        self._out.write(np.zeros(self._prefill, dtype=np.float32))
        # NB: _skip_requested is written by the worker (latency decreases), read by the callback.
        self._skip_requested = 0
        self._cb = _CallbackCounters()
        self._mono = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        self._wet = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        self._tmp = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        ramp_n = max(2, round(JOIN_RAMP_MS * sr / 1000.0))
        self._up = np.linspace(0.0, 1.0, ramp_n, dtype=np.float32)
        self._down = self._up[::-1].copy()
        self._fill_dry = self.cfg.underrun_fill is UnderrunFill.DRY
        # monitor bus: producer = audio callback, consumer = monitor callback
        self._mon = SpscRing(int(MONITOR_RING_SECONDS * sr))
        self._mon_mix = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        self._mon_tmp = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        self._mon_buf = np.zeros(MAX_CALLBACK_FRAMES, dtype=np.float32)
        self._mc = _MonitorCounters()
        self._mon_target = 2 * self._block_out + round(MONITOR_MARGIN_MS * sr / 1000.0)
        self._mon_slack = round(MONITOR_SLACK_MS * sr / 1000.0)
        self._monitor_cfg = MonitorConfig()
        # NB: _mon_gains (wet, dry linear gains) and _mon_on are written by control, read by the callback.
        self._mon_gains = (0.0, 0.0)
        self._mon_on = False
        self.set_monitor(monitor or MonitorConfig())
        # worker-only state
        self._dry = SampleFifo(cap // 4)  # dry input at the output rate, aligned with the chain output
        self._dry_res = Resampler(self.cfg.rate_in_hz, sr)
        self._wet_gain = 0.0 if self._settings.mix.passthrough else 1.0
        self._fade_from: float | None = None
        self._last_written = 0.0
        self._dropped = 0
        self._busy_s = 0.0
        self._processed = 0
        self._error = ""
        # worker-only: per-push compute history (seconds), columns = stages + total
        self._stage_names = (*self._chain.stage_names, "total")
        self._hist = np.zeros((TIMING_HISTORY, len(self._stage_names)), dtype=np.float64)
        self._pushes = 0
        self._pct: tuple[dict[str, float], dict[str, float]] = ({}, {})
        self._pct_at = 0.0
        self._last_levels = (LEVEL_FLOOR_DBFS, LEVEL_FLOOR_DBFS, 0.0)  # NB: worker writes
        # NB: _stats is written by the worker (and by start/stop), read by anyone.
        self._stats = EngineStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t_start = 0.0

    # ------------------------------------------------------------------ (c) control

    def _build_chain(self, voice: Voice, s: _Settings) -> VoiceChain:
        rin, rout = self.cfg.rate_in_hz, self.cfg.rate_out_hz
        chain = VoiceChain(voice, rin, rout, s.params, s.gate, s.mix)
        chain.push(np.zeros(rin // 5, dtype=np.float32))  # warm up caches and allocations
        chain.reset()
        return chain

    @property
    def voice_name(self) -> str:
        return self._chain.voice.manifest.name

    @property
    def engine_latency_samples(self) -> int:
        return self._prefill

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._t_start = time.monotonic()
        self._thread = threading.Thread(target=self._work, name="vc-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._publish(False, *self._last_levels)

    def update(
        self, params: VoiceParams | None = None, gate: GateConfig | None = None, mix: MixConfig | None = None
    ) -> None:
        """Change settings live; validated here (raises ConfigError), applied at the next hop."""
        s = self._settings
        new = _Settings(params or s.params, gate or s.gate, mix or s.mix)
        self._chain.voice.make_stage(new.params)  # raises ConfigError for an impossible total
        self._settings = new

    def set_voice(self, voice: Voice) -> None:
        """Load ``voice`` off the audio path and swap it in at the next hop (short crossfade)."""
        self._next_chain = self._build_chain(voice, self._settings)

    def stats(self) -> EngineStats:
        return self._stats

    def set_monitor(self, monitor: MonitorConfig) -> None:
        """Monitor gain and dry/wet mix (validated by MonitorConfig); applied from the next callback."""
        g = float(10.0 ** (monitor.gain_db / 20.0))
        self._monitor_cfg = monitor
        self._mon_gains = (g * monitor.wet_ratio, g * (1.0 - monitor.wet_ratio))
        self._mon_on = monitor.enabled

    @property
    def monitor(self) -> MonitorConfig:
        return self._monitor_cfg

    @property
    def callback_count(self) -> int:
        """Main audio callbacks so far (read by control for the stall watchdog)."""
        return self._cb.callbacks

    def set_measured_device_round_trip(self, round_trip_ms: float | None) -> None:
        """Calibration result for the current devices (None: not measured / devices changed)."""
        self._measured_device_ms = round_trip_ms  # NB: written by control, read by the worker

    def set_device_latency(self, latency_s: tuple[float, float]) -> None:
        """What the device reports for its input and output buffering (shown in the stats)."""
        self._device_latency_s = latency_s  # NB: written by control, read by the worker

    # ------------------------------------------------------------------ (a) audio callback

    def audio_callback(self, indata: NDArray[np.float32], outdata: NDArray[np.float32], frames: int) -> None:
        """Duplex device callback: indata (frames, ch_in), outdata (frames, ch_out), float32."""
        mono = self._take_input(indata, frames)
        self._give_output(outdata, frames, mono)

    def input_callback(self, indata: NDArray[np.float32], frames: int) -> None:
        """Input-only stream callback (split streams): indata (frames, ch_in) at the input rate."""
        self._take_input(indata, frames)

    def output_callback(self, outdata: NDArray[np.float32], frames: int) -> None:
        """Output-only stream callback (split streams): outdata (frames, ch_out) at the output rate.

        Two devices run on two clocks: when the input's is faster the queue grows, so the excess
        over ``P + slack`` is skipped (counted as drift); when the output's is faster the queue
        runs dry and the deadline policy plays silence for a block (no dry input is at hand here).
        """
        c = self._cb
        # slots the input clock has delivered (at the output rate) minus slots played or skipped
        ahead = c.in_frames * self._out_per_in - c.frames - c.drift_skipped
        if ahead > self._drift_slack:
            c.drift_skipped += self._out.skip(int(ahead) - self._drift_slack // 2)
        self._give_output(outdata, frames, None)

    def _take_input(self, indata: NDArray[np.float32], frames: int) -> Audio:
        c = self._cb
        mono = self._mono[:frames]
        if indata.shape[1] == 1:
            mono[:] = indata[:, 0]
        else:
            np.mean(indata, axis=1, out=mono)
        written = self._in.write(mono)
        if written < frames:
            c.input_overflow_samples += frames - written
        c.in_callbacks += 1
        c.in_frames += frames
        return mono

    def _give_output(self, outdata: NDArray[np.float32], frames: int, mono: Audio | None) -> None:
        c = self._cb
        pending_skip = self._skip_requested - c.skips_done
        if pending_skip > 0:
            c.skips_done += self._out.skip(pending_skip)
        if c.debt > 0:
            n = self._out.skip(c.debt)
            c.debt -= n
            c.late_discarded += n
        wet = self._wet[:frames]
        n = self._out.read_into(wet, frames)
        if n > 0 and not c.wet:
            self._fade_in_wet(wet[:n], None if mono is None else mono[:n])
            c.wet = True
        if n < frames:
            c.xruns += 1
            c.underrun_samples += frames - n
            c.debt += frames - n
            fill = wet[n:frames]
            if self._fill_dry and mono is not None:
                fill[:] = mono[n:frames]
            else:
                fill[:] = 0.0
            if c.wet:  # leaving converted audio: ramp from its last sample into the fill
                last = float(wet[n - 1]) if n else c.last_out
                r = min(len(self._up), frames - n)
                np.multiply(fill[:r], self._up[:r], out=fill[:r])
                np.multiply(self._down[:r], last, out=self._tmp[:r])
                fill[:r] += self._tmp[:r]
            c.wet = False
        c.last_out = float(wet[frames - 1]) if frames else c.last_out
        outdata[:] = wet[:, None]
        if self._mon_on:
            g_wet, g_dry = self._mon_gains
            m = self._mon_mix[:frames]
            np.multiply(wet, g_wet, out=m)
            if mono is not None:  # split streams have no dry input at the output rate here
                np.multiply(mono, g_dry, out=self._mon_tmp[:frames])
                m += self._mon_tmp[:frames]
            c.monitor_dropped += frames - self._mon.write(m)
        c.callbacks += 1
        c.frames += frames

    def monitor_callback(self, outdata: NDArray[np.float32], frames: int) -> None:
        """Monitor device callback: outdata (frames, ch_out) float32, filled from the monitor ring.

        Keeps the ring near ``2 blocks + MONITOR_MARGIN_MS``: skips the excess above target +
        slack (the monitor clock is slower), plays silence and re-primes when short (faster).
        """
        m = self._mc
        if not self._mon_on:
            outdata.fill(0.0)
            return
        avail = self._mon.available()
        if not m.primed:
            if avail < self._mon_target:
                outdata.fill(0.0)
                m.callbacks += 1
                return
            m.primed = True
        excess = avail - (self._mon_target + self._mon_slack)
        if excess > 0:
            m.skipped += self._mon.skip(avail - self._mon_target)
        buf = self._mon_buf[:frames]
        n = self._mon.read_into(buf, frames)
        if n < frames:
            buf[n:] = 0.0
            m.underruns += 1
            m.underrun_samples += frames - n
            m.primed = False
        outdata[:] = buf[:, None]
        m.callbacks += 1

    def _fade_in_wet(self, wet: Audio, dry: Audio | None) -> None:
        """Callback helper: crossfade from the fill (dry or silence) into converted audio, in place."""
        r = min(len(self._up), len(wet))
        np.multiply(wet[:r], self._up[:r], out=wet[:r])
        if self._fill_dry and dry is not None:
            np.multiply(dry[:r], self._down[:r], out=self._tmp[:r])
            wet[:r] += self._tmp[:r]

    # ------------------------------------------------------------------ (b) worker

    def _work(self) -> None:
        sr = self.cfg.rate_in_hz
        poll_s = self.cfg.worker_poll_ms / 1000.0
        # more than max_backlog_ms *beyond the block being read* is a backlog: a device block longer
        # than max_backlog_ms alone (4096 frames at 48 kHz are 85 ms) must not reset the voice every push
        max_backlog = round(self.cfg.max_backlog_ms * sr / 1000.0) + self.cfg.block_frames
        buf = np.zeros(self._in.capacity, dtype=np.float32)
        applied = self._settings
        next_stats = 0.0
        in_db = out_db = LEVEL_FLOOR_DBFS
        busy_recent = audio_recent = 0.0
        rtf = 0.0
        while not self._stop.is_set():
            if self._settings is not applied:
                applied = self._settings
                self._chain.set_params(applied.params, applied.gate, applied.mix)
            if self._next_chain is not None:
                self._swap_chain()
            avail = self._in.available()
            if avail > max_backlog:
                self._drop_backlog(buf, avail - self.cfg.block_frames)
                avail = self._in.available()
            if avail == 0:
                now = time.monotonic()
                if now >= next_stats:
                    self._publish(True, in_db, out_db, rtf)
                    next_stats = now + STATS_PERIOD_S
                time.sleep(poll_s)
                continue
            n = self._in.read_into(buf, avail)
            x = buf[:n].copy()
            stage_before = self._chain.timing().seconds
            t0 = time.perf_counter()
            try:
                y = self._chain.push(x)
            except Exception as e:  # keep the stream alive: play dry and say why
                if not self._error:
                    log.exception("voice failed; playing the dry input")
                self._error = f"voice failed: {e}"
                y = np.zeros(0, dtype=np.float32)
                self._write_filler(self._all_dry(x))
                self._chain.reset()
                continue
            dt = time.perf_counter() - t0
            self._record_push(stage_before, dt)
            self._busy_s += dt
            self._processed += n
            busy_recent = 0.9 * busy_recent + dt
            audio_recent = 0.9 * audio_recent + n / sr
            rtf = busy_recent / audio_recent if audio_recent else 0.0
            self._dry.append(self._dry_res.push(x))
            dry = self._dry.pop(len(y))
            y = self._mix_passthrough(y, dry, applied.mix)
            self._write_out(y)
            in_db = max(_dbfs(x), in_db - LEVEL_DECAY_DB_PER_S * n / sr)
            out_db = max(_dbfs(y), out_db - LEVEL_DECAY_DB_PER_S * n / sr)
            self._last_levels = (in_db, out_db, rtf)
            now = time.monotonic()
            if now >= next_stats:
                self._publish(True, in_db, out_db, rtf)
                next_stats = now + STATS_PERIOD_S

    def _record_push(self, stage_before: tuple[float, ...], total_s: float) -> None:
        """Worker: store this push's per-stage and total compute time (s) in the history ring."""
        row = self._hist[self._pushes % TIMING_HISTORY]
        after = self._chain.timing().seconds
        k = min(len(after), len(stage_before), len(row) - 1)
        row[:k] = np.subtract(after[:k], stage_before[:k])
        row[-1] = total_s
        self._pushes += 1

    def _timing_percentiles(self) -> tuple[dict[str, float], dict[str, float]]:
        """Worker: (p50, p99) ms per push by stage, recomputed at most every PERCENTILE_PERIOD_S."""
        now = time.monotonic()
        if self._pushes and now - self._pct_at >= PERCENTILE_PERIOD_S:
            h = self._hist[: min(self._pushes, TIMING_HISTORY)]
            p50, p99 = np.percentile(h, [50.0, 99.0], axis=0) * 1000.0
            self._pct = (
                {k: float(v) for k, v in zip(self._stage_names, p50, strict=True)},
                {k: float(v) for k, v in zip(self._stage_names, p99, strict=True)},
            )
            self._pct_at = now
        return self._pct

    def _mix_passthrough(self, wet: Audio, dry: Audio, mix: MixConfig) -> Audio:
        target = 0.0 if mix.passthrough else 1.0
        if self._wet_gain == target == 1.0:
            return wet
        if self._wet_gain == target == 0.0:
            return dry
        step = 1000.0 / (mix.crossfade_ms * self.cfg.rate_out_hz)
        sign = 1.0 if target > self._wet_gain else -1.0
        g = np.clip(self._wet_gain + sign * step * np.arange(1, len(wet) + 1), 0.0, 1.0).astype(np.float32)
        if len(g):
            self._wet_gain = float(g[-1])
        mixed: Audio = wet * g + dry * (1.0 - g)
        return mixed

    def _write_out(self, y: Audio) -> None:
        if not len(y):
            return
        if self._fade_from is not None:
            r = min(len(self._up), len(y))
            y = y.copy()
            y[:r] = y[:r] * self._up[:r] + self._fade_from * self._down[:r]
            self._fade_from = None
        self._out.write(y)
        self._last_written = float(y[-1])

    def _all_dry(self, x: Audio) -> Audio:
        """Worker: the dry signal (output rate) for every slot the chain still owes, plus ``x``;
        leaves the dry path empty, ready for a restarted chain."""
        return np.concatenate([self._dry.pop(len(self._dry)), self._dry_res.push(x), self._dry_res.flush()])

    def _write_filler(self, dry: Audio) -> None:
        """Fill output slots whose converted audio will never exist (dry or silence)."""
        fill = dry.copy() if self._fill_dry else np.zeros_like(dry)
        self._fade_from = self._last_written
        self._write_out(fill)
        self._fade_from = self._last_written

    def _drop_backlog(self, buf: Audio, n: int) -> None:
        n = self._in.read_into(buf, n)
        self._write_filler(self._all_dry(buf[:n]))
        self._chain.reset()
        self._dropped += n

    def _swap_chain(self) -> None:
        new = self._next_chain
        assert new is not None
        self._next_chain = None
        self._write_filler(self._all_dry(np.zeros(0, dtype=np.float32)))
        self._chain = new
        self._chain.set_params(self._settings.params, self._settings.gate, self._settings.mix)
        new_prefill = self.cfg.engine_latency_samples(new.latency_samples)
        delta = new_prefill - self._prefill
        if delta > 0:
            self._write_filler(np.zeros(delta, dtype=np.float32))
        elif delta < 0:
            self._skip_requested += -delta
        self._prefill = new_prefill

    def _publish(
        self,
        running: bool,
        in_db: float = LEVEL_FLOOR_DBFS,
        out_db: float = LEVEL_FLOOR_DBFS,
        rtf: float = 0.0,
    ) -> None:
        sr = self.cfg.rate_out_hz
        c = self._cb
        timing = self._chain.timing()
        per_s = {
            name: 1000.0 * sec / timing.audio_seconds if timing.audio_seconds else 0.0
            for name, sec in zip(timing.names, timing.seconds, strict=False)
        }
        ms = 1000.0 / sr  # per output-rate sample
        ms_in = 1000.0 / self.cfg.rate_in_hz
        dev_ms = 1000.0 * sum(self._device_latency_s)
        p50, p99 = self._timing_percentiles()
        mc = self._mc
        self._stats = EngineStats(
            running=running,
            voice=self.voice_name,
            device_rate_hz=self.cfg.rate_in_hz,
            output_rate_hz=sr,
            block_frames=self.cfg.block_frames,
            input_dbfs=in_db,
            output_dbfs=out_db,
            gate_open=self._chain.gate.is_open,
            passthrough=self._settings.mix.passthrough,
            engine_latency_ms=self._prefill * ms,
            chain_latency_ms=self._chain.latency_samples * ms,
            device_latency_ms=dev_ms,
            expected_latency_ms=self._prefill * ms + dev_ms,
            measured_latency_ms=None
            if self._measured_device_ms is None
            else self._measured_device_ms + self._prefill * ms,
            queue_ms=self._out.available() * ms,
            backlog_ms=self._in.available() * ms_in,
            rtf=rtf,
            stage_ms_per_s=per_s,
            callbacks=c.callbacks,
            xruns=c.xruns,
            underrun_ms=c.underrun_samples * ms,
            dropped_ms=self._dropped * ms_in,
            input_overflow_ms=c.input_overflow_samples * ms_in,
            drift_skipped_ms=c.drift_skipped * ms,
            late_discarded_ms=c.late_discarded * ms,
            uptime_s=time.monotonic() - self._t_start if self._t_start else 0.0,
            error=self._error,
            stage_p50_ms=p50,
            stage_p99_ms=p99,
            pushes=self._pushes,
            monitor_enabled=self._mon_on,
            monitor_callbacks=mc.callbacks,
            monitor_underruns=mc.underruns,
            monitor_underrun_ms=mc.underrun_samples * ms,
            monitor_skipped_ms=mc.skipped * ms,
            monitor_dropped_ms=c.monitor_dropped * ms,
            monitor_queue_ms=self._mon.available() * ms,
        )

    # ------------------------------------------------------------------ helpers for drivers

    def output_ready(self, frames: int) -> bool:
        """True when the next ``frames`` output samples are queued *and* the worker has read all the
        input (for as-fast-as-possible runs: a driver that waits for this never outruns the worker,
        so the deadline policy never drops or plays dry, whatever the voice stage's speed)."""
        return self._in.available() == 0 and self._out.available() - self._cb.debt >= frames
