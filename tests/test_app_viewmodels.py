"""View-models and the main window without audio devices (pytest-qt, offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PyQt6.QtCore import Qt

from app.crash import CrashHook
from app.main import build
from app.viewmodels.convert import ConvertViewModel
from app.viewmodels.devices import DevicesViewModel
from app.viewmodels.library import import_bundle
from tests.helpers import REPO, librivox_clip
from vc_core.errors import DeviceError, ModelBundleError
from vc_core.io.devices import DeviceInfo
from vc_core.voices.library import VoiceLibrary


def _dev(name: str, idx: int, inp: bool) -> DeviceInfo:
    return DeviceInfo(
        name, "ALSA", idx, 1 if inp else 0, 0 if inp else 2, 48000.0, inp and idx == 0, not inp and idx == 1
    )


@pytest.fixture
def app(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    a = build(
        settings_path=tmp_path / "settings.json",
        user_voices=tmp_path / "voices",
        vmic_state=tmp_path / "vmic.json",
        scan_devices=False,
    )
    qtbot.addWidget(a.window)
    yield a
    a.live.shutdown()


# ---------------------------------------------------------------------------- devices


def test_device_list_failure_keeps_old_devices_and_reports(qtbot) -> None:  # type: ignore[no-untyped-def]
    calls = {"n": 0}
    devs = {"input": [_dev("Mic", 0, True)], "output": [_dev("Speakers", 1, False), _dev("Phones", 2, False)]}

    def lister(kind: str) -> list[DeviceInfo]:
        calls["n"] += 1
        if calls["n"] > 2:
            raise DeviceError("PortAudio: Unanticipated host error [ALSA error -19]")
        return devs[kind]

    vm = DevicesViewModel(lister=lister, rescan=lambda: None)
    assert vm.refresh()
    assert vm.selected("input").name == "Mic" and vm.selected("output").name == "Speakers"  # default first
    vm.select_key("output", ("Phones", "ALSA"))
    with qtbot.waitSignal(vm.error, timeout=1000) as sig:
        assert not vm.refresh()
    assert "ALSA error -19" in sig.args[0] and "keeping the previous list" in sig.args[0]
    assert [d.name for d in vm.outputs] == ["Speakers", "Phones"]
    assert vm.selected("output").name == "Phones"
    assert vm.saved()["output"] == {"name": "Phones", "host_api": "ALSA"}


# ---------------------------------------------------------------------------- library


def _bundle_copy(tmp: Path, name: str) -> Path:
    dst = tmp / "src" / name
    shutil.copytree(REPO / "models" / "robot", dst)
    m = json.loads((dst / "manifest.json").read_text())
    m["name"], m["display_name"] = name, name.title()
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as z:
        for p in folder.rglob("*"):
            z.write(p, Path(folder.name) / p.relative_to(folder))
    return out


def test_import_zip_bundle_adds_a_card(app, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    z = _zip(_bundle_copy(tmp_path, "robot2"), tmp_path / "robot2.zip")
    with qtbot.waitSignal(app.library.imported, timeout=10000) as sig:
        app.library.import_bundle(z)
    assert sig.args == ["robot2"]
    card = next(c for c in app.library.cards if c.name == "robot2")
    assert card.user and card.kind == "effects"
    assert (tmp_path / "voices" / "robot2" / "manifest.json").is_file()
    assert "robot2" in app.window.cards


def test_import_rejects_tampered_and_duplicate_bundles(app, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = _bundle_copy(tmp_path, "broken")
    (bad / "effect.json").write_text('{"pitch_semitones": 3}')
    with qtbot.waitSignal(app.library.error, timeout=10000) as sig:
        app.library.import_bundle(_zip(bad, tmp_path / "broken.zip"))
    assert "import failed" in sig.args[0] and "sha256" in sig.args[0]
    with pytest.raises(ModelBundleError, match="already in the library"):
        import_bundle(REPO / "models" / "deep", tmp_path / "voices", {"deep"})
    with pytest.raises(ModelBundleError, match=r"not a folder or a \.zip"):
        import_bundle(librivox_clip(), tmp_path / "voices", set())
    assert not (tmp_path / "voices").exists() or not any((tmp_path / "voices").iterdir())
    assert app.window.banner.isVisibleTo(app.window) and "sha256" in app.window.banner.text.text()


# ---------------------------------------------------------------------------- window, shortcuts, live controls


def test_shortcuts_select_voices_and_toggle_passthrough(app, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = app.window
    with qtbot.waitActive(w):  # window shortcuts need the active window
        w.show()
        w.activateWindow()
    names = app.library.names()
    qtbot.keyClick(w, Qt.Key.Key_3)
    assert app.library.selected == names[2]
    assert w.cards[names[2]].property("selected") is True
    qtbot.keyClick(w, Qt.Key.Key_P)
    assert app.live.passthrough and w.pass_btn.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_P)
    assert not app.live.passthrough
    dlg = w.show_shortcuts()
    from PyQt6.QtWidgets import QTableWidget

    t = dlg.findChild(QTableWidget)
    keys = [t.item(i, 0).text() for i in range(t.rowCount())]
    assert {"Space", "P", "1 – 9"} <= set(keys)
    dlg.close()
    # Space with no devices: a banner, not a crash
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.banner.isVisible() and "device" in w.banner.text.text()


def test_rejected_control_keeps_previous_value(app, qtbot) -> None:  # type: ignore[no-untyped-def]
    live = app.live
    assert live.set_control("pitch_semitones", 3.0)
    with qtbot.waitSignal(live.error, timeout=1000) as sig:
        assert not live.set_control("formant_ratio", 2.0)
    assert "formant_ratio" in sig.args[0] and "0.7" in sig.args[0]
    assert live.controls.formant_ratio == 1.0 and live.controls.pitch_semitones == 3.0
    live.set_preset("low")
    assert app.window.preset_combo.currentData() == "low"


def test_settings_saved_on_close(app, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app.library.select("robot")
    app.live.set_control("output_gain_db", -6.0)
    app.live.set_preset("safe")
    app.window.resize(1200, 800)
    app.window.close()
    data = json.loads((tmp_path / "settings.json").read_text())
    assert data["voice"] == "robot" and data["controls"]["output_gain_db"] == -6.0
    assert data["latency_preset"] == "safe" and data["window"]["geometry"]
    again = build(settings_path=tmp_path / "settings.json", user_voices=tmp_path / "voices", scan_devices=False)
    qtbot.addWidget(again.window)
    assert again.library.selected == "robot" and again.live.preset == "safe"
    assert again.window.sliders["output_gain_db"].value() == -6.0


# ---------------------------------------------------------------------------- crash hook


def test_crash_hook_logs_and_shows_one_dialog_at_a_time(qtbot, caplog) -> None:  # type: ignore[no-untyped-def]
    shown: list[str] = []
    hook: CrashHook

    def show(summary: str, details: str) -> None:
        shown.append(summary)
        try:
            raise RuntimeError("second, while the first dialog is up")
        except RuntimeError as e:
            hook.handle(type(e), e, e.__traceback__)  # re-entrant: only logged
        qtbot.wait(50)

    hook = CrashHook(show)
    hook.install()
    try:
        try:
            raise ValueError("boom")
        except ValueError as e:
            sys.excepthook(type(e), e, e.__traceback__)
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
        t = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        t.start()
        t.join()
        qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)
    finally:
        hook.uninstall()
    assert shown[0].startswith("ValueError: boom") and shown[1].startswith("ZeroDivisionError")
    assert hook.count == 4
    assert "thread worker-x" in caplog.text and "boom" in caplog.text


# ---------------------------------------------------------------------------- file conversion


def test_convert_vm_equals_vc_convert(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = librivox_clip()
    vm = ConvertViewModel(VoiceLibrary.default())
    assert vm.add([clip]) == 1
    vm.voice, vm.pitch_semitones, vm.formant_ratio = "high", -2.0, 0.95
    vm.output_dir, vm.format = tmp_path / "gui", "wav"
    fractions: list[float] = []
    vm.totalProgress.connect(fractions.append)
    with qtbot.waitSignal(vm.finished, timeout=60000) as sig:
        assert vm.start()
    (gui_out,) = (Path(p) for p in sig.args[0])
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    vc = Path(sys.executable).parent / "vc"
    res = subprocess.run(
        [
            str(vc),
            "convert",
            str(clip),
            str(cli_dir),
            "--voice",
            "high",
            "--pitch",
            "-2",
            "--formant",
            "0.95",
            "--format",
            "wav",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    cli_out = cli_dir / gui_out.name
    a, ra = sf.read(str(gui_out), dtype="float32")
    b, rb = sf.read(str(cli_out), dtype="float32")
    assert ra == rb and a.shape == b.shape and len(a) > ra * 5
    np.testing.assert_array_equal(a, b)


def test_convert_cancel_leaves_no_partial_files(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, sr = sf.read(str(librivox_clip()), dtype="float32")
    long = tmp_path / "in" / "long.wav"
    long.parent.mkdir()
    sf.write(str(long), np.tile(x, 6), sr, subtype="FLOAT")  # ~43 s: several seconds to convert
    vm = ConvertViewModel(VoiceLibrary.default())
    vm.add([long.parent])  # a folder expands to its audio files
    vm.output_dir = tmp_path / "out"
    vm.fileProgress.connect(lambda i, f: vm.cancel() if f > 0.05 else None)
    with qtbot.waitSignal(vm.cancelled, timeout=60000):
        vm.start()
    assert list((tmp_path / "out").iterdir()) == []
    assert long.is_file()


# ---------------------------------------------------------------------------- entry point


def test_main_starts_offscreen_and_logs_startup(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    res = subprocess.run(
        [sys.executable, "-m", "app.main", "--quit-after-ms", "1500", "--log-dir", str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "logs" / "vc-app.log").read_text()
    assert "INFO app [MainThread] vc-app started" in log and "vc-app stopped" in log
    assert (tmp_path / "config" / "voicechanger" / "app_settings.json").is_file()  # saved on close
