"""Device pickers: input, output and monitor, by name + host API, default first.

Refreshing re-initialises PortAudio (the only way it sees new hardware); that interrupts every
stream of this process, so it is refused while live and the current list is kept. Any failure is
reported on ``error`` and the previous lists and selection stay as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal

from app.viewmodels.tasks import TaskRunner
from vc_core.errors import DeviceError
from vc_core.io.devices import DeviceInfo, list_devices, reinitialize_portaudio

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (name, host API): how devices are saved and re-found
ROLES = ("input", "output", "monitor")


def key_of(dev: DeviceInfo | None) -> Key | None:
    return None if dev is None else (dev.name, dev.host_api)


class DevicesViewModel(QObject):
    """Lists and selection. ``selected(role)`` is a DeviceInfo from the latest scan, or None."""

    devicesChanged = pyqtSignal()  # lists changed (re-populate the pickers)
    selectionChanged = pyqtSignal(str)  # role whose selection changed
    error = pyqtSignal(str)

    def __init__(
        self,
        lister: Callable[[str], list[DeviceInfo]] = list_devices,  # type: ignore[assignment]
        rescan: Callable[[], None] = reinitialize_portaudio,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._lister = lister
        self._rescan = rescan
        self.inputs: list[DeviceInfo] = []
        self.outputs: list[DeviceInfo] = []
        self._selected: dict[str, DeviceInfo | None] = dict.fromkeys(ROLES)
        self.live = False  # NB: written by the live view-model (main thread): rescans go to a child process
        self._tasks = TaskRunner(self)

    def options(self, role: str) -> list[DeviceInfo]:
        return self.inputs if role == "input" else self.outputs

    def selected(self, role: str) -> DeviceInfo | None:
        return self._selected[role]

    def refresh_async(self) -> None:
        """:meth:`refresh` with the (slow) scan on a worker thread; the result lands on the main thread."""
        if self._tasks.busy:
            return
        want = {r: key_of(self._selected[r]) for r in ROLES}
        isolated = self.live

        def scan() -> tuple[list[DeviceInfo], list[DeviceInfo]]:
            if not isolated:
                self._rescan()
            return self._list("input", isolated), self._list("output", isolated)

        self._tasks.run(
            scan,
            "listing audio devices",
            lambda r: self._apply(r[0], r[1], want),
            lambda m: self.error.emit(f"could not list audio devices, keeping the previous list: {m}"),
        )

    def refresh(self, rescan: bool = True, wanted: dict[str, Key | None] | None = None) -> bool:
        """Re-list devices; keep or restore the selection by key.

        ``rescan``: stopped, re-initialise this process's PortAudio; live, list from a fresh
        PortAudio in a child process (``list_devices(rescan=True)``), so the stream is untouched.
        """
        want = wanted or {r: key_of(self._selected[r]) for r in ROLES}
        isolated = rescan and self.live
        try:
            if rescan and not self.live:
                self._rescan()
            inputs = self._list("input", isolated)
            outputs = self._list("output", isolated)
        except DeviceError as e:
            self.error.emit(f"could not list audio devices, keeping the previous list: {e}")
            return False
        self._apply(inputs, outputs, want)
        return True

    def _apply(self, inputs: list[DeviceInfo], outputs: list[DeviceInfo], want: dict[str, Key | None]) -> None:
        self.inputs, self.outputs = inputs, outputs
        for role in ROLES:
            opts = self.options(role)
            found = self._find(opts, want.get(role))
            if found is None and role != "monitor":
                found = opts[0] if opts else None  # default first
            self._selected[role] = found
        self.devicesChanged.emit()
        for role in ROLES:
            self.selectionChanged.emit(role)

    def _list(self, kind: str, isolated: bool) -> list[DeviceInfo]:
        if isolated and self._lister is list_devices:
            return list_devices(kind, rescan=True)  # type: ignore[arg-type]
        return self._lister(kind)

    @staticmethod
    def _find(opts: list[DeviceInfo], key: Key | None) -> DeviceInfo | None:
        if key is None:
            return None
        name, api = key
        for d in opts:
            if d.name == name and (api is None or d.host_api == api):
                return d
        return None

    def select(self, role: str, dev: DeviceInfo | None, *, quiet: bool = False) -> None:
        """Choose ``dev`` for ``role`` (None: no monitor); ``quiet`` skips selectionChanged (reverts)."""
        if role not in ROLES:
            raise ValueError(role)
        if key_of(dev) == key_of(self._selected[role]) and dev == self._selected[role]:
            return
        self._selected[role] = dev
        if not quiet:
            self.selectionChanged.emit(role)
        else:
            self.devicesChanged.emit()

    def select_key(self, role: str, key: Key | None) -> bool:
        dev = self._find(self.options(role), key)
        if dev is None and key is not None:
            return False
        self.select(role, dev)
        return True

    def rate_text(self) -> str:
        """Default rates of the selected input and output, for the picker row."""
        rates = [d.default_samplerate_hz / 1000 for d in (self._selected["input"], self._selected["output"]) if d]
        if not rates:
            return "no device"
        return "device default " + " / ".join(f"{r:g}" for r in rates) + " kHz"

    def saved(self) -> dict[str, dict[str, str] | None]:
        return {r: (None if d is None else {"name": d.name, "host_api": d.host_api}) for r, d in self._selected.items()}
