"""Preview playback to the monitor (or output) device, through `vc_core.io.portaudio`.

PortAudio plays from its own thread; the Qt main thread only starts and stops it.
"""

from __future__ import annotations

from vc_core.io.portaudio import play
from vc_core.io.portaudio import stop_playback as stop

__all__ = ["play", "stop"]
