"""Logging to a rotating file in the user log dir (platformdirs), set up by ``main()`` only."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "vc-app.log"
_path: Path | None = None


def default_log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("voicechanger", appauthor=False))


def setup(log_dir: Path | None = None, level: int = logging.INFO) -> Path:
    """Log to ``<log_dir>/vc-app.log`` (1 MB × 3) and to stderr at WARNING; returns the file path."""
    global _path
    d = log_dir or default_log_dir()
    d.mkdir(parents=True, exist_ok=True)
    _path = d / LOG_NAME
    root = logging.getLogger()
    root.setLevel(level)
    fh = logging.handlers.RotatingFileHandler(_path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    sh = logging.StreamHandler()
    sh.setLevel(logging.WARNING)
    sh.setFormatter(logging.Formatter("vc-app: %(levelname)s %(message)s"))
    root.addHandler(fh)
    root.addHandler(sh)
    return _path


def log_path() -> Path:
    return _path or default_log_dir() / LOG_NAME
