"""Fixtures shared by the suite: the private PipeWire server (started once, stopped by PID)."""

from tests.support.pipewire import pipewire, pipewire_session  # noqa: F401  (fixtures)
