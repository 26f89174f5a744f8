"""``vc-app``: builds the library, settings and view-models, then the main window (no singletons).

    python -m app.main [--log-dir DIR] [--settings FILE] [--quit-after-ms N]

``--quit-after-ms`` exits after N ms of event loop (packaging smoke test, screenshots).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("app")


@dataclass
class App:
    """Everything ``main`` builds, for tests and for shutdown."""

    window: object
    devices: object
    library: object
    live: object
    vmic: object
    convert: object
    settings: object
    voice_clip: object = None


def build(
    settings_path: Path | None = None,
    library: object | None = None,
    user_voices: Path | None = None,
    vmic_state: Path | None = None,
    scan_devices: bool = True,
) -> App:
    """Build view-models and the main window (a QApplication must exist)."""
    from app.settings import Settings
    from app.viewmodels.convert import ConvertViewModel
    from app.viewmodels.devices import DevicesViewModel
    from app.viewmodels.library import LibraryViewModel
    from app.viewmodels.live import Controls, LiveViewModel
    from app.viewmodels.virtual_mic import VirtualMicViewModel
    from app.viewmodels.voice_clip import VoiceClipViewModel
    from app.views.main_window import MainWindow
    from vc_core.voices.library import VoiceLibrary, shipped_models_dir, user_voices_dir

    settings = Settings(settings_path).load()
    user_dir = user_voices or user_voices_dir()
    lib = library if isinstance(library, VoiceLibrary) else VoiceLibrary([shipped_models_dir(), user_dir])
    library_vm = LibraryViewModel(lib, user_dir)
    devices = DevicesViewModel()
    live = LiveViewModel(library_vm, devices)
    live.set_base_request(settings["neural_base"])  # validated by migrate(); files convert on the same base
    vmic = VirtualMicViewModel(vmic_state)
    convert = ConvertViewModel(lib, base_request=live.base_request)
    # files convert on the live base and are cleaned as the live input is: a file sounds like the live voice
    live.baseRequestChanged.connect(lambda r: setattr(convert, "base_request", r))
    live.baseRequestChanged.connect(lambda r: setattr(library_vm, "base_request", r))  # card samples too
    library_vm.base_request = live.base_request
    live.controlsChanged.connect(lambda c: setattr(convert, "denoise", c.denoise_setting()))
    voice_clip = VoiceClipViewModel(library_vm, devices, live_input=live.input_in_use)
    library_vm.refresh()
    if settings["voice"] in library_vm.names():
        library_vm.select(settings["voice"])
    live.set_controls(Controls.from_dict(settings["controls"]))
    live.preset = settings["latency_preset"]
    window = MainWindow(devices, library_vm, live, vmic, convert, voice_clip, settings)
    if scan_devices:
        wanted = {r: (d["name"], d["host_api"]) if d else None for r, d in settings["devices"].items()}
        devices.refresh(rescan=False, wanted=wanted)
        vmic.refresh()
    window.restore_state()
    return App(window, devices, library_vm, live, vmic, convert, settings, voice_clip)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vc-app", description="voicechanger desktop app")
    ap.add_argument("--log-dir", type=Path, default=None, help="log folder (default: the user log dir)")
    ap.add_argument("--settings", type=Path, default=None, help="settings file (default: the user config dir)")
    ap.add_argument("--quit-after-ms", type=int, default=None, help="quit after this long (smoke tests)")
    args, qt_args = ap.parse_known_args(argv)

    from app import logs

    path = logs.setup(args.log_dir)
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from app.crash import CrashHook
    from app.views import theme

    qapp = QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName("voicechanger")
    qapp.setOrganizationName("voicechanger")
    theme.apply(qapp)
    hook = CrashHook()
    hook.install()
    app = build(args.settings)
    app.window.show()  # type: ignore[attr-defined]
    log.info("vc-app started (log %s)", path)
    if args.quit_after_ms is not None:
        QTimer.singleShot(args.quit_after_ms, app.window.close)  # type: ignore[attr-defined]
    try:
        return qapp.exec()
    finally:
        hook.uninstall()
        log.info("vc-app stopped")


if __name__ == "__main__":
    sys.exit(main())
