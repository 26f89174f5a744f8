"""The one way into PortAudio: sounddevice is loaded here and nowhere else.

Loading is lazy, so importing `vc_core` never needs the PortAudio library; a missing library is one
DeviceError with one message, whichever front end asked.
"""

from __future__ import annotations

import importlib
from typing import Any

from vc_core.errors import DeviceError


def load_sounddevice() -> Any:
    """The sounddevice module (PortAudio initialised at its first import); DeviceError if PortAudio is missing."""
    try:
        # import_module keeps mypy off sounddevice, which ships no type information.
        return importlib.import_module("sounddevice")
    except OSError as exc:  # raised by sounddevice when libportaudio cannot be loaded
        raise DeviceError(
            f"PortAudio is not available ({exc}): install it (Debian/Ubuntu: apt-get install libportaudio2)"
        ) from exc
