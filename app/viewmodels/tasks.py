"""Run one callable on a worker QThread and deliver its result on the Qt main thread.

Anything that may block (loading a voice, opening a device, pactl, calibration, conversion) goes
through :func:`run_task`, so the Qt main thread never waits on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from vc_core.errors import VcError

log = logging.getLogger(__name__)


class Task(QThread):
    """Runs ``fn()``; emits ``succeeded(result)`` or ``failed(message)`` (queued to the owner's thread)."""

    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, fn: Callable[[], Any], what: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.what = what

    def run(self) -> None:
        try:
            result = self._fn()
        except VcError as e:  # expected: its message is written for the user
            log.info("%s failed: %s", self.what, e)
            self.failed.emit(str(e))
        except Exception as e:
            log.exception("%s failed", self.what)
            self.failed.emit(f"{self.what} failed: {type(e).__name__}: {e}")
        else:
            self.succeeded.emit(result)


class TaskRunner(QObject):
    """Keeps running tasks alive until they finish; ``busy`` while any runs."""

    busyChanged = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[Task] = set()

    def run(
        self,
        fn: Callable[[], Any],
        what: str,
        on_ok: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> Task:
        task = Task(fn, what)
        if on_ok is not None:
            task.succeeded.connect(on_ok)
        if on_error is not None:
            task.failed.connect(on_error)
        task.finished.connect(lambda t=task: self._done(t))
        was_busy = bool(self._tasks)
        self._tasks.add(task)
        task.start()
        if not was_busy:
            self.busyChanged.emit(True)
        return task

    def _done(self, task: Task) -> None:
        self._tasks.discard(task)
        task.wait()  # `finished` comes from the thread's last moments: let it end before deletion
        task.deleteLater()
        if not self._tasks:
            self.busyChanged.emit(False)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def wait_all(self, timeout_ms: int = 10000) -> None:
        """Block until every task ends (app shutdown only)."""
        for t in list(self._tasks):
            t.wait(timeout_ms)
