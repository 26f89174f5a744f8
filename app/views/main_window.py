"""The main window: a header with the live state, a message banner and one panel per view-model
(``app/views/panels/``), plus menus, keyboard shortcuts, the dialogs and the saved settings.

Binds to the view-models only; every action is a view-model call and every display is driven
by a view-model signal (the stats snapshot arrives ~20 times a second while live).
"""

from __future__ import annotations

import base64
import contextlib

from PyQt6.QtCore import QByteArray, Qt
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings
from app.viewmodels.convert import ConvertViewModel
from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.live import LiveViewModel
from app.viewmodels.virtual_mic import VirtualMicViewModel
from app.viewmodels.voice_clip import VoiceClipViewModel
from app.views.panels.devices import DevicesPanel
from app.views.panels.live import LivePanel
from app.views.panels.sound import SoundPanel
from app.views.panels.virtual_mic import VirtualMicPanel
from app.views.panels.voices import VoicesPanel
from app.views.widgets import Banner, repolish
from vc_core.live.controller import LiveState

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
        self._convert_dialog: QDialog | None = None
        self._voice_clip_dialog: QDialog | None = None
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
        notify = self.banner.show_message
        self.devices_panel = DevicesPanel(self.devices, notify)
        self.voices_panel = VoicesPanel(self.library, self.devices, notify)
        self.sound_panel = SoundPanel(self.live)
        self.live_panel = LivePanel(self.live, notify)
        self.vmic_panel = VirtualMicPanel(self.vmic, self.devices, notify)
        outer.addWidget(self.devices_panel)

        body = QHBoxLayout()
        body.setSpacing(14)
        outer.addLayout(body, 1)
        left = QVBoxLayout()
        left.setSpacing(14)
        right = QVBoxLayout()
        right.setSpacing(14)
        body.addLayout(left, 3)
        body.addLayout(right, 2)
        left.addWidget(self.voices_panel, 1)
        left.addWidget(self.sound_panel)
        left.addWidget(self.vmic_panel)
        right.addWidget(self.live_panel, 1)

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
        a.triggered.connect(self.voices_panel.import_bundle)
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
        QShortcut(QKeySequence("Space"), self, self.live_panel.start_or_stop, context=ctx)
        QShortcut(QKeySequence("P"), self, self.live.toggle_passthrough, context=ctx)
        for i in range(9):
            QShortcut(QKeySequence(str(i + 1)), self, lambda i=i: self.library.select_index(i), context=ctx)

    def _bind(self) -> None:
        live = self.live
        live.stateChanged.connect(self._on_state)
        live.stats.connect(self.devices_panel.show_stream)
        live.baseChosen.connect(lambda _c: self._show_base())
        live.error.connect(self.banner.show_message)
        live.info.connect(lambda m: self.banner.show_message(m, "info"))
        self.voices_panel.new_voice_btn.clicked.connect(self.open_voice_clip_dialog)
        self.voices_panel.convert_btn.clicked.connect(self.open_convert_dialog)
        self.voice_clip.created.connect(
            lambda v: self.banner.show_message(f"voice {v.name!r} made from {v.clip.name}: it is in the list", "info")
        )
        self._on_state(live.state.value)

    def _on_state(self, value: str) -> None:
        state = LiveState(value)
        self.state_pill.setText(value.upper())
        self.state_pill.setProperty("state", value)
        repolish(self.state_pill)
        self.live_panel.show_state(state)
        self.devices_panel.set_settled(state in (LiveState.LIVE, LiveState.STOPPED))
        self._show_base()

    def _show_base(self) -> None:
        """The running neural voice's card says which base it runs on (nothing when stopped)."""
        live = self.live
        self.voices_panel.show_base(live.base_choice if live.live else None, live.base_voice)

    # ------------------------------------------------------------------ dialogs

    def show_shortcuts(self) -> ShortcutsDialog:
        dlg = ShortcutsDialog(self)
        dlg.show()
        return dlg

    def open_convert_dialog(self) -> QDialog:
        from app.views.convert_dialog import ConvertDialog

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
        for key, value in self.live.saved().items():
            s[key] = value
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
