"""Voice cards with a ▶ sample each, New voice / Import / Convert (LibraryViewModel)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QWidget

from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.library import LibraryViewModel
from app.views.controls import Panel
from app.views.widgets import VoiceCard
from vc_core.io.devices import DeviceInfo
from vc_core.neural.choice import BaseChoice

CARD_COLUMNS = 3


class VoicesPanel(Panel):
    def __init__(self, library: LibraryViewModel, devices: DevicesViewModel, notify: Callable[..., None]) -> None:
        super().__init__(None)
        self.library, self.devices, self._notify = library, devices, notify
        self.cards: dict[str, VoiceCard] = {}
        self._base: tuple[BaseChoice | None, str] = (None, "")
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
        self.lay.addLayout(top)
        self.cards_host = QWidget()
        self.cards_grid = QGridLayout(self.cards_host)
        self.cards_grid.setContentsMargins(0, 0, 4, 0)
        self.cards_grid.setSpacing(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        scroll.setMinimumHeight(250)
        self.lay.addWidget(scroll, 1)

        library.cardsChanged.connect(self.fill)
        library.selectedChanged.connect(self._mark_selected)
        library.error.connect(notify)
        library.sampleReady.connect(self._play_sample)
        library.imported.connect(lambda n: notify(f"voice {n!r} imported and verified", "info"))
        devices.selectionChanged.connect(lambda _r: self._update_card_play())
        self.import_btn.clicked.connect(self.import_bundle)
        self.fill()

    def fill(self) -> None:
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
        self.show_base(*self._base)

    def show_base(self, choice: BaseChoice | None, voice: str) -> None:
        """ "base: <label>" on the card of the neural voice running live (none when stopped)."""
        self._base = (choice, voice)
        for n, w in self.cards.items():
            if choice is not None and n == voice:
                w.set_base(choice.label, choice.reason)
            else:
                w.set_base("")

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
            self._notify(f"could not play the sample of {name}: {e}")

    def _mark_selected(self, name: str) -> None:
        for n, w in self.cards.items():
            w.set_selected(n == name)

    def import_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a voice bundle (.zip)", "", "Voice bundles (*.zip)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "…or pick a bundle folder")
        if path:
            self.library.import_bundle(Path(path))
