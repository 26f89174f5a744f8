"""Loads the dark theme (QSS beside this file) and the palette the painted widgets use."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import QApplication

QSS_PATH = Path(__file__).with_name("theme.qss")

BG = QColor("#101217")
PANEL = QColor("#171a21")
RAISED = QColor("#1f232c")
LINE = QColor("#2a2f3a")
TEXT = QColor("#e7e9ee")
MUTED = QColor("#8d95a5")
ACCENT = QColor("#8b5cf6")
ACCENT2 = QColor("#22d3ee")
LIVE = QColor("#22c55e")
WARN = QColor("#f59e0b")
ERROR = QColor("#ef4444")


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    font = QFont()
    font.setFamilies(["Inter", "Segoe UI", "SF Pro Text", "Cantarell", "DejaVu Sans"])
    font.setPointSizeF(10.0)
    app.setFont(font)
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, BG)
    pal.setColor(QPalette.ColorRole.Base, RAISED)
    pal.setColor(QPalette.ColorRole.AlternateBase, PANEL)
    pal.setColor(QPalette.ColorRole.Text, TEXT)
    pal.setColor(QPalette.ColorRole.WindowText, TEXT)
    pal.setColor(QPalette.ColorRole.Button, RAISED)
    pal.setColor(QPalette.ColorRole.ButtonText, TEXT)
    pal.setColor(QPalette.ColorRole.Highlight, ACCENT)
    pal.setColor(QPalette.ColorRole.ToolTipBase, RAISED)
    pal.setColor(QPalette.ColorRole.ToolTipText, TEXT)
    app.setPalette(pal)
    app.setStyleSheet(QSS_PATH.read_text(encoding="utf-8"))
