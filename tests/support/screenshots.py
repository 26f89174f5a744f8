"""Where the app tests save their screenshots.

Tests save into their own temporary folder, so a test run never changes the documentation.
`make screenshots` sets ``VC_SCREENSHOTS_DIR=docs/screenshots`` to regenerate the published ones.
"""

from __future__ import annotations

import os
from pathlib import Path

SCREENSHOTS_ENV = "VC_SCREENSHOTS_DIR"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where to save screenshot ``name`` (e.g. ``main_window.png``): under ``$VC_SCREENSHOTS_DIR`` when set,
    else under the test's ``tmp_path``. The folder exists on return."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
