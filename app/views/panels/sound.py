"""The Sound panel: pitch, formant, gate, gains, monitor mix, latency preset, neural base, mic cleanup
(the controls of LiveViewModel)."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QStandardItemModel
from PyQt6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel

from app.viewmodels.live import PRESETS, Controls, LiveViewModel
from app.views.controls import Panel, ValueSlider
from vc_core.config import DenoiseSetting
from vc_core.neural.choice import BASE_CHOICES, BASE_LABELS, QUALITY, REALTIME

BASE_TOOLTIP = (
    "Automatic: the best-quality base where this machine keeps up live, else the real-time CPU base "
    "(measured once)\n\nNeural voices only. While live, a change takes effect at the next start or voice "
    "switch (the devices stay open)."
)
BASE_ITEM_TIPS = {
    QUALITY: "Whisper + HiFi-GAN: loses the fewest words; needs a GPU to run live",
    REALTIME: "Runs live on one CPU core",
}
DENOISE_TITLES = {
    DenoiseSetting.OFF: "Off",
    DenoiseSetting.LIGHT: "Light · RNNoise",
    DenoiseSetting.STRONG: "Strong · DeepFilterNet3",
}
DENOISE_TOOLTIP = (
    "Removes background noise (fans, keyboards, traffic, other voices) before the voice converts it.\n"
    "Light: RNNoise, cheap. Strong: DeepFilterNet3, cleaner, more CPU.\n\n"
    "Turning it on while live restarts the stream once; after that every setting switches live."
)
SLIDER_TITLES = {
    "pitch_semitones": "Pitch",
    "formant_ratio": "Formant",
    "gate_threshold_dbfs": "Noise gate",
    "input_gain_db": "Input gain",
    "output_gain_db": "Output gain",
    "monitor_gain_db": "Monitor gain",
    "monitor_wet_ratio": "Monitor mix",
}


def _muted(text: str, tip: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("muted")
    if tip:
        lab.setToolTip(tip)
    return lab


def _combo(tip: str = "") -> QComboBox:
    c = QComboBox()
    c.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if tip:
        c.setToolTip(tip)
    return c


class SoundPanel(Panel):
    def __init__(self, live: LiveViewModel) -> None:
        super().__init__("Sound")
        self.live = live
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        st = lambda v: f"{v:+.1f} st"  # noqa: E731
        db = lambda v: f"{v:+.1f} dB"  # noqa: E731
        self.sliders: dict[str, ValueSlider] = {
            "pitch_semitones": ValueSlider(-12, 12, 0.5, st),
            "formant_ratio": ValueSlider(0.7, 1.4, 0.01, lambda v: f"× {v:.2f}"),
            "gate_threshold_dbfs": ValueSlider(-80, 0, 1, lambda v: f"{v:.0f} dBFS"),
            "input_gain_db": ValueSlider(-40, 24, 0.5, db),
            "output_gain_db": ValueSlider(-40, 24, 0.5, db),
            "monitor_gain_db": ValueSlider(-40, 24, 0.5, db),
            "monitor_wet_ratio": ValueSlider(0, 1, 0.01, lambda v: f"{100 * v:.0f} % wet"),
        }
        self.gate_check = QCheckBox()
        self.gate_check.setToolTip("Noise gate on/off: silences the input below the threshold")
        self.gate_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for i, key in enumerate(SLIDER_TITLES):
            r, c = i % 4, (i // 4) * 3
            lab = _muted(SLIDER_TITLES[key])
            if key == "gate_threshold_dbfs":
                h = QHBoxLayout()
                h.setSpacing(6)
                h.addWidget(self.gate_check)
                h.addWidget(lab)
                grid.addLayout(h, r, c)
            else:
                grid.addWidget(lab, r, c)
            grid.addWidget(self.sliders[key], r, c + 1)
            grid.setColumnStretch(c + 1, 1)
            if c == 0:
                grid.setColumnMinimumWidth(2, 12)
        self.preset_combo = _combo()
        for key, p in PRESETS.items():
            self.preset_combo.addItem(f"{p.title} · block {p.block_frames}, safety {p.safety_ms:g} ms", key)
        grid.addWidget(_muted("Latency"), 3, 3)
        grid.addWidget(self.preset_combo, 3, 4)
        self.base_combo = _combo(BASE_TOOLTIP)
        for key in BASE_CHOICES:
            self.base_combo.addItem(BASE_LABELS[key], key)
            if key in BASE_ITEM_TIPS:
                self.base_combo.setItemData(
                    self.base_combo.count() - 1, BASE_ITEM_TIPS[key], Qt.ItemDataRole.ToolTipRole
                )
        grid.addWidget(_muted("Neural base", BASE_TOOLTIP), 4, 0)
        grid.addWidget(self.base_combo, 4, 1)
        self.denoise_combo = _combo(DENOISE_TOOLTIP)
        model = self.denoise_combo.model()
        for setting, title in DENOISE_TITLES.items():
            self.denoise_combo.addItem(title, setting.value)
            reason = live.denoise_unavailable.get(setting)
            item = model.item(self.denoise_combo.count() - 1) if isinstance(model, QStandardItemModel) else None
            if reason is not None and item is not None:
                item.setEnabled(False)  # greyed, with the reason as its tooltip
                item.setToolTip(f"unavailable: {reason}")
        grid.addWidget(_muted("Mic cleanup", DENOISE_TOOLTIP), 4, 3)
        grid.addWidget(self.denoise_combo, 4, 4)
        self.lay.addLayout(grid)

        live.controlsChanged.connect(self.show_controls)
        live.presetChanged.connect(lambda name: _select(self.preset_combo, name))
        live.baseRequestChanged.connect(lambda request: _select(self.base_combo, request))
        for key, s in self.sliders.items():
            s.changed.connect(lambda v, k=key: live.set_control(k, v))
        self.gate_check.toggled.connect(lambda on: live.set_control("gate_enabled", on))
        self.preset_combo.activated.connect(lambda i: live.set_preset(self.preset_combo.itemData(i)))
        self.base_combo.activated.connect(lambda i: live.set_base_request(self.base_combo.itemData(i)))
        self.denoise_combo.activated.connect(lambda i: live.set_denoise(self.denoise_combo.itemData(i)))
        self.show_controls(live.controls)
        _select(self.preset_combo, live.preset)
        _select(self.base_combo, live.base_request)

    def show_controls(self, c: Controls) -> None:
        for key, s in self.sliders.items():
            s.set_value(float(getattr(c, key)))
        self.gate_check.blockSignals(True)
        self.gate_check.setChecked(c.gate_enabled)
        self.gate_check.blockSignals(False)
        self.sliders["gate_threshold_dbfs"].setEnabled(c.gate_enabled)
        _select(self.denoise_combo, c.denoise)


def _select(combo: QComboBox, data: str) -> None:
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)
