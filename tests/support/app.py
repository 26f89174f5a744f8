"""The desktop app built for a test: settings, user voices and virtual-mic state in the test's temp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.main import App, build


def app_in(tmp_path: Path, qtbot: Any) -> App:
    """The app with nothing read from or written to the user's folders, no device scan; the window is
    registered with ``qtbot`` (closed after the test)."""
    a = build(
        settings_path=tmp_path / "settings.json",
        user_voices=tmp_path / "voices",
        vmic_state=tmp_path / "vmic.json",
        scan_devices=False,
    )
    qtbot.addWidget(a.window)
    return a
