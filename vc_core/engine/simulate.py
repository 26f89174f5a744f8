"""Run the live engine over a file instead of devices, and measure what it did."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vc_core.config import GateConfig, MixConfig, StreamConfig, VoiceParams
from vc_core.dsp.resample import Resampler
from vc_core.engine.live import EngineStats, LiveEngine
from vc_core.errors import DeviceError
from vc_core.io.audiofile import read_audio
from vc_core.io.simulated import FileDevice
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio
from vc_core.voices.library import Voice

MAX_LAG_S = 1.0
XCORR_SECONDS = 20.0


@dataclass(frozen=True)
class SimulationReport:
    """Stats at the end of a simulated live run, plus the latency measured from the files."""

    stats: EngineStats
    measured_latency_ms: float | None  # lag of the live output behind the offline conversion
    match_db: float | None  # residual of live vs offline after alignment, dB below the signal
    input_s: float
    wall_s: float
    late_callbacks: int


def measure_lag(reference: Audio, delayed: Audio, max_lag: int) -> int:
    """Samples by which ``delayed`` lags ``reference`` (FFT cross-correlation, 0..max_lag)."""
    n = min(len(reference), len(delayed))
    a, b = reference[:n].astype(np.float64), delayed[:n].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    return int(np.argmax(xc[: max_lag + 1]))


def simulate(
    voice: Voice,
    src: Path,
    dst: Path,
    stream: StreamConfig,
    realtime: bool,
    params: VoiceParams | None = None,
    gate: GateConfig | None = None,
    mix: MixConfig | None = None,
    overwrite: bool = False,
    on_tick: Callable[[EngineStats], None] | None = None,
) -> SimulationReport:
    """Play ``src`` through the live engine at ``stream.device_rate_hz`` and record ``dst``."""
    engine = LiveEngine(voice, stream, params, gate, mix)
    tail = engine.engine_latency_samples + stream.block_frames
    device = FileDevice(src, dst, stream.device_rate_hz, stream.block_frames, realtime, tail, overwrite)
    engine.start()
    t0 = time.perf_counter()
    try:
        device.start(engine)
        while not device.wait(0.25):
            if on_tick is not None:
                on_tick(engine.stats())
    finally:
        device.stop()
        engine.stop()
    wall = time.perf_counter() - t0
    if device.error:
        raise DeviceError(f"simulated run failed: {device.error}")
    stats = engine.stats()
    lag_ms, match = _compare_with_offline(voice, src, dst, stream.device_rate_hz, params, gate, mix)
    rep = device.report
    return SimulationReport(
        stats=stats,
        measured_latency_ms=lag_ms,
        match_db=match,
        input_s=rep.input_s if rep else 0.0,
        wall_s=wall,
        late_callbacks=rep.late_callbacks if rep else 0,
    )


def _compare_with_offline(
    voice: Voice,
    src: Path,
    live_path: Path,
    rate_hz: int,
    params: VoiceParams | None,
    gate: GateConfig | None,
    mix: MixConfig | None,
) -> tuple[float | None, float | None]:
    """Convert ``src`` offline along the file device's path (file rate -> device rate -> chain at the
    device rate) and measure the live output's lag and residual against it."""
    x, src_rate = read_audio(src)
    to_device = Resampler(src_rate, rate_hz)
    x = np.concatenate([to_device.push(x), to_device.flush()])
    chain = VoiceChain(voice, rate_hz, rate_hz, params, gate, mix)
    # as the file writer stores it: samples beyond full scale are clipped in any file, live or offline
    ref = np.clip(np.concatenate([chain.push(x), chain.flush()]), -1.0, 1.0)
    live, _ = read_audio(live_path)
    n = min(len(ref), int(XCORR_SECONDS * rate_hz))
    if n == 0 or not np.any(ref[:n]):
        return None, None
    lag = measure_lag(ref[:n], live[: n + int(MAX_LAG_S * rate_hz)], int(MAX_LAG_S * rate_hz))
    m = min(len(ref), len(live) - lag)
    resid = live[lag : lag + m] - ref[:m]
    power = float(np.mean(np.square(ref[:m], dtype=np.float64))) + 1e-20
    match_db = 10.0 * np.log10(float(np.mean(np.square(resid, dtype=np.float64))) / power + 1e-20)
    return 1000.0 * lag / rate_hz, match_db
