"""Input gain and noise gate, decided every 2.5 ms hop.

The gate opens when a hop's RMS (after the input gain) exceeds ``threshold_dbfs``, stays open for
``hold_ms`` after the level falls, then closes over ``release_ms``; it opens over ``attack_ms``.
Gain moves linearly inside each hop, so a change never clicks.

Rate: any (the model rate in the pipeline). Latency: one hop minus one sample (no look-ahead).
"""

from __future__ import annotations

import numpy as np

from vc_core.config import GateConfig
from vc_core.stream import Audio, HopStage

GATE_HOP_MS = 2.5
SILENCE_FLOOR = 1e-10  # keeps log10 finite on digital silence


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms_dbfs(x: Audio) -> float:
    """RMS level of ``x`` in dBFS (a full-scale sine reads -3 dBFS)."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + SILENCE_FLOOR))


class GainGate(HopStage):
    """Input gain then gate, at ``rate_hz``."""

    def __init__(self, rate_hz: int, gate: GateConfig, input_gain_db: float = 0.0) -> None:
        hop = max(1, round(rate_hz * GATE_HOP_MS / 1000.0))
        super().__init__(rate_hz, hop, hop, 0)
        # NB: written by the control side via set_params, read by the worker at hop boundaries.
        self._gate = gate
        self._gain = db_to_gain(input_gain_db)
        self.reset_state()

    def set_params(self, gate: GateConfig, input_gain_db: float) -> None:
        self._gate = gate
        self._gain = db_to_gain(input_gain_db)

    @property
    def is_open(self) -> bool:
        return self._target >= 1.0

    def reset_state(self) -> None:
        self._env = 1.0 if not getattr(self, "_gate", GateConfig()).enabled else 0.0
        self._target = self._env
        self._hold_left_s = 0.0
        self.last_level_dbfs = -200.0

    def process_hop(self, frame: Audio) -> Audio:
        hop_s = self.hop_samples / self.rate_in_hz
        x = frame * np.float32(self._gain)
        self.last_level_dbfs = rms_dbfs(x)
        g = self._gate
        if not g.enabled or self.last_level_dbfs > g.threshold_dbfs:
            self._target, self._hold_left_s = 1.0, g.hold_ms / 1000.0
        elif self._hold_left_s > 0:
            self._hold_left_s -= hop_s
        else:
            self._target = 0.0
        start = self._env
        if self._target > start:
            step = hop_s / (g.attack_ms / 1000.0) if g.enabled else 1.0
            self._env = min(1.0, start + step)
        elif self._target < start:
            self._env = max(0.0, start - hop_s / (g.release_ms / 1000.0))
        if start == self._env == 1.0:
            return x
        ramp = np.linspace(start, self._env, self.hop_samples, endpoint=False, dtype=np.float32)
        return x * ramp
