"""The live engine: fixed latency, live == offline, and the deadline policy under a stalled worker."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import speech_at
from vc_core.config import GateConfig, MixConfig, StreamConfig, UnderrunFill, VoiceParams
from vc_core.engine.live import LiveEngine
from vc_core.engine.simulate import simulate
from vc_core.io.audiofile import read_audio
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio
from vc_core.voices.bundle import read_manifest
from vc_core.voices.library import VoiceLibrary, shipped_models_dir

RATE = 48000
BLOCK = 256


class _StallStage:
    """Identity at 24 kHz that blocks while ``stall`` is set (an artificially slow voice)."""

    def __init__(self, stall: threading.Event) -> None:
        self._stall = stall

    rate_in_hz = 24000
    rate_out_hz = 24000
    latency_samples = 0

    def push(self, x: Audio) -> Audio:
        while self._stall.is_set():
            time.sleep(0.001)
        return x.copy()

    def flush(self) -> Audio:
        return np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        pass

    def set_voice_params(self, params: VoiceParams) -> None:
        pass


class StallVoice:
    def __init__(self, stall: threading.Event) -> None:
        self.manifest = replace(read_manifest(shipped_models_dir() / "natural"), name="stall")
        self.stall = stall

    def make_stage(self, params: VoiceParams) -> _StallStage:
        return _StallStage(self.stall)


@pytest.fixture(scope="module")
def lib() -> VoiceLibrary:
    return VoiceLibrary([shipped_models_dir()])


@pytest.fixture(scope="module")
def speech48(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_at(RATE, tmp_path_factory.mktemp("speech") / "speech48.wav", seconds=4.0)


def drive(engine: LiveEngine, x: Audio, realtime: bool, on_block: object = None) -> tuple[Audio, float]:
    """Play ``x`` through ``engine.audio_callback`` block by block; return output and the slowest callback (s)."""
    x = x[: len(x) - len(x) % BLOCK]
    out = np.zeros(len(x), dtype=np.float32)
    indata = np.zeros((BLOCK, 1), dtype=np.float32)
    outdata = np.zeros((BLOCK, 2), dtype=np.float32)  # stereo device: mono duplicated
    t0 = time.perf_counter()
    slowest = 0.0
    for k, i in enumerate(range(0, len(x) - BLOCK + 1, BLOCK)):
        if realtime:
            wait = t0 + k * BLOCK / RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        else:
            while not engine.output_ready(BLOCK):
                time.sleep(0.0002)
        if callable(on_block):
            on_block(i / RATE)
        indata[:, 0] = x[i : i + BLOCK]
        c0 = time.perf_counter()
        engine.audio_callback(indata, outdata, BLOCK)
        slowest = max(slowest, time.perf_counter() - c0)
        np.testing.assert_array_equal(outdata[:, 0], outdata[:, 1])
        out[i : i + BLOCK] = outdata[:, 0]
    return out, slowest


def offline_chain(voice: object, x: Audio, gate: GateConfig) -> Audio:
    chain = VoiceChain(voice, RATE, RATE, gate=gate)  # type: ignore[arg-type]
    return np.concatenate([chain.push(x), chain.flush()])


def test_live_output_equals_offline_shifted_by_fixed_latency(lib: VoiceLibrary, speech48: Path) -> None:
    x, _ = read_audio(speech48)
    voice = lib.load("deep")
    gate = GateConfig(threshold_dbfs=-45.0)
    engine = LiveEngine(voice, StreamConfig(device_rate_hz=RATE, block_frames=BLOCK), gate=gate)
    engine.start()
    try:
        y, _ = drive(engine, x, realtime=False)
    finally:
        engine.stop()
    p = engine.engine_latency_samples
    ref = offline_chain(voice, x, gate)
    assert not np.any(y[:p])
    np.testing.assert_allclose(y[p:], ref[: len(y) - p], atol=1e-4)
    s = engine.stats()
    assert s.xruns == 0 and s.dropped_ms == 0
    assert s.engine_latency_ms == pytest.approx(1000 * p / RATE)


def test_simulate_realtime_has_no_xruns_and_measures_its_latency(
    lib: VoiceLibrary, speech48: Path, tmp_path: Path
) -> None:
    # The simulated device itself can be held up by the machine (a VM pause, another process);
    # it then delivers the late callbacks in a burst, which the engine rightly counts as xruns.
    # Such a run says nothing about the engine, so it is taken again (at most twice more).
    for attempt in range(3):
        out = tmp_path / f"live{attempt}.wav"
        rep = simulate(lib.load("deep"), speech48, out, StreamConfig(), realtime=True)
        if rep.late_callbacks == 0:
            break
        print(f"\nattempt {attempt}: the simulated device was late {rep.late_callbacks} times; again")
    assert rep.late_callbacks == 0, "the machine disturbed every attempt"
    assert rep.stats.xruns == 0, rep.stats
    assert rep.measured_latency_ms == pytest.approx(rep.stats.engine_latency_ms, abs=0.05)
    assert rep.match_db is not None and rep.match_db < -60.0
    assert rep.wall_s >= 0.95 * rep.input_s  # really paced by the clock


STALL_S = (1.0, 1.3)  # the voice stalls for 300 ms
RECOVERED_S = 1.6  # by then the backlog is dropped and the output is converted again


def run_stall(fill: UnderrunFill, x: Audio, gate: GateConfig) -> tuple[Audio, float, LiveEngine, bool]:
    """Drive a stalling voice in real time; also say whether an xrun fell outside the stall.

    Such an xrun means the machine (not the stall) made the worker late: other processes held
    the cores. The run then says nothing about the policy and is taken again.
    """
    stall = threading.Event()
    voice = StallVoice(stall)
    cfg = StreamConfig(device_rate_hz=RATE, block_frames=BLOCK, underrun_fill=fill, max_backlog_ms=80.0)
    engine = LiveEngine(voice, cfg, gate=gate)  # type: ignore[arg-type]
    xruns_at: list[tuple[float, int]] = []

    def on_block(now_s: float) -> None:
        xruns_at.append((now_s, engine.stats().xruns))
        if STALL_S[0] <= now_s < STALL_S[1]:
            stall.set()
        else:
            stall.clear()

    engine.start()
    try:
        y, slowest = drive(engine, x, realtime=True, on_block=on_block)
    finally:
        stall.clear()
        engine.stop()
    counts = [n for _, n in xruns_at] + [engine.stats().xruns]
    times = [t for t, _ in xruns_at]
    disturbed = any(counts[k + 1] > counts[k] for k, t in enumerate(times) if t < STALL_S[0] or t >= RECOVERED_S)
    return y, slowest, engine, disturbed


@pytest.mark.parametrize("fill", [UnderrunFill.DRY, UnderrunFill.SILENCE])
def test_deadline_policy_with_a_stalled_worker(fill: UnderrunFill) -> None:
    """Stall the voice for 300 ms: the callback never blocks, plays dry/silence, counts it, drops
    the backlog, and afterwards the output is back at exactly the same latency."""
    rng = np.random.default_rng(3)
    t = np.arange(3 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    gate = GateConfig(enabled=False)
    for attempt in range(3):
        y, slowest, engine, disturbed = run_stall(fill, x, gate)
        if not disturbed:
            break
        print(f"\nattempt {attempt}: an xrun outside the stall (the machine was busy); again")
    assert not disturbed, "the machine disturbed every attempt"
    p = engine.engine_latency_samples
    s = engine.stats()
    assert s.xruns > 0 and s.underrun_ms > 100.0
    assert s.dropped_ms > 0.0
    assert slowest < 0.02, f"a callback took {slowest * 1000:.1f} ms: it must never wait for the worker"
    # during the stall the output is the policy's fill, not converted audio
    stall_slots = slice(int(1.15 * RATE) + p, int(1.25 * RATE) + p)
    if fill is UnderrunFill.SILENCE:
        assert np.abs(y[stall_slots]).max() < 1e-6
    else:
        np.testing.assert_allclose(y[stall_slots], x[stall_slots], atol=1e-6)  # dry = the input of that moment
    # after recovery: converted, and at the same latency P as before (nothing stale, no growth)
    ref = offline_chain(StallVoice(threading.Event()), x, gate)
    tail = slice(int(2.0 * RATE), len(y))
    np.testing.assert_allclose(y[tail], ref[tail.start - p : len(y) - p], atol=2e-3)
    head = slice(p, int(0.9 * RATE))
    np.testing.assert_allclose(y[head], ref[: head.stop - p], atol=1e-5)


def test_passthrough_crossfades_to_the_aligned_dry_signal(lib: VoiceLibrary, speech48: Path) -> None:
    x, _ = read_audio(speech48)
    engine = LiveEngine(lib.load("deep"), StreamConfig(device_rate_hz=RATE, block_frames=BLOCK))
    p = engine.engine_latency_samples
    switched = [False]

    def on_block(now_s: float) -> None:
        if now_s >= 1.0 and not switched[0]:
            engine.update(mix=MixConfig(passthrough=True, crossfade_ms=20.0))
            switched[0] = True

    engine.start()
    try:
        y, _ = drive(engine, x, realtime=False, on_block=on_block)
    finally:
        engine.stop()
    late = slice(int(1.5 * RATE), len(y))
    np.testing.assert_allclose(y[late], x[late.start - p : len(y) - p], atol=1e-6)
    assert engine.stats().passthrough
    # the switch is a ramp, not a jump: no sample-to-sample step bigger than the signals' own
    d = np.abs(np.diff(y[int(0.9 * RATE) : int(1.3 * RATE)]))
    assert d.max() < 2.0 * max(np.abs(np.diff(x)).max(), 1e-3)


def test_voice_switch_while_live_keeps_latency_consistent(lib: VoiceLibrary, speech48: Path) -> None:
    x, _ = read_audio(speech48)
    engine = LiveEngine(lib.load("deep"), StreamConfig(device_rate_hz=RATE, block_frames=BLOCK))
    robot = lib.load("robot")
    done = [False]

    def on_block(now_s: float) -> None:
        if now_s >= 1.0 and not done[0]:
            engine.set_voice(robot)
            done[0] = True

    engine.start()
    try:
        y, _ = drive(engine, x, realtime=False, on_block=on_block)
    finally:
        engine.stop()
    s = engine.stats()
    assert s.voice == "robot" and s.xruns == 0
    assert np.isfinite(y).all() and np.abs(y[int(2 * RATE) :]).max() > 0.01


def test_live_settings_are_validated_on_the_control_side(lib: VoiceLibrary) -> None:
    from vc_core.errors import ConfigError

    engine = LiveEngine(lib.load("deep"), StreamConfig())
    with pytest.raises(ConfigError, match="pitch"):
        engine.update(params=VoiceParams(pitch_semitones=-10.0))  # deep is already -4
    assert engine._settings.params == VoiceParams()


def drive_split(engine: LiveEngine, x: Audio, rate_in: int, rate_out: int, out_blocks_per_in: float) -> Audio:
    """Split streams on two clocks: input blocks of 10 ms at ``rate_in``; output blocks of 10 ms
    at ``rate_out``, ``out_blocks_per_in`` of them per input block (1.0 = same clock)."""
    bin_, bout = rate_in // 100, rate_out // 100
    indata = np.zeros((bin_, 1), dtype=np.float32)
    outdata = np.zeros((bout, 1), dtype=np.float32)
    outs: list[Audio] = []
    owed = 0.0
    for i in range(0, len(x) - bin_ + 1, bin_):
        indata[:, 0] = x[i : i + bin_]
        engine.input_callback(indata, bin_)
        owed += out_blocks_per_in
        while owed >= 1.0:
            # same clock: wait for the worker like a file device would; drifting clocks: do not wait
            if out_blocks_per_in == 1.0:
                while not engine.output_ready(bout):
                    time.sleep(0.0002)
            else:
                time.sleep(0.001)
            engine.output_callback(outdata, bout)
            outs.append(outdata[:, 0].copy())
            owed -= 1.0
    return np.concatenate(outs)


def test_split_streams_at_different_rates_equal_offline(lib: VoiceLibrary, speech48: Path) -> None:
    """Input at 48 kHz, output at 44.1 kHz (two streams, one clock): offline-identical at latency P."""
    x, _ = read_audio(speech48)
    voice = lib.load("deep")
    gate = GateConfig(enabled=False)
    cfg = StreamConfig(device_rate_hz=48000, output_rate_hz=44100, block_frames=480)
    engine = LiveEngine(voice, cfg, gate=gate)
    engine.start()
    try:
        y = drive_split(engine, x, 48000, 44100, 1.0)
    finally:
        engine.stop()
    p = engine.engine_latency_samples
    chain = VoiceChain(voice, 48000, 44100, gate=gate)
    ref = np.concatenate([chain.push(x), chain.flush()])
    np.testing.assert_allclose(y[p:], ref[: len(y) - p], atol=1e-4)
    s = engine.stats()
    assert s.xruns == 0 and s.output_rate_hz == 44100 and s.device_rate_hz == 48000


@pytest.mark.parametrize("out_per_in", [0.99, 1.01])
def test_split_streams_with_drifting_clocks_keep_latency_bounded(lib: VoiceLibrary, out_per_in: float) -> None:
    """1 % clock drift either way: the queue stays within P + slack; drift shows up as counted
    skips (input faster) or counted underruns (output faster), never as growing latency."""
    rng = np.random.default_rng(5)
    x = (0.1 * rng.standard_normal(6 * 48000)).astype(np.float32)
    cfg = StreamConfig(device_rate_hz=48000, output_rate_hz=48000, block_frames=480)
    engine = LiveEngine(lib.load("natural"), cfg, gate=GateConfig(enabled=False))
    engine.start()
    queue_ms = []
    try:
        bin_ = 480
        indata = np.zeros((bin_, 1), dtype=np.float32)
        outdata = np.zeros((bin_, 1), dtype=np.float32)
        owed = 0.0
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(x) - bin_ + 1, bin_)):
            wait = t0 + k * 0.01 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            indata[:, 0] = x[i : i + bin_]
            engine.input_callback(indata, bin_)
            owed += out_per_in
            while owed >= 1.0:
                engine.output_callback(outdata, bin_)
                owed -= 1.0
            queue_ms.append(engine.stats().queue_ms)
    finally:
        engine.stop()
    s = engine.stats()
    bound_ms = s.engine_latency_ms + 2 * 10.0 + 10.0 + 10.0  # P + slack + one block
    assert max(queue_ms[100:]) <= bound_ms, (max(queue_ms), bound_ms)
    if out_per_in < 1.0:
        assert s.drift_skipped_ms > 0.0
    else:
        assert s.xruns > 0


class _SlowBurstStage:
    """Identity at 24 kHz that returns audio in chunks of ``chunk`` samples and takes ``rtf`` times real time."""

    rate_in_hz = 24000
    rate_out_hz = 24000

    def __init__(self, rtf: float, chunk: int) -> None:
        self._rtf = rtf
        self.CHUNK = chunk
        self.latency_samples = chunk - 1
        self._buf = np.zeros(0, np.float32)

    def push(self, x: Audio) -> Audio:
        time.sleep(self._rtf * len(x) / self.rate_in_hz)
        self._buf = np.concatenate([self._buf, x])
        k = len(self._buf) // self.CHUNK * self.CHUNK
        out, self._buf = self._buf[:k], self._buf[k:]
        return out

    def flush(self) -> Audio:
        out, self._buf = self._buf, np.zeros(0, np.float32)
        return out

    def reset(self) -> None:
        self._buf = np.zeros(0, np.float32)

    def set_voice_params(self, params: VoiceParams) -> None:
        pass


class SlowVoice:
    """A voice slower than real time, in bursts (a neural voice on a slow CPU)."""

    def __init__(self, rtf: float, chunk: int) -> None:
        self.manifest = replace(read_manifest(shipped_models_dir() / "natural"), name="slow")
        self.rtf = rtf
        self.chunk = chunk

    def make_stage(self, params: VoiceParams) -> _SlowBurstStage:
        return _SlowBurstStage(self.rtf, self.chunk)


@pytest.mark.parametrize(
    ("rtf", "chunk"),
    [(3.0, 1200), (1.5, 4800)],  # 50 ms bursts at RTF 3; 200 ms bursts (more than the 80 ms backlog) at RTF 1.5
)
def test_simulate_as_fast_as_possible_equals_offline_for_a_slow_stage(tmp_path: Path, rtf: float, chunk: int) -> None:
    """Without --realtime nothing is dropped, however slow the voice: the file is the offline chain's."""
    src = speech_at(RATE, tmp_path / "speech.wav", seconds=1.5)
    rep = simulate(SlowVoice(rtf, chunk), src, tmp_path / "fast.wav", StreamConfig(), realtime=False)
    assert rep.stats.dropped_ms == 0.0 and rep.stats.xruns == 0 and rep.stats.underrun_ms == 0.0
    assert rep.match_db is not None and rep.match_db < -60.0, rep.match_db
    assert rep.wall_s > 1.5 * rtf * 0.9  # it really was that slow


def test_simulate_in_real_time_applies_the_deadline_policy_to_a_slow_stage(tmp_path: Path) -> None:
    src = speech_at(RATE, tmp_path / "speech.wav", seconds=1.5)
    rep = simulate(SlowVoice(3.0, 1200), src, tmp_path / "live.wav", StreamConfig(), realtime=True)
    assert rep.stats.xruns > 0 and rep.stats.dropped_ms + rep.stats.underrun_ms > 100.0
    out, _ = read_audio(tmp_path / "live.wav")
    assert np.all(np.isfinite(out))  # late audio played dry, never stale or garbage


def test_a_device_block_longer_than_the_backlog_limit_never_resets_the_voice(lib: VoiceLibrary, tmp_path: Path) -> None:
    """4096 frames at 48 kHz (85 ms) exceed max_backlog_ms (80): one block is not a backlog."""
    src = speech_at(RATE, tmp_path / "speech.wav", seconds=2.0)
    rep = simulate(lib.load("natural"), src, tmp_path / "big.wav", StreamConfig(block_frames=4096), realtime=False)
    assert rep.stats.dropped_ms == 0.0 and rep.stats.xruns == 0
    assert rep.match_db is not None and rep.match_db < -60.0, rep.match_db
