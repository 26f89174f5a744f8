"""Gate, ring and gains: small blocks with exact expectations."""

from __future__ import annotations

import threading

import numpy as np

from vc_core.config import GateConfig
from vc_core.dsp.gate import GainGate, rms_dbfs
from vc_core.engine.ring import SpscRing

RATE = 24000


def test_gate_closes_on_noise_opens_on_speech_with_hold_and_release() -> None:
    rng = np.random.default_rng(0)
    noise = 0.001 * rng.standard_normal(RATE).astype(np.float32)  # about -60 dBFS
    loud = (0.3 * np.sin(2 * np.pi * 200 * np.arange(RATE // 2) / RATE)).astype(np.float32)
    x = np.concatenate([noise, loud, noise])
    gate = GainGate(RATE, GateConfig(threshold_dbfs=-40.0, hold_ms=100.0, release_ms=50.0, attack_ms=2.0))
    y = np.concatenate([gate.push(x), gate.flush()])
    assert rms_dbfs(y[: RATE // 2]) <= -100  # closed from the start on noise
    np.testing.assert_allclose(y[RATE + 2400 : RATE + RATE // 2], x[RATE + 2400 : RATE + RATE // 2])  # open
    end_loud = RATE + RATE // 2
    held = y[end_loud + 240 : end_loud + int(0.09 * RATE)]
    np.testing.assert_allclose(held, x[end_loud + 240 : end_loud + int(0.09 * RATE)])  # hold keeps it open
    assert rms_dbfs(y[end_loud + int(0.2 * RATE) :]) <= -100  # released after hold + release
    assert np.abs(np.diff(y)).max() < 0.05  # gain moves in ramps, not steps


def test_gate_applies_input_gain_and_can_be_disabled() -> None:
    x = np.full(2400, 0.01, dtype=np.float32)
    gate = GainGate(RATE, GateConfig(enabled=False), input_gain_db=20.0)
    y = np.concatenate([gate.push(x), gate.flush()])
    np.testing.assert_allclose(y, 0.1, rtol=1e-5)


def test_ring_wraps_and_never_overwrites() -> None:
    r = SpscRing(10)
    out = np.zeros(10, dtype=np.float32)
    assert r.write(np.arange(7, dtype=np.float32)) == 7
    assert r.read_into(out, 5) == 5
    assert r.write(np.arange(7, 16, dtype=np.float32)) == 8  # only 8 free
    assert r.available() == 10 and r.free() == 0
    assert r.skip(2) == 2
    assert r.read_into(out, 10) == 8
    np.testing.assert_array_equal(out[:8], np.arange(7, 15))


def test_ring_transfers_exactly_between_threads() -> None:
    r = SpscRing(1000)
    src = np.arange(200_000, dtype=np.float32)
    got = np.zeros_like(src)

    def produce() -> None:
        i = 0
        while i < len(src):
            i += r.write(src[i : i + 333])

    t = threading.Thread(target=produce)
    t.start()
    j = 0
    buf = np.zeros(257, dtype=np.float32)
    while j < len(src):
        n = r.read_into(buf, 257)
        got[j : j + n] = buf[:n]
        j += n
    t.join()
    np.testing.assert_array_equal(got, src)
