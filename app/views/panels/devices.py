"""Device pickers: microphone, output and monitor, the rates, and Refresh (DevicesViewModel)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from app.viewmodels.devices import DevicesViewModel
from app.views.controls import Panel
from vc_core.engine.live import EngineStats
from vc_core.io.devices import DeviceInfo

ROLE_TITLES = (("input", "Microphone"), ("output", "Output"), ("monitor", "Monitor (headphones)"))


def device_text(d: DeviceInfo, role: str) -> str:
    default = d.is_default_input if role == "input" else d.is_default_output
    return f"{d.name}  ·  {d.host_api}" + ("  (default)" if default else "")


class DevicesPanel(Panel):
    def __init__(self, devices: DevicesViewModel, notify: Callable[[str], None]) -> None:
        super().__init__(None)
        self.devices = devices
        row = QHBoxLayout()
        row.setSpacing(12)
        self.combos: dict[str, QComboBox] = {}
        for role, label in ROLE_TITLES:
            box = QVBoxLayout()
            box.setSpacing(4)
            lab = QLabel(label.upper())
            lab.setObjectName("panelTitle")
            combo = QComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(18)
            combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            combo.activated.connect(lambda i, r=role: self._picked(r, i))
            self.combos[role] = combo
            box.addWidget(lab)
            box.addWidget(combo)
            row.addLayout(box, 1)
        side = QVBoxLayout()
        side.setSpacing(4)
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("muted")
        self.refresh_btn = QPushButton("⟳  Refresh")
        self.refresh_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.refresh_btn.setToolTip(
            "Look for devices again (while live, in a separate process: audio is not interrupted)"
        )
        side.addWidget(self.rate_label)
        side.addWidget(self.refresh_btn)
        row.addLayout(side)
        self.lay.addLayout(row)

        devices.devicesChanged.connect(self.fill)
        devices.selectionChanged.connect(lambda _r: self.fill())
        devices.error.connect(notify)
        self.refresh_btn.clicked.connect(devices.refresh_async)
        self.fill()

    def fill(self) -> None:
        for role, combo in self.combos.items():
            combo.clear()
            opts = self.devices.options(role)
            if role == "monitor":
                combo.addItem("None", None)
            for i, dev in enumerate(opts):
                combo.addItem(device_text(dev, "input" if role == "input" else "output"), i)
                combo.setItemData(combo.count() - 1, dev.label(), Qt.ItemDataRole.ToolTipRole)
            sel = self.devices.selected(role)
            idx = 0
            if sel is not None:
                for j in range(combo.count()):
                    data = combo.itemData(j)
                    if data is not None and opts[data] == sel:
                        idx = j
            if combo.count() == 0:
                combo.addItem("no device found", None)
            combo.setCurrentIndex(idx)
        self.rate_label.setText(self.devices.rate_text())

    def _picked(self, role: str, index: int) -> None:
        data = self.combos[role].itemData(index)
        opts = self.devices.options(role)
        self.devices.select(role, None if data is None else opts[data])

    def show_stream(self, s: EngineStats) -> None:
        """The rates and block the running stream uses, beside the devices' own."""
        if s.device_rate_hz and s.running:
            out = s.output_rate_hz
            rates = f"{s.device_rate_hz / 1000:g}" + (f" → {out / 1000:g}" if out and out != s.device_rate_hz else "")
            self.rate_label.setText(f"running {rates} kHz, block {s.block_frames} · {self.devices.rate_text()}")

    def set_settled(self, settled: bool) -> None:
        """Refresh only while the stream is stopped or running (not while it opens or closes)."""
        self.refresh_btn.setEnabled(settled)
