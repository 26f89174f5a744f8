"""The voice library: which bundles exist, and how a bundle of each kind becomes a stage.

A *voice* turns a verified :class:`Manifest` into streaming stages at the voice's own rate
(``make_stage``). Kinds register a loader in :data:`KINDS`; adding a model family is one class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vc_core.config import FORMANT_RATIO_RANGE, PITCH_SEMITONES_RANGE, VoiceParams
from vc_core.errors import ConfigError, ModelBundleError
from vc_core.stream import Audio
from vc_core.voices.bundle import Manifest, read_manifest, shipped_models_dir

log = logging.getLogger(__name__)

DEFAULT_VOICE = "deep"


class VoiceStage(Protocol):
    """A streaming stage at the voice's rate whose voice parameters change live."""

    @property
    def rate_in_hz(self) -> int: ...

    @property
    def rate_out_hz(self) -> int: ...

    @property
    def latency_samples(self) -> int: ...

    def push(self, x: Audio) -> Audio: ...

    def flush(self) -> Audio: ...

    def reset(self) -> None: ...

    def set_voice_params(self, params: VoiceParams) -> None:
        """Apply user offsets from the next hop on (called by the worker)."""
        ...


class Voice(Protocol):
    """A loaded, verified voice."""

    manifest: Manifest

    def make_stage(self, params: VoiceParams) -> VoiceStage:
        """A fresh streaming stage for this voice with the user's offsets applied."""
        ...


# ----------------------------------------------------------------------------- effects kind


class EffectsVoice:
    """Pitch/formant/robot presets run by the streaming shifter (no model weights)."""

    def __init__(self, manifest: Manifest, base: str | None = None) -> None:  # no neural base to choose
        from vc_core.dsp.shifter import PitchFormantShifter, ShiftParams

        self.manifest = manifest
        rel = manifest.settings.get("effect")
        if not isinstance(rel, str):
            raise ModelBundleError(f"{manifest.path}/manifest.json: settings.effect must name the preset file")
        try:
            raw = json.loads(manifest.file(rel).read_text(encoding="utf-8"))
            self.preset = ShiftParams(
                pitch_semitones=float(raw.get("pitch_semitones", 0.0)),
                formant_ratio=float(raw.get("formant_ratio", 1.0)),
                robot_hz=None if raw.get("robot_hz") is None else float(raw["robot_hz"]),
            )
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise ModelBundleError(f"{manifest.path / rel}: bad effect preset ({e})") from e
        probe = PitchFormantShifter(self.preset)
        if (probe.rate_in_hz, probe.hop_samples, probe.lookahead_samples) != (
            manifest.sample_rate_hz,
            manifest.hop_samples,
            manifest.lookahead_samples,
        ):
            raise ModelBundleError(
                f"{manifest.path}/manifest.json: sample_rate_hz/hop_samples/lookahead_samples = "
                f"{manifest.sample_rate_hz}/{manifest.hop_samples}/{manifest.lookahead_samples} do not match "
                f"the effects engine ({probe.rate_in_hz}/{probe.hop_samples}/{probe.lookahead_samples})"
            )

    def shift_params(self, params: VoiceParams) -> object:
        from vc_core.dsp.shifter import ShiftParams

        pitch = self.preset.pitch_semitones + params.pitch_semitones
        formant = self.preset.formant_ratio * params.formant_ratio
        lo, hi = PITCH_SEMITONES_RANGE
        if not lo <= pitch <= hi:
            raise ConfigError(
                f"pitch: voice {self.manifest.name!r} shifts {self.preset.pitch_semitones:+g} st, plus "
                f"{params.pitch_semitones:+g} st gives {pitch:+g}: the total must stay within {lo:g}..{hi:+g}"
            )
        flo, fhi = FORMANT_RATIO_RANGE
        if not flo - 1e-9 <= formant <= fhi + 1e-9:
            raise ConfigError(
                f"formant: voice {self.manifest.name!r} scales by {self.preset.formant_ratio:g}, times "
                f"{params.formant_ratio:g} gives {formant:.3g}: the total must stay within {flo:g}..{fhi:g}"
            )
        return ShiftParams(
            pitch_semitones=pitch, formant_ratio=min(max(formant, flo), fhi), robot_hz=self.preset.robot_hz
        )

    def make_stage(self, params: VoiceParams) -> VoiceStage:
        return _EffectsStage(self, params)


class _EffectsStage:
    """The shifter, with user offsets folded into its preset."""

    def __init__(self, voice: EffectsVoice, params: VoiceParams) -> None:
        from vc_core.dsp.shifter import PitchFormantShifter

        self._voice = voice
        self._shifter = PitchFormantShifter(voice.shift_params(params))  # type: ignore[arg-type]

    @property
    def rate_in_hz(self) -> int:
        return self._shifter.rate_in_hz

    @property
    def rate_out_hz(self) -> int:
        return self._shifter.rate_out_hz

    @property
    def latency_samples(self) -> int:
        return self._shifter.latency_samples

    def push(self, x: Audio) -> Audio:
        return self._shifter.push(x)

    def flush(self) -> Audio:
        return self._shifter.flush()

    def reset(self) -> None:
        self._shifter.reset()

    def set_voice_params(self, params: VoiceParams) -> None:
        self._shifter.set_params(self._voice.shift_params(params))  # type: ignore[arg-type]


def _neural_voice(manifest: Manifest, base: str | None = None) -> Voice:
    from vc_core.neural.voice import NeuralVoice  # onnxruntime loads only when a model voice is used

    return NeuralVoice(manifest, base)


# kind -> loader(manifest, neural base folder name or None for the bundle's own)
KINDS: dict[str, Callable[[Manifest, str | None], Voice]] = {"effects": EffectsVoice, "neural": _neural_voice}
COMPONENT_PREFIX = "_"  # folders such as models/_vocoder hold shared models, not voices


# ----------------------------------------------------------------------------- library


def user_voices_dir() -> Path:
    """Where voices made or imported by the user live (created on first write)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("voicechanger", appauthor=False)) / "voices"


@dataclass(frozen=True)
class LibraryEntry:
    """One bundle found in the library; ``error`` is set when it failed verification."""

    folder: Path
    manifest: Manifest | None
    error: str | None


class VoiceLibrary:
    """Bundles found under a list of folders (shipped first, then the user's)."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [Path(r) for r in roots]

    @classmethod
    def default(cls) -> VoiceLibrary:
        return cls([shipped_models_dir(), user_voices_dir()])

    def scan(self, verify_hashes: bool = False) -> list[LibraryEntry]:
        """Every bundle folder, sorted by name; broken ones are listed with their error."""
        found: dict[str, LibraryEntry] = {}
        for root in self.roots:
            if not root.is_dir():
                continue
            folders = (p for p in root.iterdir() if not p.name.startswith(COMPONENT_PREFIX))
            for folder in sorted(p for p in folders if (p / "manifest.json").is_file()):
                try:
                    m = read_manifest(folder, verify_hashes=verify_hashes)
                    found.setdefault(m.name, LibraryEntry(folder, m, None))
                except ModelBundleError as e:
                    found.setdefault(folder.name, LibraryEntry(folder, None, str(e)))
        return [found[k] for k in sorted(found)]

    def names(self) -> list[str]:
        return [e.manifest.name for e in self.scan() if e.manifest is not None]

    def manifest_of(self, name: str) -> Manifest:
        """The manifest of the voice called ``name`` (not verified; ConfigError when there is none)."""
        for entry in self.scan():
            if entry.manifest is not None and (entry.manifest.name == name or entry.folder.name == name):
                return entry.manifest
        available = ", ".join(self.names()) or "none"
        raise ConfigError(f"unknown voice {name!r}: available voices are {available} (see `vc voices`)")

    def load(self, name: str, base: str | None = None) -> Voice:
        """Verify and load the voice called ``name`` (ConfigError when there is none).

        ``base``: the folder name of the neural base a neural voice runs on (e.g. ``_neural_rt``,
        see :mod:`vc_core.neural.choice`); None runs it on the base its bundle names.
        """
        for entry in self.scan():
            if (entry.manifest is not None and entry.manifest.name == name) or entry.folder.name == name:
                return load_bundle(entry.folder, base)
        available = ", ".join(self.names()) or "none"
        raise ConfigError(f"unknown voice {name!r}: available voices are {available} (see `vc voices`)")


def load_bundle(folder: Path, base: str | None = None) -> Voice:
    """Verify a bundle folder (hashes included) and build its voice (on ``base``, see :meth:`VoiceLibrary.load`)."""
    m = read_manifest(folder, verify_hashes=True)
    loader = KINDS.get(m.kind)
    if loader is None:
        raise ModelBundleError(
            f"{folder}/manifest.json: field 'kind' = {m.kind!r} is not known to this build (known: {', '.join(KINDS)})"
        )
    voice = loader(m, base)
    log.info("loaded voice %s (%s, %d Hz)", m.name, m.kind, m.sample_rate_hz)
    return voice
