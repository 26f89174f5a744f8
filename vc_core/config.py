"""Typed, frozen settings with units in their names, validated on construction.

Every range check raises :class:`~vc_core.errors.ConfigError` naming the field, the value and the
allowed range, so the CLI and the GUI can show the message as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import Enum

from vc_core.errors import ConfigError

PITCH_SEMITONES_RANGE = (-12.0, 12.0)
FORMANT_RATIO_RANGE = (0.7, 1.4)
GAIN_DB_RANGE = (-40.0, 24.0)
DEVICE_RATES_HZ = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)


def check_range(owner: str, field: str, value: float, lo: float, hi: float) -> None:
    """Raise ConfigError unless ``lo <= value <= hi`` (NaN is always rejected)."""
    if not isinstance(value, (int, float)) or math.isnan(value) or not lo <= value <= hi:
        raise ConfigError(f"{owner}.{field} = {value!r} is out of range: allowed {lo:g} to {hi:g}")


class UnderrunFill(str, Enum):
    """What the output plays while the worker has nothing ready (and how it leaves that)."""

    DRY = "dry"
    SILENCE = "silence"


@dataclass(frozen=True)
class VoiceParams:
    """User offsets applied on top of a voice's own settings."""

    pitch_semitones: float = 0.0
    formant_ratio: float = 1.0

    def __post_init__(self) -> None:
        check_range("voice", "pitch_semitones", self.pitch_semitones, *PITCH_SEMITONES_RANGE)
        check_range("voice", "formant_ratio", self.formant_ratio, *FORMANT_RATIO_RANGE)


@dataclass(frozen=True)
class GateConfig:
    """Noise gate on the input, after the input gain."""

    enabled: bool = True
    threshold_dbfs: float = -50.0
    hold_ms: float = 150.0
    attack_ms: float = 2.0
    release_ms: float = 80.0

    def __post_init__(self) -> None:
        check_range("gate", "threshold_dbfs", self.threshold_dbfs, -100.0, 0.0)
        check_range("gate", "hold_ms", self.hold_ms, 0.0, 2000.0)
        check_range("gate", "attack_ms", self.attack_ms, 0.1, 200.0)
        check_range("gate", "release_ms", self.release_ms, 1.0, 2000.0)


class DenoiseSetting(str, Enum):
    """Noise suppression at the head of the chain, lightest first (see vc_core.dsp.denoise)."""

    OFF = "off"
    LIGHT = "light"  # RNNoise
    STRONG = "strong"  # DeepFilterNet3

    @property
    def rank(self) -> int:
        """Position in the order off < light < strong (which is also the order of their latencies)."""
        return list(DenoiseSetting).index(self)


@dataclass(frozen=True)
class DenoiseConfig:
    """Which denoiser cleans the input, and which one the chain keeps latency for.

    A running chain's latency is fixed, so it is sized for ``reserve`` (default: ``setting``):
    lighter settings are delayed to match, and a running chain switches (with a crossfade) between
    any settings up to ``reserve``. Asking for a heavier one needs a new chain.
    """

    setting: DenoiseSetting = DenoiseSetting.OFF
    reserve: DenoiseSetting | None = None

    def __post_init__(self) -> None:
        for name in ("setting", "reserve"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, DenoiseSetting):
                raise ConfigError(f"denoise.{name} = {v!r}: use one of " + ", ".join(d.value for d in DenoiseSetting))
        if self.reserve is not None and self.setting.rank > self.reserve.rank:
            raise ConfigError(
                f"denoise.setting = {self.setting.value!r} is heavier than denoise.reserve = {self.reserve.value!r}: "
                "a chain keeps latency only for settings up to its reserve"
            )

    @property
    def reserved(self) -> DenoiseSetting:
        """The heaviest setting the chain is built for."""
        return self.reserve or self.setting


@dataclass(frozen=True)
class MixConfig:
    """Gains, the passthrough (bypass) switch and the input denoiser; all change live with a crossfade."""

    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    passthrough: bool = False
    crossfade_ms: float = 20.0
    denoise: DenoiseConfig = DenoiseConfig()

    def __post_init__(self) -> None:
        if not isinstance(self.denoise, DenoiseConfig):
            raise ConfigError(f"mix.denoise = {self.denoise!r} must be a DenoiseConfig")
        check_range("mix", "input_gain_db", self.input_gain_db, *GAIN_DB_RANGE)
        check_range("mix", "output_gain_db", self.output_gain_db, *GAIN_DB_RANGE)
        check_range("mix", "crossfade_ms", self.crossfade_ms, 1.0, 500.0)


@dataclass(frozen=True)
class MonitorConfig:
    """Optional monitor bus (headphones): its own gain and dry/wet mix, independent of the main output.

    Each monitor sample is ``10**(gain_db/20) * (wet_ratio * wet + (1 - wet_ratio) * dry)``, where
    ``wet`` is exactly what the main output plays and ``dry`` the input of the same callback.
    """

    enabled: bool = False
    gain_db: float = 0.0
    wet_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"monitor.enabled = {self.enabled!r} must be True or False")
        check_range("monitor", "gain_db", self.gain_db, *GAIN_DB_RANGE)
        check_range("monitor", "wet_ratio", self.wet_ratio, 0.0, 1.0)


@dataclass(frozen=True)
class StreamConfig:
    """How the live engine meets the device: rate, period, safety margin and overload policy.

    ``safety_ms`` of output is kept queued to absorb worker jitter; when the worker falls more
    than ``max_backlog_ms`` behind, unprocessed input is dropped so latency stays bounded.
    """

    device_rate_hz: int = 48000  # the input device's rate (and the output's unless output_rate_hz is set)
    block_frames: int = 256  # input device period
    output_rate_hz: int | None = None  # set when the output device runs at another rate
    safety_ms: float = 12.0
    max_backlog_ms: float = 80.0
    underrun_fill: UnderrunFill = UnderrunFill.DRY
    worker_poll_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.device_rate_hz not in DEVICE_RATES_HZ:
            raise ConfigError(
                f"stream.device_rate_hz = {self.device_rate_hz!r} is not supported: use one of "
                + ", ".join(str(r) for r in DEVICE_RATES_HZ)
            )
        if self.output_rate_hz is not None and self.output_rate_hz not in DEVICE_RATES_HZ:
            raise ConfigError(
                f"stream.output_rate_hz = {self.output_rate_hz!r} is not supported: use one of "
                + ", ".join(str(r) for r in DEVICE_RATES_HZ)
            )
        check_range("stream", "block_frames", self.block_frames, 16, 8192)
        if int(self.block_frames) != self.block_frames:
            raise ConfigError(f"stream.block_frames = {self.block_frames!r} must be a whole number")
        check_range("stream", "safety_ms", self.safety_ms, 0.0, 500.0)
        check_range("stream", "max_backlog_ms", self.max_backlog_ms, 10.0, 2000.0)
        check_range("stream", "worker_poll_ms", self.worker_poll_ms, 0.1, 20.0)
        if not isinstance(self.underrun_fill, UnderrunFill):
            raise ConfigError(f"stream.underrun_fill = {self.underrun_fill!r}: use 'dry' or 'silence'")

    @property
    def block_ms(self) -> float:
        return 1000.0 * self.block_frames / self.device_rate_hz

    @property
    def rate_in_hz(self) -> int:
        return self.device_rate_hz

    @property
    def rate_out_hz(self) -> int:
        return self.output_rate_hz or self.device_rate_hz

    @property
    def block_frames_out(self) -> int:
        """Output device period: the same duration as the input period, at the output rate."""
        return max(1, round(self.block_frames * self.rate_out_hz / self.device_rate_hz))

    def engine_latency_samples(self, chain_latency_samples: int) -> int:
        """The live engine's fixed latency P at the output rate: the chain's worst case, one
        output block and the safety margin (see vc_core.engine.live)."""
        return chain_latency_samples + self.block_frames_out + round(self.safety_ms * self.rate_out_hz / 1000.0)


def describe(cfg: object) -> dict[str, object]:
    """Plain dict of a settings dataclass (enums as their values), for JSON and logs."""
    out: dict[str, object] = {}
    for f in fields(cfg):  # type: ignore[arg-type]
        v = getattr(cfg, f.name)
        out[f.name] = v.value if isinstance(v, Enum) else v
    return out
