"""Linux virtual microphone through `pactl` (PulseAudio, or PipeWire with pipewire-pulse).

`create_virtual_mic()` loads two modules: a mono null sink `voicechanger` ("VoiceChanger") that the
app plays into, and a remap source `voicechanger_mic` ("VoiceChanger Mic") over the sink's monitor,
which chat apps list as an ordinary microphone. The module ids this app created are kept in a
state file, so `remove_virtual_mic()` (in this or a later process) unloads exactly those, and only
while they still own our sink and source: module ids are reused after a server restart, and no
other module is ever touched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vc_core.errors import RoutingError

log = logging.getLogger(__name__)

SINK_NAME = "voicechanger"
SINK_DESCRIPTION = "VoiceChanger"
SOURCE_NAME = "voicechanger_mic"
SOURCE_DESCRIPTION = "VoiceChanger Mic"
NULL_SINK_MODULE = "module-null-sink"
REMAP_SOURCE_MODULE = "module-remap-source"
APP_STATE_NAME = "voicechanger"
STATE_FILE_NAME = "virtual_mic.json"
PACTL_TIMEOUT_S = 10.0

_MODULE_LINE = re.compile(r"^(\d+)\t(\S+)")
_NO_SERVER = (
    "no PulseAudio/PipeWire server is running: start one (`systemctl --user start pipewire pipewire-pulse "
    "wireplumber`, or `pulseaudio --start`) and try again"
)


@dataclass(frozen=True)
class VirtualMic:
    """The pulse modules behind the virtual microphone.

    `created` lists the module ids this call loaded (empty when everything already existed);
    only recorded ids are ever unloaded by `remove_virtual_mic`.
    """

    sink_name: str
    source_name: str
    sink_module_id: int
    source_module_id: int
    created: tuple[int, ...]


@dataclass(frozen=True)
class VirtualMicStatus:
    """What the server has now and what the state file says this app created."""

    server: str
    sink_module_id: int | None
    source_module_id: int | None
    recorded_module_ids: tuple[int, ...]

    @property
    def present(self) -> bool:
        """True when both the sink and the source exist."""
        return self.sink_module_id is not None and self.source_module_id is not None


def default_state_path() -> Path:
    """`<user state dir>/voicechanger/virtual_mic.json` (platformdirs; XDG_STATE_HOME on Linux)."""
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_STATE_NAME, appauthor=False)) / STATE_FILE_NAME


# -- pactl -------------------------------------------------------------------------------------


def _pactl(*args: str) -> str:
    """Run `pactl ARGS` in the C locale; RoutingError when pactl or the server is missing or it fails."""
    exe = shutil.which("pactl")
    if exe is None:
        raise RoutingError(
            "pactl not found: install it (Debian/Ubuntu: apt-get install pulseaudio-utils; Fedora: pulseaudio-utils; "
            "Arch: libpulse) to let the app create a virtual microphone"
        )
    env = {**os.environ, "LC_ALL": "C"}
    try:
        res = subprocess.run(
            [exe, *args], env=env, capture_output=True, text=True, timeout=PACTL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RoutingError(f"pactl {' '.join(args)} gave no answer in {PACTL_TIMEOUT_S:.0f} s: {_NO_SERVER}") from exc
    if res.returncode != 0:
        err = (res.stderr or res.stdout).strip()
        if "connection" in err.lower() or "pa_context_connect" in err:
            raise RoutingError(f"{_NO_SERVER} (pactl said: {err})")
        raise RoutingError(f"pactl {' '.join(args)} failed with exit code {res.returncode}: {err}")
    return res.stdout


def _server_name() -> str:
    for line in _pactl("info").splitlines():
        if line.startswith("Server Name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _modules() -> dict[int, str]:
    """Module id → module name (`pactl list short modules`; arguments may span lines)."""
    out: dict[int, str] = {}
    for line in _pactl("list", "short", "modules").splitlines():
        m = _MODULE_LINE.match(line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def _owner_modules(kind: str) -> dict[str, int]:
    """Sink or source name → owner module id, from `pactl list sinks|sources` (C locale)."""
    out: dict[str, int] = {}
    name: str | None = None
    for raw in _pactl("list", kind).splitlines():
        line = raw.strip()
        if line.startswith(("Sink #", "Source #")):
            name = None
        elif line.startswith("Name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Owner Module:") and name is not None:
            value = line.split(":", 1)[1].strip()
            if value.isdigit():
                out[name] = int(value)
    return out


def _current() -> tuple[int | None, int | None]:
    """(sink module id, source module id) of our sink and source if they exist now."""
    return _owner_modules("sinks").get(SINK_NAME), _owner_modules("sources").get(SOURCE_NAME)


def _load(module: str, *args: str) -> int:
    out = _pactl("load-module", module, *args).strip()
    if not out.isdigit():
        raise RoutingError(f"pactl load-module {module} printed {out!r} instead of a module id")
    return int(out)


# -- state file --------------------------------------------------------------------------------


def _read_state(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable virtual mic state %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("sink_module_id", "source_module_id") and isinstance(v, int)}


def _write_state(path: Path, state: dict[str, int]) -> None:
    if not state:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".virtual_mic.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def _require_linux() -> None:
    if not sys.platform.startswith("linux"):
        raise RoutingError(
            f"the built-in virtual microphone needs Linux with PulseAudio or PipeWire, not {sys.platform}: "
            "use a virtual cable (VB-Audio Cable on Windows, BlackHole on macOS)"
        )


# -- public ------------------------------------------------------------------------------------


def create_virtual_mic(rate_hz: int = 48000, state_path: Path | None = None) -> VirtualMic:
    """Make sink `voicechanger` and source `voicechanger_mic` (mono float32 at `rate_hz`) unless present.

    Idempotent: existing modules are returned as they are and not recorded as ours. Raises
    RoutingError when pactl is missing, no server answers or a module fails to load (then any
    module this call loaded is unloaded again).
    """
    _require_linux()
    path = state_path or default_state_path()
    _server_name()  # clear error before anything is loaded
    sink_id, source_id = _current()
    state = _read_state(path)
    created: list[int] = []
    try:
        if sink_id is None:
            sink_id = _load(
                NULL_SINK_MODULE,
                f"sink_name={SINK_NAME}",
                "format=float32le",
                f"rate={rate_hz}",
                "channels=1",
                "channel_map=mono",
                # Outer single quotes for the module-argument parser, inner double quotes for the proplist.
                f"sink_properties='device.description=\"{SINK_DESCRIPTION}\"'",
            )
            created.append(sink_id)
            state["sink_module_id"] = sink_id
        if source_id is None:
            source_id = _load(
                REMAP_SOURCE_MODULE,
                f"master={SINK_NAME}.monitor",
                f"source_name={SOURCE_NAME}",
                "channels=1",
                "channel_map=mono",
                f"source_properties='device.description=\"{SOURCE_DESCRIPTION}\"'",
            )
            created.append(source_id)
            state["source_module_id"] = source_id
    except RoutingError:
        for mid in reversed(created):
            _unload_quietly(mid)
        raise
    if created:
        _write_state(path, state)
        log.info("virtual mic created: modules %s (state in %s)", created, path)
    return VirtualMic(SINK_NAME, SOURCE_NAME, sink_id, source_id, tuple(created))


def remove_virtual_mic(state_path: Path | None = None) -> tuple[int, ...]:
    """Unload the modules this app recorded as created, if they still own our sink/source; returns the ids unloaded.

    Modules not recorded (made by the user or another tool) and recorded ids that now belong to
    something else are left alone; the state file is cleared either way.
    """
    _require_linux()
    path = state_path or default_state_path()
    state = _read_state(path)
    if not state:
        return ()
    sink_id, source_id = _current()
    modules = _modules()
    removed: list[int] = []
    # Source first: it reads from the sink's monitor.
    for key, live_id, module in (
        ("source_module_id", source_id, REMAP_SOURCE_MODULE),
        ("sink_module_id", sink_id, NULL_SINK_MODULE),
    ):
        mid = state.pop(key, None)
        if mid is None:
            continue
        if mid != live_id or modules.get(mid) != module:
            log.warning("virtual mic: module %d no longer owns our %s: leaving it alone", mid, key[:-10])
            continue
        _pactl("unload-module", str(mid))
        removed.append(mid)
        _write_state(path, state)
    _write_state(path, state)
    log.info("virtual mic removed: modules %s", removed)
    return tuple(removed)


def virtual_mic_status(state_path: Path | None = None) -> VirtualMicStatus:
    """What exists now (module ids of our sink/source or None) and which ids the state file records."""
    _require_linux()
    server = _server_name()
    sink_id, source_id = _current()
    state = _read_state(state_path or default_state_path())
    return VirtualMicStatus(server, sink_id, source_id, tuple(sorted(state.values())))


def _unload_quietly(module_id: int) -> None:
    try:
        _pactl("unload-module", str(module_id))
    except RoutingError as exc:
        log.warning("could not unload module %d while undoing a failed create: %s", module_id, exc)


PULSE_DEVICE = "pulse"  # PortAudio's ALSA device that plays into the sound server's chosen sink


def play_into_sink(sink_name: str = SINK_NAME) -> str:
    """Make this process's ALSA ``pulse`` device play into ``sink_name`` (the virtual mic's sink);
    returns that device's name to open. Applies to streams opened from now on."""
    os.environ["PULSE_SINK"] = sink_name
    return PULSE_DEVICE
