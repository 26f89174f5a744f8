"""Small composite widgets: a labelled slider with a value tag, a readout tile, a titled panel."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget


class ValueSlider(QWidget):
    """A slider over [lo, hi] in ``step`` units; emits ``changed(float)`` on user moves only."""

    changed = pyqtSignal(float)

    def __init__(
        self, lo: float, hi: float, step: float, fmt: Callable[[float], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.lo, self.step, self.fmt = lo, step, fmt
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(10)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((hi - lo) / step))
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space, P and 1–9 stay shortcuts
        self.tag = QLabel()
        self.tag.setObjectName("valueTag")
        self.tag.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.tag)
        self.slider.valueChanged.connect(self._moved)
        self._quiet = False

    def value(self) -> float:
        return self.lo + self.slider.value() * self.step

    def set_value(self, v: float) -> None:
        self._quiet = True
        self.slider.setValue(round((v - self.lo) / self.step))
        self._quiet = False
        self.tag.setText(self.fmt(self.value()))

    def _moved(self, _: int) -> None:
        self.tag.setText(self.fmt(self.value()))
        if not self._quiet:
            self.changed.emit(self.value())


class Readout(QWidget):
    """A big value over a small label."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.value = QLabel("—")
        self.value.setObjectName("readoutValue")
        self.label = QLabel(label)
        self.label.setObjectName("readoutLabel")
        lay.addWidget(self.value)
        lay.addWidget(self.label)

    def set(self, text: str, tooltip: str = "") -> None:
        self.value.setText(text)
        if tooltip:
            self.setToolTip(tooltip)


class Panel(QFrame):
    """A titled panel (the QSS styles ``#panel``); ``lay`` is its vertical layout."""

    def __init__(self, title: str | None = None, spacing: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(16, 14, 16, 16)
        self.lay.setSpacing(spacing)
        if title:
            t = QLabel(title.upper())
            t.setObjectName("panelTitle")
            self.lay.addWidget(t)


def panel(title: str | None = None, spacing: int = 10) -> tuple[QFrame, QVBoxLayout]:
    p = Panel(title, spacing)
    return p, p.lay
