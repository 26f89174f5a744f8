"""The main window: device pickers, voice cards, Start/Passthrough, controls, meters, readouts, plot.

Binds to the view-models only; every action is a view-model call and every display is driven
by a view-model signal (the stats snapshot arrives ~20 times a second while live).
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

from PyQt6.QtCore import QByteArray, Qt
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut, QStandardItemModel
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings
from app.viewmodels.convert import ConvertViewModel
from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.live import PRESETS, Calibration, Controls, LiveViewModel
from app.viewmodels.virtual_mic import VirtualMicViewModel
from app.viewmodels.voice_clip import VoiceClipViewModel
from app.views.controls import Readout, ValueSlider, panel
from app.views.widgets import Banner, LevelMeter, ScrollingPlot, VoiceCard, repolish
from vc_core.config import DenoiseSetting
from vc_core.engine.live import EngineStats
from vc_core.io.devices import DeviceInfo
from vc_core.live.controller import LiveState
from vc_core.neural.choice import BASE_CHOICES, BASE_LABELS, QUALITY, REALTIME

SHORTCUTS = [
    ("Space", "Start / stop the live voice"),
    ("P", "Passthrough on / off (hear your own voice, unconverted)"),
    ("1 – 9", "Switch to the first nine voices (crossfades while live)"),
    ("Ctrl+N", "New voice from a clip (5–30 s of someone speaking)…"),
    ("Ctrl+O", "Convert files…"),
    ("Ctrl+I", "Import a voice bundle…"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
]
CARD_COLUMNS = 3
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
STAGE_LABELS = {
    "resample_denoise": "dn-in",
    "denoise": "denoise",
    "resample_in": "in",
    "gate": "gate",
    "voice": "voice",
    "output_gain": "gain",
    "resample_out": "out",
}


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 18, 18, 18)
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["Key", "Action"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (k, v) in enumerate(SHORTCUTS):
            table.setItem(i, 0, QTableWidgetItem(k))
            table.setItem(i, 1, QTableWidgetItem(v))
        table.resizeColumnsToContents()
        lay.addWidget(table)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(520, 330)


def _device_text(d: DeviceInfo, role: str) -> str:
    default = d.is_default_input if role == "input" else d.is_default_output
    return f"{d.name}  ·  {d.host_api}" + ("  (default)" if default else "")


class MainWindow(QMainWindow):
    def __init__(
        self,
        devices: DevicesViewModel,
        library: LibraryViewModel,
        live: LiveViewModel,
        vmic: VirtualMicViewModel,
        convert: ConvertViewModel,
        voice_clip: VoiceClipViewModel,
        settings: Settings,
    ) -> None:
        super().__init__()
        self.devices, self.library, self.live, self.vmic, self.convert = devices, library, live, vmic, convert
        self.voice_clip = voice_clip
        self.settings = settings
        self.cards: dict[str, VoiceCard] = {}
        self._convert_dialog: QDialog | None = None
        self._voice_clip_dialog: QDialog | None = None
        self._shown_engine_error = ""
        self.setWindowTitle("voicechanger")
        self.setMinimumSize(1080, 720)
        self._build()
        self._menus()
        self._shortcuts()
        self._bind()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        root = QWidget()
        root.setObjectName("central")
        self.setCentralWidget(root)
        outer = QVBoxLayout(root)
        outer.setContentsMargins(20, 14, 20, 18)
        outer.setSpacing(14)

        head = QHBoxLayout()
        title = QLabel("voicechanger")
        title.setObjectName("appTitle")
        sub = QLabel("real-time voice, measured latency")
        sub.setObjectName("appSubtitle")
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(sub, 0, Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        self.state_pill = QLabel("STOPPED")
        self.state_pill.setObjectName("statePill")
        head.addWidget(self.state_pill)
        outer.addLayout(head)

        self.banner = Banner()
        outer.addWidget(self.banner)

        # devices row
        dev_frame, dev_lay = panel(None)
        row = QHBoxLayout()
        row.setSpacing(12)
        self.combos: dict[str, QComboBox] = {}
        for role, label in (("input", "Microphone"), ("output", "Output"), ("monitor", "Monitor (headphones)")):
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
        dev_lay.addLayout(row)
        outer.addWidget(dev_frame)

        body = QHBoxLayout()
        body.setSpacing(14)
        outer.addLayout(body, 1)
        left = QVBoxLayout()
        left.setSpacing(14)
        right = QVBoxLayout()
        right.setSpacing(14)
        body.addLayout(left, 3)
        body.addLayout(right, 2)

        # voices
        vf, vl = panel(None)
        top = QHBoxLayout()
        t = QLabel("VOICES")
        t.setObjectName("panelTitle")
        top.addWidget(t)
        top.addStretch(1)
        self.new_voice_btn = QPushButton("+  New voice from clip…")
        self.new_voice_btn.setToolTip("Make a voice from 5–30 s of someone speaking: a file or a recording (Ctrl+N)")
        self.import_btn = QPushButton("Import bundle…")
        self.convert_btn = QPushButton("Convert files…")
        for b in (self.new_voice_btn, self.import_btn, self.convert_btn):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            top.addWidget(b)
        vl.addLayout(top)
        self.cards_host = QWidget()
        self.cards_grid = QGridLayout(self.cards_host)
        self.cards_grid.setContentsMargins(0, 0, 4, 0)
        self.cards_grid.setSpacing(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        scroll.setMinimumHeight(250)
        vl.addWidget(scroll, 1)
        left.addWidget(vf, 1)

        # controls
        cf, cl = panel("Sound")
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
        labels = {
            "pitch_semitones": "Pitch",
            "formant_ratio": "Formant",
            "gate_threshold_dbfs": "Noise gate",
            "input_gain_db": "Input gain",
            "output_gain_db": "Output gain",
            "monitor_gain_db": "Monitor gain",
            "monitor_wet_ratio": "Monitor mix",
        }
        self.gate_check = QCheckBox()
        self.gate_check.setToolTip("Noise gate on/off: silences the input below the threshold")
        self.gate_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        order = [
            "pitch_semitones",
            "formant_ratio",
            "gate_threshold_dbfs",
            "input_gain_db",
            "output_gain_db",
            "monitor_gain_db",
            "monitor_wet_ratio",
        ]
        for i, key in enumerate(order):
            r, c = i % 4, (i // 4) * 3
            lab = QLabel(labels[key])
            lab.setObjectName("muted")
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
        lat_lab = QLabel("Latency")
        lat_lab.setObjectName("muted")
        self.preset_combo = QComboBox()
        self.preset_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for key, p in PRESETS.items():
            self.preset_combo.addItem(f"{p.title} · block {p.block_frames}, safety {p.safety_ms:g} ms", key)
        grid.addWidget(lat_lab, 3, 3)
        grid.addWidget(self.preset_combo, 3, 4)
        base_lab = QLabel("Neural base")
        base_lab.setObjectName("muted")
        base_lab.setToolTip(BASE_TOOLTIP)
        self.base_combo = QComboBox()
        self.base_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.base_combo.setToolTip(BASE_TOOLTIP)
        for key in BASE_CHOICES:
            self.base_combo.addItem(BASE_LABELS[key], key)
            if key in BASE_ITEM_TIPS:
                self.base_combo.setItemData(
                    self.base_combo.count() - 1, BASE_ITEM_TIPS[key], Qt.ItemDataRole.ToolTipRole
                )
        grid.addWidget(base_lab, 4, 0)
        grid.addWidget(self.base_combo, 4, 1)
        clean_lab = QLabel("Mic cleanup")
        clean_lab.setObjectName("muted")
        clean_lab.setToolTip(DENOISE_TOOLTIP)
        self.denoise_combo = QComboBox()
        self.denoise_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.denoise_combo.setToolTip(DENOISE_TOOLTIP)
        model = self.denoise_combo.model()
        for setting, title in DENOISE_TITLES.items():
            self.denoise_combo.addItem(title, setting.value)
            reason = self.live.denoise_unavailable.get(setting)
            if reason is not None and isinstance(model, QStandardItemModel):
                item = model.item(self.denoise_combo.count() - 1)
                if item is not None:
                    item.setEnabled(False)  # greyed, with the reason as its tooltip
                    item.setToolTip(f"unavailable: {reason}")
        grid.addWidget(clean_lab, 4, 3)
        grid.addWidget(self.denoise_combo, 4, 4)
        cl.addLayout(grid)
        left.addWidget(cf)

        # live panel
        lf, ll = panel("Live")
        btns = QHBoxLayout()
        btns.setSpacing(10)
        self.start_btn = QPushButton("▶  Start")
        self.start_btn.setObjectName("startButton")
        self.start_btn.setToolTip("Start / stop (Space)")
        self.pass_btn = QPushButton("Passthrough")
        self.pass_btn.setObjectName("passButton")
        self.pass_btn.setCheckable(True)
        self.pass_btn.setToolTip("Hear your own voice, unconverted (P)")
        for b in (self.start_btn, self.pass_btn):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        btns.addWidget(self.start_btn, 3)
        btns.addWidget(self.pass_btn, 2)
        ll.addLayout(btns)
        self.meter_in = LevelMeter("INPUT")
        self.meter_out = LevelMeter("OUTPUT")
        ll.addWidget(self.meter_in)
        ll.addWidget(self.meter_out)
        tiles = QGridLayout()
        tiles.setHorizontalSpacing(18)
        tiles.setVerticalSpacing(10)
        self.r_expected = Readout("expected latency")
        self.r_now = Readout("latency now")
        self.r_measured = Readout("measured round trip")
        self.r_rtf = Readout("CPU (RTF)")
        self.r_xruns = Readout("xruns")
        self.r_queue = Readout("queue")
        tiles_order = (self.r_expected, self.r_now, self.r_measured, self.r_rtf, self.r_xruns, self.r_queue)
        for i, r in enumerate(tiles_order):
            tiles.addWidget(r, i // 3, i % 3)
        ll.addLayout(tiles)
        self.stages_label = QLabel("per stage: —")
        self.stages_label.setObjectName("muted")
        self.stages_label.setWordWrap(True)
        ll.addWidget(self.stages_label)
        self.base_label = QLabel("—")
        self.base_label.setObjectName("muted")
        self.base_label.setWordWrap(True)
        self.base_label.setToolTip('The neural base the running voice uses, and why (see "Neural base")')
        ll.addWidget(self.base_label)
        self.plot = ScrollingPlot()
        ll.addWidget(self.plot, 1)
        cal = QHBoxLayout()
        self.calibrate_btn = QPushButton("Calibrate latency")
        self.calibrate_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.calibrate_btn.setToolTip(
            "Plays a click train on the output and finds it in the input (needs a loopback: a cable, a virtual "
            "device, or the microphone at the speaker). While live the stream pauses for about 3 s."
        )
        self.calibration_label = QLabel("not measured yet")
        self.calibration_label.setObjectName("muted")
        self.calibration_label.setWordWrap(True)
        cal.addWidget(self.calibrate_btn)
        cal.addWidget(self.calibration_label, 1)
        ll.addLayout(cal)
        right.addWidget(lf, 1)

        # virtual mic
        mf, ml = panel("Virtual microphone")
        self.vmic_status = QLabel(self.vmic.status_text)
        self.vmic_status.setWordWrap(True)
        ml.addWidget(self.vmic_status)
        mrow = QHBoxLayout()
        self.vmic_create = QPushButton("Create")
        self.vmic_remove = QPushButton("Remove")
        self.vmic_use = QPushButton("Play into it")
        self.vmic_use.setToolTip("Route this app's output into the virtual mic (ALSA 'pulse' device + PULSE_SINK)")
        for b in (self.vmic_create, self.vmic_remove, self.vmic_use):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            mrow.addWidget(b)
        mrow.addStretch(1)
        guide = QPushButton("How it works")
        guide.setObjectName("flat")
        guide.setToolTip(self.vmic.guidance)
        guide.clicked.connect(lambda: self.banner.show_message(self.vmic.guidance, "info"))
        mrow.addWidget(guide)
        ml.addLayout(mrow)
        if not self.vmic.can_manage:
            for b in (self.vmic_create, self.vmic_remove, self.vmic_use):
                b.setEnabled(False)
                b.setToolTip("Linux only: " + self.vmic.guidance)
        left.addWidget(mf)

    def _menus(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        a = QAction("&New voice from clip…", self)
        a.setShortcut(QKeySequence("Ctrl+N"))
        a.triggered.connect(self.open_voice_clip_dialog)
        fm.addAction(a)
        a = QAction("&Convert files…", self)
        a.setShortcut(QKeySequence("Ctrl+O"))
        a.triggered.connect(self.open_convert_dialog)
        fm.addAction(a)
        a = QAction("&Import voice bundle…", self)
        a.setShortcut(QKeySequence("Ctrl+I"))
        a.triggered.connect(self._import)
        fm.addAction(a)
        fm.addSeparator()
        a = QAction("&Quit", self)
        a.setShortcut(QKeySequence("Ctrl+Q"))
        a.triggered.connect(self.close)
        fm.addAction(a)
        hm = mb.addMenu("&Help")
        self.shortcuts_action = QAction("&Shortcuts", self)
        self.shortcuts_action.setShortcut(QKeySequence("F1"))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        hm.addAction(self.shortcuts_action)

    def _shortcuts(self) -> None:
        ctx = Qt.ShortcutContext.WindowShortcut
        QShortcut(QKeySequence("Space"), self, self.on_start_clicked, context=ctx)
        QShortcut(QKeySequence("P"), self, self.live.toggle_passthrough, context=ctx)
        for i in range(9):
            QShortcut(QKeySequence(str(i + 1)), self, lambda i=i: self.library.select_index(i), context=ctx)

    def _bind(self) -> None:
        d, lib, live = self.devices, self.library, self.live
        d.devicesChanged.connect(self._fill_devices)
        d.selectionChanged.connect(lambda _r: self._fill_devices())
        d.error.connect(self.banner.show_message)
        self.refresh_btn.clicked.connect(d.refresh_async)
        lib.cardsChanged.connect(self._fill_cards)
        lib.selectedChanged.connect(self._mark_selected)
        lib.error.connect(self.banner.show_message)
        lib.sampleReady.connect(self._play_sample)
        d.selectionChanged.connect(lambda _r: self._update_card_play())
        lib.imported.connect(lambda n: self.banner.show_message(f"voice {n!r} imported and verified", "info"))
        self.import_btn.clicked.connect(self._import)
        self.new_voice_btn.clicked.connect(self.open_voice_clip_dialog)
        self.voice_clip.created.connect(
            lambda v: self.banner.show_message(f"voice {v.name!r} made from {v.clip.name}: it is in the list", "info")
        )
        self.convert_btn.clicked.connect(self.open_convert_dialog)
        live.stateChanged.connect(self._on_state)
        live.stats.connect(self._on_stats)
        live.error.connect(self.banner.show_message)
        live.info.connect(lambda m: self.banner.show_message(m, "info"))
        live.passthroughChanged.connect(self.pass_btn.setChecked)
        live.controlsChanged.connect(self._show_controls)
        live.presetChanged.connect(self._show_preset)
        live.calibratingChanged.connect(self._on_calibrating)
        live.calibrated.connect(self._on_calibrated)
        live.baseRequestChanged.connect(self._show_base_request)
        live.baseChosen.connect(lambda _c: self._show_base())
        self.start_btn.clicked.connect(self.on_start_clicked)
        self.pass_btn.clicked.connect(live.set_passthrough)
        for key, s in self.sliders.items():
            s.changed.connect(lambda v, k=key: live.set_control(k, v))
        self.gate_check.toggled.connect(lambda on: live.set_control("gate_enabled", on))
        self.preset_combo.activated.connect(lambda i: live.set_preset(self.preset_combo.itemData(i)))
        self.base_combo.activated.connect(lambda i: live.set_base_request(self.base_combo.itemData(i)))
        self.denoise_combo.activated.connect(lambda i: live.set_denoise(self.denoise_combo.itemData(i)))
        self.calibrate_btn.clicked.connect(live.calibrate)
        self.vmic.statusChanged.connect(self.vmic_status.setText)
        self.vmic.error.connect(self.banner.show_message)
        self.vmic.info.connect(lambda m: self.banner.show_message(m, "info"))
        self.vmic_create.clicked.connect(self.vmic.create)
        self.vmic_remove.clicked.connect(self.vmic.remove)
        self.vmic_use.clicked.connect(lambda: self.vmic.play_into(self.devices))
        self._show_controls(live.controls)
        self._show_preset(live.preset)
        self._show_base_request(live.base_request)
        self._on_state(live.state.value)
        self._fill_cards()
        self._fill_devices()

    # ------------------------------------------------------------------ devices

    def _fill_devices(self) -> None:
        for role, combo in self.combos.items():
            combo.clear()
            opts = self.devices.options(role)
            if role == "monitor":
                combo.addItem("None", None)
            for i, dev in enumerate(opts):
                combo.addItem(_device_text(dev, "input" if role == "input" else "output"), i)
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

    # ------------------------------------------------------------------ voices

    def _fill_cards(self) -> None:
        while self.cards_grid.count():
            item = self.cards_grid.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        self.cards.clear()
        usable = 0
        for i, card in enumerate(self.library.cards):
            key = None
            if card.error is None:
                usable += 1
                key = usable if usable <= 9 else None
            w = VoiceCard(card, key)
            w.clicked.connect(self.library.select)
            w.playRequested.connect(self.library.make_sample)
            self.cards[card.name] = w
            self.cards_grid.addWidget(w, i // CARD_COLUMNS, i % CARD_COLUMNS)
        self.cards_grid.setRowStretch(self.cards_grid.rowCount(), 1)
        self._mark_selected(self.library.selected)
        self._update_card_play()
        self._show_base()

    def _play_device(self) -> DeviceInfo | None:
        return self.devices.selected("monitor") or self.devices.selected("output")

    def _update_card_play(self) -> None:
        from app.viewmodels.library import SAMPLE_CLIP

        dev = self._play_device()
        for w in self.cards.values():
            if not SAMPLE_CLIP.is_file():
                w.play.setEnabled(False)
                w.play.setToolTip(f"sample clip {SAMPLE_CLIP} is missing")
            elif dev is None:
                w.play.setEnabled(False)
                w.play.setToolTip("No output or monitor device to play a sample on")
            else:
                w.play.setEnabled(True)
                w.play.setToolTip(f"Hear a sample of this voice on {dev.label()}")

    def _play_sample(self, name: str, audio: object, rate: int) -> None:
        from app import player
        from vc_core.errors import DeviceError

        dev = self._play_device()
        if dev is None:
            return
        try:
            player.play(audio, rate, dev)  # type: ignore[arg-type]
        except DeviceError as e:
            self.banner.show_message(f"could not play the sample of {name}: {e}")

    def _mark_selected(self, name: str) -> None:
        for n, w in self.cards.items():
            w.set_selected(n == name)

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a voice bundle (.zip)", "", "Voice bundles (*.zip)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "…or pick a bundle folder")
        if path:
            self.library.import_bundle(Path(path))

    # ------------------------------------------------------------------ live

    def on_start_clicked(self) -> None:
        out = self.live.output_needing_confirmation()
        if out is not None:
            answer = QMessageBox.question(
                self,
                "Play on this output?",
                f"The converted microphone will play on {out.label()}. If that is a loudspeaker the "
                "microphone will hear it and howl.\n\nUse headphones or the virtual microphone. Continue?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            self.live.confirm_output(out)
        self.live.toggle()

    def _on_state(self, value: str) -> None:
        state = LiveState(value)
        self.state_pill.setText(value.upper())
        self.state_pill.setProperty("state", value)
        repolish(self.state_pill)
        live = state is LiveState.LIVE
        settled = state in (LiveState.LIVE, LiveState.STOPPED)
        self.start_btn.setText("■  Stop" if live else ("▶  Start" if settled else "…"))
        self.start_btn.setProperty("live", live)
        repolish(self.start_btn)
        self.start_btn.setEnabled(settled)
        self.calibrate_btn.setEnabled(settled)
        self.refresh_btn.setEnabled(settled)
        if state is LiveState.STARTING:
            self.plot.clear()
            self._shown_engine_error = ""
        self._show_base()

    def _on_stats(self, s: EngineStats) -> None:
        self.meter_in.set_level(s.input_dbfs)
        self.meter_out.set_level(s.output_dbfs)
        self.r_expected.set(
            f"{s.expected_latency_ms:.1f} ms",
            f"engine {s.engine_latency_ms:.1f} ms (chain {s.chain_latency_ms:.1f} + block + safety) "
            f"+ device {s.device_latency_ms:.1f} ms as PortAudio reports it",
        )
        self.r_rtf.set(f"{s.rtf:.3f}", "compute time / audio time; above 1 the voice cannot keep up")
        self.r_xruns.set(
            str(s.xruns) + (f" · in {s.input_overflow_ms:.0f} ms lost" if s.input_overflow_ms else ""),
            f"underrun {s.underrun_ms:.0f} ms, dropped {s.dropped_ms:.0f} ms, "
            f"late discarded {s.late_discarded_ms:.0f} ms, input overflow {s.input_overflow_ms:.0f} ms "
            "(the microphone's audio the engine could not queue)",
        )
        self.r_queue.set(f"{s.queue_ms:.0f} ms", f"converted audio waiting; backlog {s.backlog_ms:.0f} ms")
        if s.device_rate_hz and s.running:
            rates = f"{s.device_rate_hz / 1000:g}" + (
                f" → {s.output_rate_hz / 1000:g}" if s.output_rate_hz and s.output_rate_hz != s.device_rate_hz else ""
            )
            self.rate_label.setText(f"running {rates} kHz, block {s.block_frames} · {self.devices.rate_text()}")
        now = self.live.latency_now_ms if s.running else 0.0
        if now:
            resets = self.live.delay_resets
            self.r_now.set(
                f"{now:.1f} ms",
                f"engine {s.engine_latency_ms:.1f} ms + what the device buffers hold now"
                + (f"; device buffers reset {resets}×" if resets else ""),
            )
        if s.measured_latency_ms is not None:
            self.r_measured.set(f"{s.measured_latency_ms:.1f} ms", "device round trip (clicks) + engine latency")
        if s.stage_p50_ms:
            parts = [f"{STAGE_LABELS.get(k, k)} {v:.2f}" for k, v in s.stage_p50_ms.items() if k != "total"]
            total = s.stage_p50_ms.get("total", 0.0)
            p99 = s.stage_p99_ms.get("total", 0.0)
            self.stages_label.setText(f"per block, ms (p50): {' · '.join(parts)}  —  total {total:.2f}, p99 {p99:.2f}")
        if s.running:
            self.plot.push(now or s.expected_latency_ms, s.rtf)
        if s.error and s.error != self._shown_engine_error:
            self._shown_engine_error = s.error
            self.banner.show_message(s.error)

    def _on_calibrating(self, on: bool) -> None:
        self.calibrate_btn.setEnabled(not on and self.live.state in (LiveState.STOPPED, LiveState.LIVE))
        if on:
            self.calibration_label.setText("measuring… (≈3 s of clicks)")

    def _on_calibrated(self, c: Calibration) -> None:
        self.r_measured.set(
            f"{c.total_ms:.1f} ms",
            f"device round trip {c.device_ms:.1f} ms (measured) + engine {c.engine_ms:.1f} ms (exact)",
        )
        reported = "" if c.reported_ms is None else f", PortAudio says {c.reported_ms:.1f}"
        self.calibration_label.setText(
            f"device {c.device_ms:.1f} ms ± {c.spread_ms / 2:.1f} ({c.detected}/{c.clicks} clicks{reported}) "
            f"+ engine {c.engine_ms:.1f} ms"
        )

    # ------------------------------------------------------------------ controls

    def _show_controls(self, c: Controls) -> None:
        for key, s in self.sliders.items():
            s.set_value(float(getattr(c, key)))
        self.gate_check.blockSignals(True)
        self.gate_check.setChecked(c.gate_enabled)
        self.gate_check.blockSignals(False)
        self.sliders["gate_threshold_dbfs"].setEnabled(c.gate_enabled)
        i = self.denoise_combo.findData(c.denoise)
        if i >= 0:
            self.denoise_combo.setCurrentIndex(i)

    def _show_base_request(self, request: str) -> None:
        self.convert.base_request = request  # files convert on the base the live voice uses
        i = self.base_combo.findData(request)
        if i >= 0:
            self.base_combo.setCurrentIndex(i)

    def _show_base(self) -> None:
        """The base line in the live panel and "base: <label>" on the running neural voice's card."""
        live = self.live
        self.base_label.setText(live.base_text())
        choice = live.base_choice if live.live else None
        for n, w in self.cards.items():
            if choice is not None and n == live.base_voice:
                w.set_base(choice.label, choice.reason)
            else:
                w.set_base("")

    def _show_preset(self, name: str) -> None:
        i = self.preset_combo.findData(name)
        if i >= 0:
            self.preset_combo.setCurrentIndex(i)

    # ------------------------------------------------------------------ dialogs

    def show_shortcuts(self) -> ShortcutsDialog:
        dlg = ShortcutsDialog(self)
        dlg.show()
        return dlg

    def open_convert_dialog(self) -> QDialog:
        from app.views.convert_dialog import ConvertDialog

        self.convert.base_request = self.live.base_request  # a file sounds like the live voice
        if self._convert_dialog is None:
            self._convert_dialog = ConvertDialog(self.convert, self.library, self.devices, self.settings, self)
        self._convert_dialog.show()
        self._convert_dialog.raise_()
        return self._convert_dialog

    def open_voice_clip_dialog(self) -> QDialog:
        from app.views.voice_clip_dialog import VoiceClipDialog

        if self._voice_clip_dialog is None:
            self._voice_clip_dialog = VoiceClipDialog(self.voice_clip, self.library, self)
        dlg = self._voice_clip_dialog
        assert isinstance(dlg, VoiceClipDialog)
        dlg.prepare()
        dlg.show()
        dlg.raise_()
        return dlg

    # ------------------------------------------------------------------ settings

    def restore_state(self) -> None:
        geo = self.settings["window"].get("geometry", "")
        if geo:
            with contextlib.suppress(ValueError):
                self.restoreGeometry(QByteArray(base64.b64decode(geo)))

    def save_state(self) -> None:
        s = self.settings
        s["devices"] = self.devices.saved()
        s["voice"] = self.library.selected or s["voice"]
        c = self.live.controls
        s["controls"] = {k: getattr(c, k) for k in s["controls"]}
        s["latency_preset"] = self.live.preset
        s["neural_base"] = self.live.base_request
        s["window"] = {"geometry": base64.b64encode(bytes(self.saveGeometry())).decode("ascii")}
        s.save()

    def closeEvent(self, e: QCloseEvent | None) -> None:
        try:
            self.save_state()
        except OSError as err:
            self.banner.show_message(f"could not save settings: {err}")
        self.live.shutdown()
        self.convert.cancel()
        self.convert.wait()
        self.library.wait()
        self.vmic.wait()
        self.voice_clip.shutdown()
        if e is not None:
            e.accept()
