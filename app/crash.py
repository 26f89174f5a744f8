"""Crash hook: log every uncaught exception to the user log dir, show one dialog at a time, keep running.

Installed on ``sys.excepthook`` (Qt main thread: PyQt calls it for exceptions in slots) and on
``threading.excepthook`` (worker threads). A worker's exception is marshalled to the main thread
through a queued signal before any dialog is shown.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from PyQt6.QtCore import QObject, pyqtSignal

log = logging.getLogger("app.crash")


class CrashHook(QObject):
    """``show`` is called on the main thread with (title, text); a second crash while a dialog is up is only logged."""

    _report = pyqtSignal(str, str)

    def __init__(self, show: Callable[[str, str], None] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._show = show or _message_box
        self._showing = False
        self.count = 0
        self._report.connect(self._display)
        self._old: tuple[object, object] | None = None

    def install(self) -> None:
        self._old = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if self._old is not None:
            sys.excepthook, threading.excepthook = self._old  # type: ignore[assignment]
            self._old = None

    def handle(
        self, etype: type[BaseException], value: BaseException, tb: TracebackType | None, where: str = "main thread"
    ) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        self.count += 1
        text = "".join(traceback.format_exception(etype, value, tb))
        log.critical("uncaught exception in %s:\n%s", where, text)
        self._report.emit(f"{etype.__name__}: {value}", text)  # queued when called off the main thread

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    def _display(self, summary: str, details: str) -> None:
        if self._showing:
            return  # one dialog at a time; the log has everything
        self._showing = True
        try:
            self._show(summary, details)
        finally:
            self._showing = False


def _message_box(summary: str, details: str) -> None:
    from PyQt6.QtWidgets import QMessageBox

    from app.logs import log_path

    box = QMessageBox()
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Something went wrong")
    box.setText(f"The app hit an unexpected error and kept running.\n\n{summary}")
    box.setInformativeText(f"Details are in {log_path()}")
    box.setDetailedText(details)
    box.exec()
