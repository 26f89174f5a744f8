"""The conversion chain every path runs (the model voices' verbs are in :mod:`vc_core.stages`).

:class:`VoiceChain` is what both the offline converter and the live worker run, so offline
output equals live output: [device rate -> 48 kHz, denoiser (only when ``mix.denoise`` asks
for one)], device rate -> model rate (resample), input gain + noise gate, the voice, output gain,
model rate -> device rate (resample). Every stage is aligned (see :mod:`vc_core.stream`), and the
chain's latency is the sum of its stages'.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from vc_core.config import DenoiseSetting, GateConfig, MixConfig, VoiceParams
from vc_core.dsp.denoise import DENOISE_RATE_HZ, DenoiseStage
from vc_core.dsp.gate import GainGate, db_to_gain
from vc_core.dsp.resample import Resampler
from vc_core.stages import StageTiming
from vc_core.stream import Audio, Chain, Stage
from vc_core.voices.library import Voice, VoiceStage

log = logging.getLogger(__name__)


class _OutputGain:
    """Output gain that ramps over one push when it changes (stateless otherwise)."""

    def __init__(self, rate_hz: int, gain_db: float) -> None:
        self._rate = rate_hz
        self._gain = db_to_gain(gain_db)
        self._target = self._gain

    rate_in_hz = property(lambda self: self._rate)
    rate_out_hz = property(lambda self: self._rate)
    latency_samples = 0

    def set_gain_db(self, gain_db: float) -> None:
        self._target = db_to_gain(gain_db)  # NB: written by the worker, between pushes

    def push(self, x: Audio) -> Audio:
        if self._target == self._gain or not len(x):
            return x * np.float32(self._gain)
        ramp = np.linspace(self._gain, self._target, len(x), dtype=np.float32)
        self._gain = self._target
        return x * ramp

    def flush(self) -> Audio:
        return np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        self._gain = self._target


class VoiceChain(Chain):
    """[Denoise ->] resample -> gain + gate -> voice -> output gain -> resample, at device rates.

    rate_in_hz/rate_out_hz are the device rates; the voice runs at its own rate, the denoiser at
    48 kHz. The denoiser is there when ``mix.denoise.reserved`` is not off, and its latency is that
    of the reserved setting whichever setting plays, so :meth:`set_params` can switch it live.
    Latency: the sum of the stage latencies, at the output rate.
    """

    def __init__(
        self,
        voice: Voice,
        rate_in_hz: int,
        rate_out_hz: int,
        params: VoiceParams | None = None,
        gate: GateConfig | None = None,
        mix: MixConfig | None = None,
    ) -> None:
        mix = mix or MixConfig()
        self.voice = voice
        self.voice_stage: VoiceStage = voice.make_stage(params or VoiceParams())
        vrate = self.voice_stage.rate_in_hz
        self.gate = GainGate(vrate, gate or GateConfig(), mix.input_gain_db)
        self.out_gain = _OutputGain(self.voice_stage.rate_out_hz, mix.output_gain_db)
        self.denoise: DenoiseStage | None = None
        head: list[Stage] = []
        head_names: tuple[str, ...] = ()
        if mix.denoise.reserved is not DenoiseSetting.OFF:
            self.denoise = DenoiseStage(mix.denoise, mix.crossfade_ms)
            head = [Resampler(rate_in_hz, DENOISE_RATE_HZ), self.denoise]
            head_names = ("resample_denoise", "denoise")
            rate_in_hz = DENOISE_RATE_HZ
        stages: list[Stage] = [
            *head,
            Resampler(rate_in_hz, vrate),
            self.gate,
            self.voice_stage,
            self.out_gain,
            Resampler(self.voice_stage.rate_out_hz, rate_out_hz),
        ]
        super().__init__(stages)
        self.stage_names = (*head_names, "resample_in", "gate", "voice", "output_gain", "resample_out")
        self._seconds = [0.0] * len(self.stages)
        self._audio_s = 0.0
        self._warned_denoise = False

    def set_params(self, params: VoiceParams, gate: GateConfig, mix: MixConfig) -> None:
        """Apply new settings from the next hop on (call from the thread that pushes)."""
        self.voice_stage.set_voice_params(params)
        self.gate.set_params(gate, mix.input_gain_db)
        self.out_gain.set_gain_db(mix.output_gain_db)
        self.set_denoise(mix.denoise.setting)

    def set_denoise(self, setting: DenoiseSetting) -> bool:
        """Crossfade to another denoise setting from the next 10 ms hop on, at the same latency.

        Returns False (and logs a warning once) when the chain was not built for it: a setting
        heavier than ``mix.denoise.reserved`` (or any but off on a chain built without one) needs
        a new chain."""
        if self.denoise is not None:
            return self.denoise.set_setting(setting)
        if setting is not DenoiseSetting.OFF and not self._warned_denoise:
            self._warned_denoise = True
            log.warning("denoise '%s' needs a restart: this chain was built without a denoiser", setting.value)
        return setting is DenoiseSetting.OFF

    def _push_stages(self, x: Audio) -> Audio:
        self._audio_s += len(x) / self.rate_in_hz
        for i, s in enumerate(self.stages):
            t0 = time.perf_counter()
            x = s.push(x)
            self._seconds[i] += time.perf_counter() - t0
        return x

    def timing(self) -> StageTiming:
        return StageTiming(self.stage_names, tuple(self._seconds), self._audio_s)

    def step_timing(self) -> StageTiming:
        """:meth:`timing` with a voice stage that times its own steps split into them (``voice.content`` ...)."""
        t = self.timing()
        inner = getattr(self.voice_stage, "timing", None)
        sub = inner() if callable(inner) else None
        if not isinstance(sub, StageTiming):
            return t
        names: list[str] = []
        seconds: list[float] = []
        for name, s in zip(t.names, t.seconds, strict=True):
            if name == "voice":
                names.extend(f"voice.{n}" for n in sub.names)
                seconds.extend(sub.seconds)
            else:
                names.append(name)
                seconds.append(s)
        return StageTiming(tuple(names), tuple(seconds), t.audio_seconds)
