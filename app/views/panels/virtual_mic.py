"""The Virtual microphone panel: its status, Create / Remove / Play into it (VirtualMicViewModel)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton

from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.virtual_mic import VirtualMicViewModel
from app.views.controls import Panel


class VirtualMicPanel(Panel):
    def __init__(self, vmic: VirtualMicViewModel, devices: DevicesViewModel, notify: Callable[..., None]) -> None:
        super().__init__("Virtual microphone")
        self.status = QLabel(vmic.status_text)
        self.status.setWordWrap(True)
        self.lay.addWidget(self.status)
        row = QHBoxLayout()
        self.create_btn = QPushButton("Create")
        self.remove_btn = QPushButton("Remove")
        self.use_btn = QPushButton("Play into it")
        self.use_btn.setToolTip("Route this app's output into the virtual mic (ALSA 'pulse' device + PULSE_SINK)")
        buttons = (self.create_btn, self.remove_btn, self.use_btn)
        for b in buttons:
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(b)
        row.addStretch(1)
        guide = QPushButton("How it works")
        guide.setObjectName("flat")
        guide.setToolTip(vmic.guidance)
        guide.clicked.connect(lambda: notify(vmic.guidance, "info"))
        row.addWidget(guide)
        self.lay.addLayout(row)
        if not vmic.can_manage:
            for b in buttons:
                b.setEnabled(False)
                b.setToolTip("Linux only: " + vmic.guidance)

        vmic.statusChanged.connect(self.status.setText)
        vmic.error.connect(notify)
        vmic.info.connect(lambda m: notify(m, "info"))
        self.create_btn.clicked.connect(vmic.create)
        self.remove_btn.clicked.connect(vmic.remove)
        self.use_btn.clicked.connect(lambda: vmic.play_into(devices))
