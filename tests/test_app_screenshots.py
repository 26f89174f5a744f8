"""Screenshots of the file conversion dialog after a real conversion and of the voice-from-clip dialog.

Saved under the test's temp dir; `make screenshots` saves them as docs/screenshots/file_dialog.png and
voice_from_clip.png (see tests/support/screenshots.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

from app.main import build
from tests.helpers import REPO, librivox_clip
from tests.support.screenshots import screenshot_path


def test_file_dialog_screenshot(qtbot, qapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.views import theme

    theme.apply(qapp)
    a = build(settings_path=tmp_path / "s.json", user_voices=tmp_path / "voices", scan_devices=False)
    qtbot.addWidget(a.window)
    a.library.select("deep")
    dlg = a.window.open_convert_dialog()
    dlg.resize(1040, 860)
    from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PyQt6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(librivox_clip()))])
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    dlg.dropEvent(drop)  # drag and drop adds files
    assert a.convert.files == [librivox_clip()]
    a.convert.add([REPO / "assets" / "speech_librivox.flac"])
    dlg.out_edit.setText(str(tmp_path / "out"))
    got: dict[str, object] = {}
    a.convert.previewReady.connect(lambda k, p: got.__setitem__(k, p))
    with qtbot.waitSignal(a.convert.finished, timeout=60000):
        dlg.start_btn.click()
    dlg.list.setCurrentRow(0)
    qtbot.waitUntil(lambda: "before" in got and "after" in got, timeout=10000)
    assert dlg.total_bar.value() == 1000
    assert len(list((tmp_path / "out").iterdir())) == 2
    assert not dlg.play_btns["after"].isEnabled()  # no device here: disabled with a tooltip
    assert "No output" in dlg.play_btns["after"].toolTip()
    dlg.banner.hide()
    qtbot.wait(50)
    assert dlg.grab().save(str(screenshot_path("file_dialog.png", tmp_path)))


def test_voice_from_clip_screenshot(qtbot, qapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The main window's button opens the dialog; a dropped clip becomes a voice and its card appears."""
    from app.views import theme

    theme.apply(qapp)
    a = build(settings_path=tmp_path / "s.json", user_voices=tmp_path / "voices", scan_devices=False)
    qtbot.addWidget(a.window)
    w = a.window
    assert w.voices_panel.new_voice_btn.isEnabled()
    w.voices_panel.new_voice_btn.click()
    dlg = w._voice_clip_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.resize(980, 820)
    from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PyQt6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(librivox_clip()))])
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    with qtbot.waitSignal(a.voice_clip.clipChanged, timeout=30000):
        dlg.dropEvent(drop)  # drag and drop picks the clip
    assert dlg.name_edit.text() == "sense-and-sensibility-01-austen-64kb"
    dlg.name_edit.clear()
    qtbot.keyClicks(dlg.name_edit, "Austen")  # checked as it is typed
    assert not dlg.create_btn.isEnabled() and "lower-case" in dlg.name_check.text()
    dlg.name_edit.clear()
    qtbot.keyClicks(dlg.name_edit, "austen-reader")
    assert dlg.create_btn.isEnabled() and dlg.name_check.text().startswith("✓")
    qtbot.keyClicks(dlg.display_edit, "Austen reader")
    assert not dlg.record_btn.isEnabled()  # no microphone in this test
    with qtbot.waitSignal(a.voice_clip.created, timeout=120000):
        dlg.create_btn.click()
    assert dlg.result.isVisible() and "Austen reader" in dlg.result_title.text()
    assert dlg.r_used.value.text() == "7.1 s" and dlg.r_f0.value.text().endswith("Hz")
    # the library view-model was refreshed: the card is in the main window
    assert "austen-reader" in w.voices_panel.cards
    w.banner.hide()
    qtbot.wait(50)
    assert dlg.grab().save(str(screenshot_path("voice_from_clip.png", tmp_path)))
    dlg.use_btn.click()
    assert a.library.selected == "austen-reader" and not dlg.isVisible()
