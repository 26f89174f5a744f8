"""File conversion dialog: queue (drag and drop too), voice and settings, progress, cancel, previews."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import player
from app.settings import Settings
from app.viewmodels.convert import FORMATS, ConvertViewModel, Preview
from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.library import LibraryViewModel
from app.views import theme
from app.views.controls import ValueSlider, panel
from app.views.widgets import WaveformView, accept_file_drag, dialog_header, dropped_files
from vc_core.errors import DeviceError

NO_DEVICE_TOOLTIP = "No output or monitor device: pick one in the main window to listen"


class ConvertDialog(QDialog):
    def __init__(
        self,
        vm: ConvertViewModel,
        library: LibraryViewModel,
        devices: DevicesViewModel,
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm, self.library, self.devices, self.settings = vm, library, devices, settings
        self.previews: dict[str, Preview] = {}
        self.setWindowTitle("Convert files")
        self.setAcceptDrops(True)
        self.setMinimumSize(900, 760)
        conv = settings["convert"]
        if conv.get("output_dir"):
            vm.output_dir = Path(conv["output_dir"])
        vm.format = conv.get("format", "wav")
        if library.selected:
            vm.voice = library.selected
        self._build()
        self._bind()
        self._fill_queue()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 18, 20, 18)
        outer.setSpacing(14)
        self.banner = dialog_header(
            outer, "Convert files", "The same engine as the live voice: a file sounds exactly like the live path."
        )

        top = QHBoxLayout()
        top.setSpacing(14)
        qf, ql = panel("Files — drop audio files or folders here")
        self.list = QListWidget()
        self.list.setMinimumHeight(110)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        ql.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_files_btn = QPushButton("Add files…")
        self.add_dir_btn = QPushButton("Add folder…")
        self.remove_btn = QPushButton("Remove")
        self.clear_btn = QPushButton("Clear")
        for b in (self.add_files_btn, self.add_dir_btn, self.remove_btn, self.clear_btn):
            row.addWidget(b)
        row.addStretch(1)
        ql.addLayout(row)
        top.addWidget(qf, 3)

        sf, sl = panel("Settings")
        g = QGridLayout()
        g.setHorizontalSpacing(12)
        g.setVerticalSpacing(10)
        self.voice_combo = QComboBox()
        self.pitch = ValueSlider(-12, 12, 0.5, lambda v: f"{v:+.1f} st")
        self.formant = ValueSlider(0.7, 1.4, 0.01, lambda v: f"× {v:.2f}")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("output folder")
        self.browse_btn = QPushButton("Browse…")
        self.format_combo = QComboBox()
        for f in FORMATS:
            self.format_combo.addItem(f.upper(), f)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.browse_btn)
        for r, (lab, w) in enumerate(
            (
                ("Voice", self.voice_combo),
                ("Pitch", self.pitch),
                ("Formant", self.formant),
                ("Output", out_row),
                ("Format", self.format_combo),
            )
        ):
            label = QLabel(lab)
            label.setObjectName("muted")
            g.addWidget(label, r, 0)
            if isinstance(w, QHBoxLayout):
                g.addLayout(w, r, 1)
            else:
                g.addWidget(w, r, 1)
        g.setColumnStretch(1, 1)
        sl.addLayout(g)
        sl.addStretch(1)
        top.addWidget(sf, 2)
        outer.addLayout(top, 2)

        pf, pl = panel("Progress")
        self.file_label = QLabel("idle")
        self.file_label.setObjectName("muted")
        self.file_bar = QProgressBar()
        self.file_bar.setRange(0, 1000)
        self.total_label = QLabel("total")
        self.total_label.setObjectName("muted")
        self.total_bar = QProgressBar()
        self.total_bar.setRange(0, 1000)
        pg = QGridLayout()
        pg.addWidget(self.file_label, 0, 0)
        pg.addWidget(self.file_bar, 0, 1)
        pg.addWidget(self.total_label, 1, 0)
        pg.addWidget(self.total_bar, 1, 1)
        pg.setColumnStretch(1, 1)
        pg.setColumnMinimumWidth(0, 220)
        pl.addLayout(pg)
        outer.addWidget(pf)

        vf, vl = panel("Before / after")
        self.views: dict[str, WaveformView] = {
            "before": WaveformView("Before", theme.ACCENT2),
            "after": WaveformView("After", theme.ACCENT),
        }
        self.play_btns: dict[str, QPushButton] = {}
        for key, view in self.views.items():
            row = QHBoxLayout()
            b = QPushButton("▶")
            b.setFixedWidth(44)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, k=key: self._play(k))
            self.play_btns[key] = b
            row.addWidget(view, 1)
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignVCenter)
            vl.addLayout(row, 1)
        outer.addWidget(vf, 3)

        bottom = QHBoxLayout()
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        bottom.addWidget(self.summary, 1)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.start_btn = QPushButton("Convert")
        self.start_btn.setObjectName("startButton")
        bottom.addWidget(self.cancel_btn)
        bottom.addWidget(self.start_btn)
        outer.addLayout(bottom)

    def _bind(self) -> None:
        vm = self.vm
        vm.queueChanged.connect(self._fill_queue)
        vm.fileProgress.connect(self._on_file_progress)
        vm.totalProgress.connect(lambda f: self.total_bar.setValue(round(1000 * f)))
        vm.fileDone.connect(self._on_file_done)
        vm.runningChanged.connect(self._on_running)
        vm.finished.connect(self._on_finished)
        vm.cancelled.connect(lambda: self.banner.show_message("cancelled: no partial files were left behind", "info"))
        vm.error.connect(self.banner.show_message)
        vm.previewReady.connect(self._on_preview)
        self.add_files_btn.clicked.connect(self._add_files)
        self.add_dir_btn.clicked.connect(self._add_dir)
        self.remove_btn.clicked.connect(lambda: vm.remove(self.list.currentRow()))
        self.clear_btn.clicked.connect(vm.clear)
        self.list.currentRowChanged.connect(self._on_row)
        self.browse_btn.clicked.connect(self._browse)
        self.out_edit.editingFinished.connect(self._out_edited)
        self.format_combo.currentIndexChanged.connect(lambda _: self._set_format())
        self.voice_combo.currentIndexChanged.connect(lambda _: self._set_voice())
        self.pitch.changed.connect(lambda v: setattr(vm, "pitch_semitones", v))
        self.formant.changed.connect(lambda v: setattr(vm, "formant_ratio", v))
        self.start_btn.clicked.connect(self._start)
        self.cancel_btn.clicked.connect(vm.cancel)
        self.library.cardsChanged.connect(self._fill_voices)
        self.devices.selectionChanged.connect(lambda _r: self._update_play())
        self._fill_voices()
        self.pitch.set_value(vm.pitch_semitones)
        self.formant.set_value(vm.formant_ratio)
        self.out_edit.setText("" if vm.output_dir is None else str(vm.output_dir))
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(vm.format)))
        self._update_play()

    # ------------------------------------------------------------------ queue

    def _fill_queue(self) -> None:
        row = self.list.currentRow()
        self.list.clear()
        for i, p in enumerate(self.vm.files):
            out = self.vm.outputs.get(i)
            self.list.addItem(f"✓  {p.name}" if out else f"•  {p.name}")
            item = self.list.item(i)
            if item is not None:
                item.setToolTip(f"{p}\n→ {out}" if out else str(p))
        if self.vm.files:
            self.list.setCurrentRow(min(max(0, row), len(self.vm.files) - 1))
        self.summary.setText(f"{len(self.vm.files)} file(s) queued" if self.vm.files else "no files yet")

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add audio files", "", "Audio (*.wav *.flac *.ogg *.mp3 *.aiff)")
        self.vm.add([Path(p) for p in paths])

    def _add_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a folder of audio files")
        if d:
            self.vm.add([Path(d)])

    def dragEnterEvent(self, e: QDragEnterEvent | None) -> None:
        accept_file_drag(e)

    def dropEvent(self, e: QDropEvent | None) -> None:
        paths = dropped_files(e)
        if paths:
            self.vm.add(paths)

    def _on_row(self, row: int) -> None:
        for v in self.views.values():
            v.clear()
        self.previews.clear()
        self._update_play()
        if row >= 0:
            self.vm.load_previews(row)

    # ------------------------------------------------------------------ settings

    def _fill_voices(self) -> None:
        self.voice_combo.blockSignals(True)
        self.voice_combo.clear()
        for c in self.library.cards:
            if c.error is None:
                self.voice_combo.addItem(c.title, c.name)
        self.voice_combo.setCurrentIndex(max(0, self.voice_combo.findData(self.vm.voice)))
        self.voice_combo.blockSignals(False)
        self._set_voice()

    def _set_voice(self) -> None:
        name = self.voice_combo.currentData()
        if name:
            self.vm.voice = str(name)

    def _set_format(self) -> None:
        self.vm.format = str(self.format_combo.currentData())
        self.settings["convert"]["format"] = self.vm.format

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if d:
            self.out_edit.setText(d)
            self._out_edited()

    def _out_edited(self) -> None:
        text = self.out_edit.text().strip()
        self.vm.output_dir = Path(text) if text else None
        self.settings["convert"]["output_dir"] = text

    # ------------------------------------------------------------------ run

    def _start(self) -> None:
        self._out_edited()
        self.banner.hide()
        self.file_bar.setValue(0)
        self.total_bar.setValue(0)
        self.vm.start()

    def _on_running(self, on: bool) -> None:
        self.cancel_btn.setEnabled(on)
        self.start_btn.setEnabled(not on)
        for b in (self.add_files_btn, self.add_dir_btn, self.remove_btn, self.clear_btn):
            b.setEnabled(not on)
        if not on and self.file_label.text() != "idle":
            self.file_label.setText(f"done · {len(self.vm.outputs)} of {len(self.vm.files)} file(s) written")

    def _on_file_progress(self, i: int, frac: float) -> None:
        if i < len(self.vm.files):
            self.file_label.setText(f"file {i + 1}/{len(self.vm.files)}  ·  {self.vm.files[i].name}")
        self.file_bar.setValue(round(1000 * frac))
        self.total_label.setText(f"total  {100 * self.total_bar.value() / 1000:.0f} %")

    def _on_file_done(self, i: int, _out: str) -> None:
        self._fill_queue()
        if i == self.list.currentRow():
            self.vm.load_previews(i)

    def _on_finished(self, outs: list[str]) -> None:
        self.total_bar.setValue(1000)
        self.total_label.setText("total  100 %")
        self.banner.show_message(f"done: {len(outs)} file(s) written to {self.vm.output_dir}", "info")
        row = self.list.currentRow()
        if row >= 0:
            self.vm.load_previews(row)

    # ------------------------------------------------------------------ previews

    def _on_preview(self, which: str, p: Preview) -> None:
        self.previews[which] = p
        self.views[which].set_preview(p.mins, p.maxs, p.spectrogram_db, f"{p.duration_s:.2f} s · {p.rate_hz} Hz")
        self._update_play()

    def _play_device(self):  # type: ignore[no-untyped-def]
        return self.devices.selected("monitor") or self.devices.selected("output")

    def _update_play(self) -> None:
        dev = self._play_device()
        for key, b in self.play_btns.items():
            if dev is None:
                b.setEnabled(False)
                b.setToolTip(NO_DEVICE_TOOLTIP)
            else:
                b.setEnabled(key in self.previews)
                b.setToolTip(f"Play on {dev.label()}")

    def _play(self, which: str) -> None:
        p, dev = self.previews.get(which), self._play_device()
        if p is None or dev is None:
            return
        try:
            player.play(p.audio, p.rate_hz, dev)
        except DeviceError as e:
            self.banner.show_message(str(e))

    def closeEvent(self, e) -> None:  # type: ignore[no-untyped-def]
        player.stop()
        super().closeEvent(e)
