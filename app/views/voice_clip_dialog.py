"""New voice from a clip: pick (or drop) an audio file or record one, name the voice, make it.

Binds to :class:`app.viewmodels.voice_clip.VoiceClipViewModel` only: reading and checking the
clip, recording and making the voice all run off the Qt main thread.
"""

from __future__ import annotations

import math
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import player
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.voice_clip import (
    CLIP_SUFFIXES,
    ClipInfo,
    NewVoice,
    VoiceClipViewModel,
    default_display_name,
)
from app.views import theme
from app.views.controls import Readout, panel
from app.views.widgets import (
    ElidedLabel,
    LevelMeter,
    WaveformView,
    accept_file_drag,
    dialog_header,
    dropped_files,
    repolish,
)
from vc_core.neural.clip import MAX_CLIP_S, MIN_CLIP_S

RECORD_HINT = f"Speak normally for 10–20 s (it stops at {MAX_CLIP_S:g} s)."
FILE_FILTER = "Speech clips (" + " ".join(f"*{s}" for s in CLIP_SUFFIXES) + ")"


class VoiceClipDialog(QDialog):
    def __init__(self, vm: VoiceClipViewModel, library: LibraryViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm, self.library = vm, library
        self.setWindowTitle("New voice from a clip")
        self.setAcceptDrops(True)
        self.setMinimumSize(860, 700)
        self._build()
        self._bind()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 18, 20, 18)
        outer.setSpacing(14)
        self.banner = dialog_header(
            outer,
            "New voice from a clip",
            f"{MIN_CLIP_S:g}–{MAX_CLIP_S:g} s of one person speaking, without music or noise. "
            "The voice is measured from the clip; the shared model then speaks with it.",
        )

        top = QHBoxLayout()
        top.setSpacing(14)
        # the clip
        cf, cl = panel("Clip — pick a file or drop one here")
        row = QHBoxLayout()
        row.setSpacing(8)
        self.clip_label = ElidedLabel("no clip yet")
        self.clip_label.setObjectName("muted")
        self.choose_btn = QPushButton("Choose file…")
        self.play_btn = QPushButton("▶  Play")
        self.play_btn.setEnabled(False)
        row.addWidget(self.clip_label, 1)
        row.addWidget(self.play_btn)
        row.addWidget(self.choose_btn)
        cl.addLayout(row)
        self.wave = WaveformView("Clip", theme.ACCENT2)
        self.wave.setMinimumHeight(120)
        cl.addWidget(self.wave, 1)
        self.check_label = QLabel(f"WAV, FLAC, OGG or MP3 · {MIN_CLIP_S:g}–{MAX_CLIP_S:g} s of speech")
        self.check_label.setObjectName("muted")
        self.check_label.setWordWrap(True)
        cl.addWidget(self.check_label)
        top.addWidget(cf, 3)

        # recording
        rf, rl = panel("…or record it")
        self.device_label = QLabel()
        self.device_label.setObjectName("muted")
        self.device_label.setWordWrap(True)
        rl.addWidget(self.device_label)
        counter = QHBoxLayout()
        counter.setSpacing(6)
        self.seconds_label = QLabel("0.0 s")
        self.seconds_label.setObjectName("readoutValue")
        of = QLabel(f"of {MAX_CLIP_S:g} s")
        of.setObjectName("muted")
        counter.addWidget(self.seconds_label)
        counter.addWidget(of, 0, Qt.AlignmentFlag.AlignBottom)
        counter.addStretch(1)
        rl.addLayout(counter)
        self.time_bar = QProgressBar()
        self.time_bar.setRange(0, round(1000 * MAX_CLIP_S))
        self.time_bar.setObjectName("timeBar")
        rl.addWidget(self.time_bar)
        self.meter = LevelMeter("LEVEL")
        rl.addWidget(self.meter)
        rl.addStretch(1)
        self.record_btn = QPushButton("●  Record")
        self.record_btn.setObjectName("recordButton")
        rl.addWidget(self.record_btn)
        self.record_hint = QLabel(RECORD_HINT)
        self.record_hint.setObjectName("muted")
        self.record_hint.setWordWrap(True)
        rl.addWidget(self.record_hint)
        top.addWidget(rf, 2)
        outer.addLayout(top, 3)

        # name
        nf, nl = panel("Voice")
        g = QGridLayout()
        g.setHorizontalSpacing(12)
        g.setVerticalSpacing(8)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-voice")
        self.name_edit.setToolTip("lower-case letters, digits, '-' or '_' (up to 64): used by `vc --voice NAME`")
        self.name_check = QLabel("")
        self.name_check.setObjectName("nameCheck")
        self.name_check.setWordWrap(True)
        self.display_edit = QLineEdit()
        self.display_edit.setPlaceholderText("shown on the voice card")
        for r, (lab, w) in enumerate((("Name", self.name_edit), ("Display name", self.display_edit))):
            label = QLabel(lab)
            label.setObjectName("muted")
            g.addWidget(label, r, 0)
            g.addWidget(w, r, 1)
        g.addWidget(self.name_check, 0, 2)
        g.setColumnStretch(1, 2)
        g.setColumnStretch(2, 3)
        nl.addLayout(g)
        prow = QHBoxLayout()
        prow.setSpacing(12)
        self.step_label = QLabel("")
        self.step_label.setObjectName("muted")
        self.step_label.setMinimumWidth(200)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        prow.addWidget(self.step_label)
        prow.addWidget(self.progress_bar, 1)
        nl.addLayout(prow)
        outer.addWidget(nf)

        # result
        self.result = QFrame()
        self.result.setObjectName("resultCard")
        res = QVBoxLayout(self.result)
        res.setContentsMargins(18, 14, 18, 14)
        res.setSpacing(10)
        head = QHBoxLayout()
        self.result_title = QLabel("")
        self.result_title.setObjectName("resultTitle")
        self.use_btn = QPushButton("Use this voice")
        self.use_btn.setObjectName("useButton")
        self.another_btn = QPushButton("Make another")
        head.addWidget(self.result_title, 1)
        head.addWidget(self.another_btn)
        head.addWidget(self.use_btn)
        res.addLayout(head)
        tiles = QHBoxLayout()
        tiles.setSpacing(28)
        self.r_used = Readout("of the clip used")
        self.r_f0 = Readout("F0 median")
        self.r_voiced = Readout("voiced")
        self.r_sound = Readout("of sound")
        for r in (self.r_used, self.r_f0, self.r_voiced, self.r_sound):
            tiles.addWidget(r)
        tiles.addStretch(1)
        res.addLayout(tiles)
        self.result_path = QLabel("")
        self.result_path.setObjectName("muted")
        self.result_path.setWordWrap(True)
        self.result_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        res.addWidget(self.result_path)
        self.result.hide()
        outer.addWidget(self.result)

        bottom = QHBoxLayout()
        bottom.addStretch(1)
        self.close_btn = QPushButton("Close")
        self.create_btn = QPushButton("Create voice")
        self.create_btn.setObjectName("startButton")
        self.create_btn.setEnabled(False)
        bottom.addWidget(self.close_btn)
        bottom.addWidget(self.create_btn)
        outer.addLayout(bottom)

    def _bind(self) -> None:
        vm, rec = self.vm, self.vm.recorder
        vm.clipChanged.connect(self._on_clip)
        vm.nameSuggested.connect(self._on_name_suggested)
        vm.nameChecked.connect(self._on_name_checked)
        vm.readyChanged.connect(self.create_btn.setEnabled)
        vm.busyChanged.connect(self._on_busy)
        vm.progress.connect(self._on_progress)
        vm.created.connect(self._on_created)
        vm.error.connect(self._on_error)
        rec.stateChanged.connect(self._on_record_state)
        rec.secondsChanged.connect(self._on_seconds)
        rec.levelChanged.connect(self.meter.set_level)
        self.vm.devices.selectionChanged.connect(lambda _r: self._update_devices())
        self.choose_btn.clicked.connect(self._choose)
        self.play_btn.clicked.connect(vm.play_clip)
        self.record_btn.clicked.connect(self._record_clicked)
        self.name_edit.textEdited.connect(vm.set_name)
        self.name_edit.textChanged.connect(self._update_display_placeholder)
        self.display_edit.textChanged.connect(vm.set_display_name)
        self.create_btn.clicked.connect(self._create)
        self.close_btn.clicked.connect(self.close)
        self.use_btn.clicked.connect(self._use)
        self.another_btn.clicked.connect(self._another)
        self.name_edit.setText(vm.name)
        self._on_name_checked(vm.name_problem is None, vm.name_problem or "")
        self._update_devices()
        self._on_record_state(rec.state)

    # ------------------------------------------------------------------ clip

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pick a clip of one person speaking", "", FILE_FILTER)
        if path:
            self._use_clip(Path(path))

    def _use_clip(self, path: Path) -> None:
        self.banner.hide()
        self.result.hide()
        if self.vm.set_clip(path):
            self.clip_label.setText(f"reading {path.name}…")
            self.wave.clear()
            self.play_btn.setEnabled(False)

    def dragEnterEvent(self, e: QDragEnterEvent | None) -> None:
        accept_file_drag(e)

    def dropEvent(self, e: QDropEvent | None) -> None:
        paths = dropped_files(e)
        if paths:
            self._use_clip(paths[0])

    def _on_clip(self, info: ClipInfo) -> None:
        p = info.preview
        where = "recorded" if info.recorded else str(info.path.parent)
        self.clip_label.setText(info.path.name)
        self.clip_label.setToolTip(f"{info.path}\n{where}")
        self.wave.caption = "Recording" if info.recorded else "Clip"
        self.wave.set_preview(p.mins, p.maxs, p.spectrogram_db, f"{p.duration_s:.1f} s · {p.rate_hz / 1000:g} kHz")
        if info.report is not None:
            r = info.report
            longer = f" (the first {r.used_s:.0f} s are used)" if r.duration_s > r.used_s else ""
            self.check_label.setText(
                f"✓  {r.duration_s:.1f} s{longer} · {r.sound_s:.1f} s of sound · {100 * r.voiced_share:.0f} % voiced"
                f" · F0 ≈ {r.f0_median_hz:.0f} Hz"
            )
            self.check_label.setProperty("state", "ok")
        else:
            self.check_label.setText(f"⚠  {info.problem}")
            self.check_label.setProperty("state", "bad")
        repolish(self.check_label)
        self._update_play()

    def _update_play(self) -> None:
        dev = self.vm.play_device()
        self.play_btn.setEnabled(self.vm.clip is not None and dev is not None)
        self.play_btn.setToolTip(
            f"Play the clip on {dev.label()}" if dev else "No output or monitor device: pick one in the main window"
        )

    # ------------------------------------------------------------------ recording

    def _update_devices(self) -> None:
        dev = self.vm.record_device()
        if dev is None:
            self.device_label.setText("No microphone selected: pick one in the main window.")
        else:
            shared = "  ·  shared with the live voice" if self.vm.live_shares_input() else ""
            self.device_label.setText(f"From  {dev.name}  ·  {dev.host_api}{shared}")
        self._on_record_state(self.vm.recorder.state)
        self._update_play()

    def _record_clicked(self) -> None:
        if self.vm.recorder.state == "recording":
            self.vm.stop_recording()
        else:
            self.banner.hide()
            self.result.hide()
            self.vm.start_recording()

    def _on_record_state(self, state: str) -> None:
        recording = state == "recording"
        self.record_btn.setText(
            {"opening": "…  opening", "recording": "■  Stop", "stopping": "…  saving"}.get(state, "●  Record")
        )
        self.record_btn.setProperty("recording", recording)
        repolish(self.record_btn)
        has_mic = self.vm.record_device() is not None
        self.record_btn.setEnabled(has_mic and not self.vm.busy and state in ("idle", "recording"))
        self.record_btn.setToolTip(
            "Record from the microphone picked in the main window" if has_mic else "No microphone selected"
        )
        idle = state == "idle"
        self.choose_btn.setEnabled(idle and not self.vm.busy)
        self.setAcceptDrops(idle)
        if state == "opening":
            self.time_bar.setValue(0)
            self.seconds_label.setText("0.0 s")

    def _on_seconds(self, s: float) -> None:
        self.seconds_label.setText(f"{s:.1f} s")
        self.time_bar.setValue(round(1000 * min(s, MAX_CLIP_S)))
        if self.vm.recorder.state == "recording":
            self.record_hint.setText(
                f"Keep talking: at least {math.ceil(MIN_CLIP_S - s)} s more."
                if s < MIN_CLIP_S
                else f"Enough to make a voice: stop any time (it stops by itself at {MAX_CLIP_S:g} s)."
            )
        else:
            self.record_hint.setText(RECORD_HINT)

    # ------------------------------------------------------------------ name

    def _on_name_suggested(self, name: str) -> None:
        self.name_edit.setText(name)

    def _on_name_checked(self, ok: bool, message: str) -> None:
        if not self.vm.name:
            self.name_check.setText("lower-case letters, digits, '-' or '_'")
            self.name_check.setToolTip(message)
            ok = True  # nothing typed yet: a hint, not an error
        elif ok:
            self.name_check.setText(f"✓  saved as {self.vm.library.user_dir.name}/{self.vm.name}")
            self.name_check.setToolTip(str(self.vm.library.user_dir / self.vm.name))
        else:
            self.name_check.setText(message)
            self.name_check.setToolTip(message)
        self.name_check.setProperty("state", "" if not self.vm.name else "ok" if ok else "bad")
        self.name_edit.setProperty("invalid", not ok and bool(self.name_edit.text()))
        repolish(self.name_check)
        repolish(self.name_edit)

    def _update_display_placeholder(self, name: str) -> None:
        self.display_edit.setPlaceholderText(
            default_display_name(name.strip()) if name.strip() else "shown on the voice card"
        )

    # ------------------------------------------------------------------ create

    def _create(self) -> None:
        self.banner.hide()
        self.result.hide()
        self.vm.set_display_name(self.display_edit.text())
        self.vm.create()

    def _on_busy(self, on: bool) -> None:
        for w in (self.name_edit, self.display_edit):
            w.setEnabled(not on)
        self._on_record_state(self.vm.recorder.state)
        if on:
            self.progress_bar.setValue(0)

    def _on_progress(self, frac: float, what: str) -> None:
        self.progress_bar.setValue(round(1000 * frac))
        self.step_label.setText("done" if frac >= 1.0 else f"{what}…")

    def _on_created(self, v: NewVoice) -> None:
        r = v.report
        self.progress_bar.setValue(1000)
        self.step_label.setText("done")
        self.result_title.setText(f"✓  “{v.display_name}” is in your library")
        self.r_used.set(f"{r.used_s:.1f} s", f"of a {r.duration_s:.1f} s clip (at most {MAX_CLIP_S:g} s are used)")
        self.r_f0.set(f"{r.f0_median_hz:.0f} Hz", f"spread {r.f0_spread_st:.1f} semitones")
        self.r_voiced.set(f"{100 * r.voiced_share:.0f} %", "share of the sounding frames that are voiced")
        self.r_sound.set(f"{r.sound_s:.1f} s", "above -50 dBFS")
        self.result_path.setText(
            f"Pick it on the voice cards, or use it from the command line:  vc convert IN OUT --voice {v.name}"
        )
        self.result_path.setToolTip(f"saved in {v.folder}")
        self.result.show()

    def _on_error(self, message: str) -> None:
        self.banner.show_message(message)
        if not self.vm.busy:
            self.step_label.setText("")
            self.progress_bar.setValue(0)

    def _use(self) -> None:
        if self.vm.result is not None:
            self.library.select(self.vm.result.name)
        self.close()

    def _another(self) -> None:
        self.vm.reset()
        self.reset_view()

    def reset_view(self) -> None:
        self.banner.hide()
        self.result.hide()
        self.wave.clear()
        self.clip_label.setText("no clip yet")
        self.clip_label.setToolTip("")
        self.check_label.setText(f"WAV, FLAC, OGG or MP3 · {MIN_CLIP_S:g}–{MAX_CLIP_S:g} s of speech")
        self.check_label.setProperty("state", "")
        repolish(self.check_label)
        self.display_edit.clear()
        self.progress_bar.setValue(0)
        self.step_label.setText("")
        self.time_bar.setValue(0)
        self.seconds_label.setText("0.0 s")
        self._update_play()

    def prepare(self) -> None:
        """Before showing again: a fresh form after a voice was made."""
        if self.vm.result is not None and not self.vm.busy:
            self._another()
        self._update_devices()

    def closeEvent(self, e: QCloseEvent | None) -> None:
        self.vm.recorder.stop(discard=True)
        player.stop()
        super().closeEvent(e)
