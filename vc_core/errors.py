"""One error root for the engine, with a few specific children.

Messages name the field or file, the value and what would be accepted, so the CLI can print
them as they are and the GUI can show them in a banner.
"""

from __future__ import annotations


class VcError(Exception):
    """Root of every error the engine raises on purpose (CLI exit code 2)."""


class ConfigError(VcError, ValueError):
    """A setting is out of range or of the wrong kind."""


class AudioFileError(VcError):
    """An input file is missing, unreadable, empty or holds NaN/Inf; an output path is unusable."""


class DeviceError(VcError):
    """An audio device cannot be found, opened or kept running."""


class ModelBundleError(VcError):
    """A voice bundle is missing, malformed or fails verification (hash, files, I/O names)."""


class RoutingError(VcError):
    """The virtual microphone cannot be created or removed (no sound server, pactl failed)."""


class ReferenceClipError(VcError):
    """A reference clip cannot make a voice: too short, silent, clipped or not speech."""
