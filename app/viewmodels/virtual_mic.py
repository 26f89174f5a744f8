"""Virtual microphone: create/remove/status on Linux (pactl, on a worker); detection + guidance elsewhere."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.tasks import TaskRunner
from vc_core.errors import DeviceError
from vc_core.io import routing
from vc_core.io.devices import virtual_cable_candidates, virtual_mic_guidance

log = logging.getLogger(__name__)


class VirtualMicViewModel(QObject):
    """``status_text`` says what exists; ``can_manage`` is True on Linux only."""

    statusChanged = pyqtSignal(str)
    busyChanged = pyqtSignal(bool)
    error = pyqtSignal(str)
    info = pyqtSignal(str)

    def __init__(self, state_path: Path | None = None, platform: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.platform = platform or sys.platform
        self.can_manage = self.platform.startswith("linux")
        self.guidance = virtual_mic_guidance(self.platform)
        self.state_path = state_path
        self.present = False
        self.status_text = "not checked yet"
        self._tasks = TaskRunner(self)
        self._tasks.busyChanged.connect(self.busyChanged)

    def refresh(self) -> None:
        if not self.can_manage:
            self._tasks.run(self._detect_cables, "looking for virtual cables", self._set_status, self._failed)
            return
        self._tasks.run(
            lambda: routing.virtual_mic_status(self.state_path), "virtual mic status", self._on_status, self._failed
        )

    @staticmethod
    def _detect_cables() -> str:
        try:
            found = virtual_cable_candidates("output")
        except DeviceError as e:
            return f"could not list devices: {e}"
        if not found:
            return "no virtual cable found"
        return "found: " + ", ".join(d.label() for d in found)

    def _on_status(self, st: object) -> None:
        assert isinstance(st, routing.VirtualMicStatus)
        self.present = st.present
        if st.present:
            text = f"'{routing.SOURCE_DESCRIPTION}' is ready on {st.server}: choose it as the microphone in other apps"
        else:
            text = f"no virtual microphone on {st.server}"
        self._set_status(text)

    def _set_status(self, text: object) -> None:
        self.status_text = str(text)
        self.statusChanged.emit(self.status_text)

    def _failed(self, msg: str) -> None:
        self.present = False
        self._set_status("unavailable")
        self.error.emit(f"virtual microphone: {msg}")

    def create(self) -> None:
        if not self.can_manage:
            self.error.emit(self.guidance)
            return
        self._tasks.run(
            lambda: routing.create_virtual_mic(state_path=self.state_path),
            "creating the virtual mic",
            lambda _: self.refresh(),
            self._failed,
        )

    def remove(self) -> None:
        if not self.can_manage:
            return
        self._tasks.run(
            lambda: routing.remove_virtual_mic(self.state_path),
            "removing the virtual mic",
            lambda _: self.refresh(),
            self._failed,
        )

    def play_into(self, devices: DevicesViewModel) -> bool:
        """Route this app's output into the virtual mic: the ALSA ``pulse`` device, told to play
        into the mic's sink (as ``vc live --virtual-mic``). False, with ``error``, when there is no
        such device."""
        device = routing.play_into_sink(routing.SINK_NAME)
        if not devices.select_key("output", (device, "ALSA")):
            self.error.emit(
                f"no ALSA '{device}' output device: install libasound2-plugins, or pick 'VoiceChanger' as the "
                "output if your system lists it"
            )
            return False
        self.info.emit(
            f"output set to the virtual microphone: other apps can now record '{routing.SOURCE_DESCRIPTION}'"
        )
        return True

    def wait(self) -> None:
        self._tasks.wait_all()
