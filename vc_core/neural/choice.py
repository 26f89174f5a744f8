"""Which neural base a session runs: the quality base where this machine keeps up, else the real-time one.

Two bases ship (:mod:`vc_core.neural.bundles`):

* ``quality`` (``models/_neural``): Whisper-base on 4 s windows + HiFi-GAN V1. Loses the fewest
  words; fast enough live with a GPU (onnxruntime with CUDA), several times too slow on a CPU.
* ``realtime`` (``models/_neural_rt``): a stateful content encoder, the converter and
  source-filter synthesis. Runs live on one CPU core.

``auto`` measures the quality base once on this machine (a short warm-up run of its stage,
stopped as soon as it is clearly too slow) and remembers the result per machine and model in the
user's cache folder, so later starts cost nothing. It picks the quality base when that runs at
most :data:`MAX_LIVE_RTF` of real time, else the real-time base. The reason is one line the CLI
and the app show beside the base.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vc_core.errors import ConfigError
from vc_core.neural.bundles import BASE_NAME, REALTIME_BASE_NAME

if TYPE_CHECKING:
    from vc_core.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

AUTO, QUALITY, REALTIME = "auto", "quality", "realtime"
BASE_CHOICES = (AUTO, QUALITY, REALTIME)
BASE_FOLDERS = {QUALITY: BASE_NAME, REALTIME: REALTIME_BASE_NAME}
BASE_LABELS = {QUALITY: "Best quality (GPU)", REALTIME: "Real time (CPU)", AUTO: "Automatic"}
# the worker shares the CPU with the audio callback, the GUI and the sound server: keep half the time free
MAX_LIVE_RTF = 0.5
WARMUP_AUDIO_S = 1.0  # audio pushed through the quality base to measure it (less when it is clearly too slow)
CACHE_FILE = "base-speed.json"


@dataclass(frozen=True)
class BaseChoice:
    """The base a session runs and why (one line for the status line and the voice card)."""

    base: str  # QUALITY or REALTIME
    folder_name: str  # the base bundle's folder in the models folder
    reason: str
    quality_rtf: float | None = None  # measured (or remembered) RTF of the quality base, when ``auto`` looked

    @property
    def label(self) -> str:
        return BASE_LABELS[self.base]


def default_cache_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("voicechanger", appauthor=False)) / CACHE_FILE


def machine_key(base_folder: Path) -> str:
    """This machine (CPU model, cores, onnxruntime and its providers) and the base's model files."""
    import onnxruntime as ort

    from vc_core.bench import machine_info

    m = machine_info()
    manifest = (base_folder / "manifest.json").read_bytes() if (base_folder / "manifest.json").is_file() else b""
    parts = [
        m["cpu_model"],
        str(m["cpus"]),
        ort.__version__,
        ",".join(ort.get_available_providers()),
        hashlib.sha256(manifest).hexdigest()[:16],
    ]
    return "|".join(parts)


def measure_stage_rtf(base_folder: Path, audio_s: float = WARMUP_AUDIO_S, give_up_rtf: float = MAX_LIVE_RTF) -> float:
    """RTF of one neural stage of the base in ``base_folder`` on a speech-like signal, in 10 ms pushes.

    Stops early once the time spent already exceeds ``give_up_rtf`` of the planned audio: the
    figure is then what was measured so far (the base is too slow either way).
    """
    from vc_core.bench import bench_signal
    from vc_core.config import VoiceParams
    from vc_core.dsp.mel import VOCODER_RATE_HZ
    from vc_core.neural.voice import SPEAKER_DIM, NeuralStage, SpeakerTarget, load_base

    base = load_base(base_folder)
    speaker = np.zeros(SPEAKER_DIM, np.float32)
    speaker[0] = 1.0
    stage = NeuralStage(base, SpeakerTarget(speaker, 150.0), VoiceParams())
    x = bench_signal(VOCODER_RATE_HZ, audio_s + 0.2)
    block = VOCODER_RATE_HZ // 100
    stage.push(x[: VOCODER_RATE_HZ // 5])  # warm up: first calls allocate
    budget = give_up_rtf * audio_s
    spent = pushed = 0.0
    for i in range(VOCODER_RATE_HZ // 5, len(x), block):
        t0 = time.perf_counter()
        stage.push(x[i : i + block])
        spent += time.perf_counter() - t0
        pushed += block / VOCODER_RATE_HZ
        if spent > budget:
            break
    return spent / max(pushed, 1e-9)


def choose_base(
    requested: str,
    models_dir: Path,
    cache_file: Path | None = None,
    measure: Callable[[Path], float] = measure_stage_rtf,
) -> BaseChoice:
    """The base to run for ``requested`` (``auto``, ``quality`` or ``realtime``); see the module docstring.

    ``measure`` times the quality base (injectable: tests simulate a slow or fast machine). A
    missing real-time bundle makes ``auto`` keep the quality base, and says so.
    """
    if requested not in BASE_CHOICES:
        raise ConfigError(f"base {requested!r}: choose one of {', '.join(BASE_CHOICES)}")
    if requested != AUTO:
        folder = models_dir / BASE_FOLDERS[requested]
        if not (folder / "manifest.json").is_file():
            raise ConfigError(f"base {requested!r}: no model bundle at {folder}; reinstall the app's models")
        return BaseChoice(requested, BASE_FOLDERS[requested], "chosen by you")
    quality = models_dir / BASE_NAME
    if not (models_dir / REALTIME_BASE_NAME / "manifest.json").is_file():
        return BaseChoice(QUALITY, BASE_NAME, f"no real-time base in {models_dir}")
    if not (quality / "manifest.json").is_file():
        return BaseChoice(REALTIME, REALTIME_BASE_NAME, f"no quality base in {models_dir}")
    cache_file = cache_file or default_cache_file()
    key = machine_key(quality)
    cache = _read_cache(cache_file)
    rtf = cache.get(key)
    how = "measured earlier on this machine"
    if not isinstance(rtf, (int, float)):
        t0 = time.perf_counter()
        rtf = float(measure(quality))
        how = f"measured now in {time.perf_counter() - t0:.1f} s"
        cache[key] = rtf
        _write_cache(cache_file, cache)
        log.info("quality base RTF %.2f on this machine (%s)", rtf, how)
    if rtf <= MAX_LIVE_RTF:
        return BaseChoice(QUALITY, BASE_NAME, f"the quality base keeps up here (RTF {rtf:.2f}, {how})", rtf)
    return BaseChoice(
        REALTIME,
        REALTIME_BASE_NAME,
        f"the quality base is too slow here (RTF {rtf:.2f} > {MAX_LIVE_RTF}, {how})",
        rtf,
    )


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    """Atomic (the reports' writer): a crash leaves the old file or the new one. A read-only cache
    folder is not an error."""
    from vc_core.io.reports import write_json_report

    try:
        write_json_report(path, data)
    except OSError as e:
        log.warning("cannot remember the base speed in %s: %s", path, e)


def load_voice(
    library: VoiceLibrary,
    name: str,
    requested: str = AUTO,
    cache_file: Path | None = None,
    measure: Callable[[Path], float] = measure_stage_rtf,
) -> tuple[Voice, BaseChoice | None]:
    """The voice ``name`` on the base :func:`choose_base` picks (the CLI's and the app's one way to
    load a voice for a session); the choice is None for a voice without a neural base."""
    from vc_core.voices.bundle import shipped_models_dir

    if library.manifest_of(name).kind != "neural":
        return library.load(name), None
    choice = choose_base(requested, shipped_models_dir(), cache_file, measure)
    return library.load(name, choice.folder_name), choice


def present_bases(models_dir: Path) -> tuple[str, ...]:
    """Folder names of the neural bases in ``models_dir``, quality first."""
    return tuple(f for f in (BASE_NAME, REALTIME_BASE_NAME) if (models_dir / f / "manifest.json").is_file())
