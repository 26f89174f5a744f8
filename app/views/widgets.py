"""Painted widgets: level meter, scrolling plot, waveform/spectrogram preview, banner, voice card."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.views import theme

METER_FLOOR_DB = -60.0


def db_to_frac(db: float, floor: float = METER_FLOOR_DB) -> float:
    return float(min(1.0, max(0.0, (db - floor) / -floor)))


class LevelMeter(QWidget):
    """Horizontal peak meter in dBFS with a falling peak-hold tick (green → amber → red)."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.db = METER_FLOOR_DB
        self.hold_db = METER_FLOOR_DB
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_level(self, db: float) -> None:
        self.db = max(METER_FLOOR_DB, db)
        self.hold_db = max(self.db, self.hold_db - 0.6)
        self.update()

    def paintEvent(self, _: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        p.setPen(theme.MUTED)
        f = p.font()
        f.setPointSizeF(8.5)
        p.setFont(f)
        p.drawText(QRectF(0, 0, w, 14), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.label)
        txt = "—" if self.db <= METER_FLOOR_DB else f"{self.db:.0f} dBFS"
        p.drawText(QRectF(0, 0, w, 14), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, txt)
        bar = QRectF(0, 18, w, h - 20)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.RAISED)
        p.drawRoundedRect(bar, 5, 5)
        frac = db_to_frac(self.db)
        if frac > 0:
            g = QLinearGradient(bar.left(), 0, bar.right(), 0)
            g.setColorAt(0.0, QColor("#16a34a"))
            g.setColorAt(0.7, QColor("#22c55e"))
            g.setColorAt(0.85, theme.WARN)
            g.setColorAt(1.0, theme.ERROR)
            p.setBrush(g)
            p.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * frac, bar.height()), 5, 5)
        hold = db_to_frac(self.hold_db)
        if hold > 0:
            p.setBrush(theme.TEXT)
            x = bar.left() + bar.width() * hold
            p.drawRect(QRectF(x - 1.5, bar.top(), 3, bar.height()))
        p.setPen(QPen(QColor(16, 18, 23, 160), 1))
        for db in (-48, -36, -24, -12, -6):
            x = bar.left() + bar.width() * db_to_frac(db)
            p.drawLine(QPointF(x, bar.top() + 2), QPointF(x, bar.bottom() - 2))
        p.end()


class ScrollingPlot(QWidget):
    """Two scrolling series over the last ``seconds`` on their own scales: latency (ms, left), CPU (RTF %, right)."""

    def __init__(self, seconds: float = 12.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.points: deque[tuple[float, float, float]] = deque()  # (monotonic s, latency ms, cpu %)
        self.setMinimumHeight(110)

    def push(self, latency_ms: float, rtf: float, t: float | None = None) -> None:
        now = time.monotonic() if t is None else t
        self.points.append((now, latency_ms, 100.0 * rtf))
        while self.points and self.points[0][0] < now - self.seconds:
            self.points.popleft()
        self.update()

    @property
    def latency(self) -> list[float]:
        return [p[1] for p in self.points]

    @property
    def cpu(self) -> list[float]:
        return [p[2] for p in self.points]

    def clear(self) -> None:
        self.points.clear()
        self.update()

    @staticmethod
    def _nice_top(v: float, floor: float) -> float:
        top = max(floor, v * 1.25)
        for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
            if top <= step * 5:
                return float(np.ceil(top / step) * step)
        return top

    def paintEvent(self, _: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        area = QRectF(36, 8, w - 78, h - 26)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.RAISED)
        p.drawRoundedRect(QRectF(0, 0, w, h), 10, 10)
        f = p.font()
        f.setPointSizeF(8)
        p.setFont(f)
        lat_top = self._nice_top(max(self.latency, default=0.0), 50.0)
        cpu_top = self._nice_top(max(self.cpu, default=0.0), 20.0)
        p.setPen(QPen(theme.LINE, 1, Qt.PenStyle.DashLine))
        for i in range(5):
            y = area.top() + area.height() * i / 4
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        p.setPen(theme.ACCENT)
        p.drawText(QRectF(0, area.top() - 6, 32, 12), Qt.AlignmentFlag.AlignRight, f"{lat_top:.0f}")
        p.drawText(QRectF(0, area.bottom() - 6, 32, 12), Qt.AlignmentFlag.AlignRight, "0")
        p.setPen(theme.ACCENT2)
        p.drawText(QRectF(area.right() + 4, area.top() - 6, 40, 12), Qt.AlignmentFlag.AlignLeft, f"{cpu_top:.0f}%")
        p.drawText(QRectF(area.right() + 4, area.bottom() - 6, 40, 12), Qt.AlignmentFlag.AlignLeft, "0%")
        p.setPen(theme.MUTED)
        p.drawText(
            QRectF(area.left(), area.bottom() + 3, area.width(), 14),
            Qt.AlignmentFlag.AlignLeft,
            f"−{self.seconds:.0f} s",
        )
        p.drawText(QRectF(area.left(), area.bottom() + 3, area.width(), 14), Qt.AlignmentFlag.AlignRight, "now")
        legend = "■ latency ms   "
        p.setPen(theme.ACCENT)
        p.drawText(QRectF(area.left(), area.bottom() + 3, area.width(), 14), Qt.AlignmentFlag.AlignHCenter, legend)
        p.setPen(theme.ACCENT2)
        p.drawText(
            QRectF(area.left() + 90, area.bottom() + 3, area.width(), 14), Qt.AlignmentFlag.AlignHCenter, "■ CPU (RTF)"
        )
        now = self.points[-1][0] if self.points else 0.0
        for col, top, color in ((2, cpu_top, theme.ACCENT2), (1, lat_top, theme.ACCENT)):
            if len(self.points) < 2:
                continue
            path = QPainterPath()
            for i, pt in enumerate(self.points):
                x = area.right() - area.width() * (now - pt[0]) / self.seconds
                y = area.bottom() - area.height() * min(1.0, pt[col] / top)
                if i == 0:
                    path.moveTo(x, y)
                else:
                    path.lineTo(x, y)
            p.setPen(QPen(color, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.end()


class WaveformView(QWidget):
    """A clip's min/max envelope over its spectrogram (QPainter + QImage), with a caption."""

    def __init__(self, caption: str, color: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.color = color
        self.mins: np.ndarray | None = None
        self.maxs: np.ndarray | None = None
        self.image: QImage | None = None
        self.info = ""
        self.setMinimumHeight(100)

    def set_preview(self, mins: np.ndarray, maxs: np.ndarray, spec_db: np.ndarray | None, info: str) -> None:
        self.mins, self.maxs, self.info = mins, maxs, info
        self.image = None if spec_db is None else self._spec_image(spec_db)
        self.update()

    def clear(self) -> None:
        self.mins = self.maxs = self.image = None
        self.info = ""
        self.update()

    @staticmethod
    def _spec_image(spec_db: np.ndarray) -> QImage:
        top = float(np.percentile(spec_db, 99.5))
        v = np.clip((spec_db - (top - 70.0)) / 70.0, 0.0, 1.0)[::-1]  # high frequencies at the top
        # dark violet ramp: value → (r, g, b)
        r = (20 + 120 * v**1.5).astype(np.uint8)
        g = (18 + 60 * v**2.5).astype(np.uint8)
        b = (30 + 170 * v).astype(np.uint8)
        rgb = np.ascontiguousarray(np.stack([r, g, b], axis=-1))
        h, w, _ = rgb.shape
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        return img.copy()

    def paintEvent(self, _: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.RAISED)
        p.drawRoundedRect(QRectF(0, 0, w, h), 10, 10)
        area = QRectF(8, 22, w - 16, h - 30)
        if self.image is not None:
            p.setOpacity(0.85)
            p.drawImage(area, self.image)
            p.setOpacity(1.0)
        f = p.font()
        f.setPointSizeF(8.5)
        p.setFont(f)
        p.setPen(theme.TEXT)
        p.drawText(QRectF(10, 3, w - 20, 16), Qt.AlignmentFlag.AlignLeft, self.caption)
        p.setPen(theme.MUTED)
        p.drawText(QRectF(10, 3, w - 20, 16), Qt.AlignmentFlag.AlignRight, self.info)
        if self.mins is None or self.maxs is None or not len(self.mins):
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no preview yet")
            p.end()
            return
        n = len(self.mins)
        mid = area.center().y()
        half = area.height() / 2 * 0.92
        peak = max(1e-3, float(max(np.max(np.abs(self.mins)), np.max(np.abs(self.maxs)))))
        path = QPainterPath()
        for i in range(n):
            x = area.left() + area.width() * i / max(1, n - 1)
            path.moveTo(x, mid - half * float(self.maxs[i]) / peak)
            path.lineTo(x, mid - half * float(self.mins[i]) / peak)
        p.setPen(QPen(self.color, max(1.0, area.width() / n)))
        p.drawPath(path)
        p.end()


class Banner(QFrame):
    """Non-modal message strip above the content; stays until closed or replaced."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 8, 8)
        self.icon = QLabel("⚠")
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setObjectName("flat")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(self.icon)
        lay.addWidget(self.text, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, message: str, level: str = "error") -> None:
        self.setProperty("level", level)
        self.icon.setText("⚠" if level == "error" else "ℹ")
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.setText(message)
        self.show()


class ElidedLabel(QLabel):
    """A one-line label that elides its text (middle by default) to the width it is given."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__()
        self._full = ""
        self._mode = mode
        self.setMinimumWidth(60)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str | None) -> None:
        self._full = text or ""
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, e: QResizeEvent | None) -> None:
        super().resizeEvent(e)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, self._mode, max(0, self.width())))


def dialog_header(outer: QVBoxLayout, title: str, subtitle: str) -> Banner:
    """A dialog's title, subtitle and (hidden) error banner, added to ``outer``; returns the banner."""
    t = QLabel(title)
    t.setObjectName("appTitle")
    sub = QLabel(subtitle)
    sub.setObjectName("appSubtitle")
    sub.setWordWrap(True)
    outer.addWidget(t)
    outer.addWidget(sub)
    banner = Banner()
    outer.addWidget(banner)
    return banner


def accept_file_drag(e: QDragEnterEvent | None) -> None:
    """Accept a drag that carries URLs (files); for ``dragEnterEvent``."""
    if e is not None and e.mimeData() is not None and e.mimeData().hasUrls():
        e.acceptProposedAction()


def dropped_files(e: QDropEvent | None) -> list[Path]:
    """The local files of a drop (accepting it); for ``dropEvent``."""
    if e is None or e.mimeData() is None:
        return []
    paths = [Path(u.toLocalFile()) for u in e.mimeData().urls() if u.isLocalFile()]
    e.acceptProposedAction()
    return paths


def repolish(w: QWidget) -> None:
    w.style().unpolish(w)
    w.style().polish(w)
    w.update()


class VoiceCard(QFrame):
    """One voice: title, shortcut key, kind/latency/licence tags, description; click selects."""

    clicked = pyqtSignal(str)
    playRequested = pyqtSignal(str)

    def __init__(self, card: object, key: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.viewmodels.library import VoiceCard as Card

        assert isinstance(card, Card)
        self.name = card.name
        self.setObjectName("voiceCard")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setProperty("broken", card.error is not None)
        self.setMinimumSize(190, 112)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(6)
        top = QHBoxLayout()
        title = QLabel(card.title)
        title.setObjectName("cardTitle")
        top.addWidget(title)
        top.addStretch(1)
        if key is not None:
            k = QLabel(str(key))
            k.setObjectName("cardKey")
            k.setToolTip(f"Press {key} to switch to this voice")
            top.addWidget(k)
        lay.addLayout(top)
        if card.error is not None:
            desc = QLabel("Broken bundle: " + card.error)
            self.setToolTip(card.error)
        else:
            desc = QLabel(card.description)
            self.setToolTip(f"{card.description}\nLicence: {card.licence}")
        desc.setObjectName("cardDesc")
        desc.setWordWrap(True)
        lay.addWidget(desc, 1)
        self.base_line = QLabel("")  # "base: <label>" while this neural voice runs live (set_base)
        self.base_line.setObjectName("cardMeta")
        self.base_line.setWordWrap(True)
        self.base_line.setVisible(False)
        lay.addWidget(self.base_line)
        tags = QHBoxLayout()
        tags.setSpacing(6)
        # the licence's first part only (a neural voice adds its source's; the tooltip has it all)
        licence = card.licence.split(";")[0]
        texts = [card.kind] if card.error else [card.kind, f"{card.latency_ms:.0f} ms", licence]
        if card.user:
            texts.append("yours")
        for t in texts:
            lab = QLabel(t)
            lab.setObjectName("tag")
            lab.setMinimumWidth(lab.sizeHint().width())  # never clipped: the description wraps instead
            tags.addWidget(lab)
        tags.addStretch(1)
        self.play = QPushButton("▶")
        self.play.setObjectName("cardPlay")
        self.play.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play.setFixedSize(28, 24)
        self.play.setToolTip("Hear a sample of this voice on the monitor (or output) device")
        self.play.clicked.connect(lambda: self.playRequested.emit(self.name))
        self.play.setVisible(card.error is None)
        tags.addWidget(self.play)
        lay.addLayout(tags)

    def set_selected(self, on: bool) -> None:
        self.setProperty("selected", on)
        repolish(self)

    def set_base(self, label: str, reason: str = "") -> None:
        """Show "base: <label>" (the neural base this voice runs on live); an empty label hides it."""
        self.base_line.setText(f"base: {label}" if label else "")
        self.base_line.setToolTip(reason)
        self.base_line.setVisible(bool(label))

    def mousePressEvent(self, e: QMouseEvent | None) -> None:
        if e is not None and e.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.name)
