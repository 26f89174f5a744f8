"""Preview playback to the monitor (or output) device through sounddevice's own stream.

PortAudio plays from its own thread; the Qt main thread only starts and stops it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np

from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo

log = logging.getLogger(__name__)


def play(audio: np.ndarray, rate_hz: int, device: DeviceInfo) -> None:
    """Start playing mono ``audio`` (T,) at ``rate_hz`` on ``device``; returns at once."""
    try:
        sd: Any = importlib.import_module("sounddevice")
    except OSError as e:
        raise DeviceError(f"PortAudio is not available ({e})") from e
    try:
        sd.stop()
        sd.play(np.asarray(audio, dtype=np.float32), rate_hz, device=device.index)
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot play on {device.label()} at {rate_hz} Hz: {e}") from e


def stop() -> None:
    try:
        sd: Any = importlib.import_module("sounddevice")
        sd.stop()
    except (OSError, Exception) as e:  # nothing to stop, or PortAudio gone
        log.debug("stop playback: %s", e)
