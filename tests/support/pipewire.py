"""A private PipeWire sound server with virtual devices only, for tests on machines with no sound card.

`PipeWireSession` starts `dbus-daemon`, `pipewire`, `wireplumber` and `pipewire-pulse` in a
temporary XDG_RUNTIME_DIR, makes one mono float32 null sink per name (48 kHz by default) plus a
mono remap source `NAME_src` fed by the sink's monitor, and writes an asoundrc so PortAudio's
ALSA host API lists both as devices (`NAME` to play into, `NAME_src` to record the same audio back).

While a session runs it sets PULSE_SERVER, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_STATE_HOME and
DBUS_SESSION_BUS_ADDRESS in `os.environ` (restored on stop), so `pactl`, libpulse and ALSA in this
process and in its children talk to the private server and never to the user's own.

PortAudio reads the ALSA configuration once, at `Pa_Initialize`, and sounddevice initialises at
import. The fixtures here therefore call `refresh_sounddevice()` (`vc_core.io.devices.reinitialize_portaudio`)
once, after the environment is set, so it does not matter whether sounddevice was imported earlier.
A sink added later with `add_sink` needs another `refresh_sounddevice()` before PortAudio lists it.

Daemons are stopped by PID (SIGTERM, then SIGKILL after a timeout) and the temp dir is removed.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from vc_core.errors import DeviceError
from vc_core.io.devices import reinitialize_portaudio

log = logging.getLogger(__name__)

DAEMONS = ("dbus-daemon", "pipewire", "wireplumber", "pipewire-pulse")
APT_PACKAGES = "pipewire pipewire-pulse wireplumber dbus-daemon pulseaudio-utils libportaudio2 libasound2-plugins"
# Variables a session owns; anything that could point a client at another server is cleared.
_OWNED_ENV = (
    "PULSE_SERVER",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
)
_CLEARED_ENV = ("PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SINK", "PULSE_SOURCE")
_MODULE_LINE = re.compile(r"^(\d+)\t(\S+)")


def pipewire_missing_reason() -> str | None:
    """Why a session cannot start here (a binary is missing), or None when all are installed."""
    missing = [name for name in (*DAEMONS, "pactl") if shutil.which(name) is None]
    if not missing:
        return None
    return f"PipeWire test server unavailable: {', '.join(missing)} not on PATH (apt-get install {APT_PACKAGES})"


requires_pipewire = pytest.mark.skipif(
    shutil.which("pipewire") is None,
    reason=f"pipewire binary not found (apt-get install {APT_PACKAGES})",
)


@dataclass(frozen=True)
class VirtualSink:
    """One null sink and the remap source that records what is played into it."""

    name: str
    source_name: str
    sink_module_id: int
    source_module_id: int


class PipeWireSession:
    """A private PipeWire + pipewire-pulse server with mono null sinks; see the module docstring.

    Usable as a context manager; `start()` on a running session is a no-op and a stopped session
    can be started again (it gets a fresh temp dir). Only one session per process may run at a
    time, because it owns `os.environ`.
    """

    _active: PipeWireSession | None = None

    def __init__(
        self,
        sinks: Sequence[str] = ("vc_out",),
        *,
        rate_hz: int = 48000,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.initial_sinks = tuple(sinks)
        self.rate_hz = rate_hz
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.sinks: dict[str, VirtualSink] = {}
        self.env: dict[str, str] = {}
        self.root: Path | None = None
        self.start_s = float("nan")  # wall time the last start took
        self.stop_s = float("nan")
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful start() and stop()."""
        return PipeWireSession._active is self

    def start(self) -> PipeWireSession:
        """Start the daemons, wait for `pactl info`, create the initial sinks and set the env."""
        if self.running:
            return self
        if PipeWireSession._active is not None:
            raise RuntimeError("another PipeWireSession is running in this process: stop it first")
        reason = pipewire_missing_reason()
        if reason is not None:
            raise RuntimeError(reason)
        t0 = time.monotonic()
        # Unix socket paths are limited to 108 bytes: keep the root short.
        base = os.environ.get("TMPDIR", "/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="vc-pw-", dir=base if len(base) < 40 else "/tmp"))
        runtime = self.root / "run"
        config = self.root / "config"
        state = self.root / "state"
        for d in (runtime, config / "alsa", state):
            d.mkdir(parents=True, mode=0o700)
        bus = runtime / "bus"
        self.env = {
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(config),
            "XDG_STATE_HOME": str(state),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}",
            "PULSE_SERVER": f"unix:{runtime / 'pulse' / 'native'}",
        }
        PipeWireSession._active = self
        self._apply_env()
        atexit.register(self.stop)
        try:
            dbus = ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address=unix:path={bus}"]
            self._spawn("dbus-daemon", dbus)
            self._wait_for(bus.exists, "dbus-daemon socket")
            self._spawn("pipewire", ["pipewire"])
            self._wait_for(lambda: (runtime / "pipewire-0").exists(), "pipewire socket")
            self._spawn("wireplumber", ["wireplumber"])
            self._spawn("pipewire-pulse", ["pipewire-pulse"])
            self._wait_for(self._pactl_answers, "`pactl info`")
            for name in self.initial_sinks:
                self.add_sink(name)
            # The session manager links streams to devices; wait until it has chosen defaults.
            self._wait_for(self._wireplumber_ready, "wireplumber to pick a default sink")
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - t0
        log.info("PipeWire session up in %.2f s at %s", self.start_s, self.root)
        return self

    def stop(self) -> None:
        """Stop every daemon by PID (SIGTERM, SIGKILL after stop_timeout_s), restore env, remove the dir."""
        if not self.running:
            return
        t0 = time.monotonic()
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for name, proc in reversed(self._procs):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.1f s: killing it", name, proc.pid, self.stop_timeout_s)
                proc.kill()
                proc.wait()
        self._procs.clear()
        self.sinks.clear()
        self._restore_env()
        PipeWireSession._active = None
        atexit.unregister(self.stop)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.stop_s = time.monotonic() - t0
        log.info("PipeWire session stopped in %.2f s", self.stop_s)

    def __enter__(self) -> PipeWireSession:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- devices -----------------------------------------------------------------------------

    def pactl(self, *args: str, check: bool = True) -> str:
        """Run `pactl ARGS` against this server (C locale); returns stdout."""
        env = {**os.environ, **self.env, "LC_ALL": "C"}
        res = subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=10, check=False)
        if check and res.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    def add_sink(self, name: str) -> VirtualSink:
        """Create mono float32 null sink NAME and remap source NAME_src; rewrite the asoundrc."""
        if name in self.sinks:
            return self.sinks[name]
        source = f"{name}_src"
        sink_id = int(
            self.pactl(
                "load-module",
                "module-null-sink",
                f"sink_name={name}",
                "format=float32le",
                f"rate={self.rate_hz}",
                "channels=1",
                "channel_map=mono",
                f"sink_properties='device.description=\"{name}\"'",
            ).strip()
        )
        try:
            source_id = int(
                self.pactl(
                    "load-module",
                    "module-remap-source",
                    f"master={name}.monitor",
                    f"source_name={source}",
                    "channels=1",
                    "channel_map=mono",
                    f"source_properties='device.description=\"{source}\"'",
                ).strip()
            )
        except BaseException:
            self.pactl("unload-module", str(sink_id), check=False)
            raise
        sink = VirtualSink(name, source, sink_id, source_id)
        self.sinks[name] = sink
        self._write_asoundrc()
        return sink

    def remove_sink(self, name: str) -> None:
        """Unload NAME's remap source and null sink (the asoundrc entry stays, pointing at nothing)."""
        sink = self.sinks.pop(name)
        self.pactl("unload-module", str(sink.source_module_id))
        self.pactl("unload-module", str(sink.sink_module_id))

    def modules(self) -> list[tuple[int, str]]:
        """(module id, module name) for every module the pulse server reports, in its order."""
        out = []
        for line in self.pactl("list", "short", "modules").splitlines():
            m = _MODULE_LINE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2)))
        return out

    def module_ids(self) -> list[int]:
        """Ids of every loaded pulse module."""
        return [mid for mid, _ in self.modules()]

    def log_tail(self, chars: int = 2000) -> str:
        """The end of every daemon's log, for failure messages."""
        if self.root is None:
            return ""
        parts = []
        for path in sorted(self.root.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self.root is not None
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
        env.update(self.env)
        with open(self.root / f"{name}.log", "wb") as logf:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal must not reach the daemons first
                preexec_fn=_die_with_parent,
            )
        self._procs.append((name, proc))

    def _wait_for(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not ready():
            dead = [(n, p.returncode) for n, p in self._procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{dead[0][0]} exited with {dead[0][1]}" if dead else f"no answer in {self.start_timeout_s} s"
                raise RuntimeError(f"PipeWire session: waiting for {what}: {why}\n{self.log_tail()}")
            time.sleep(0.02)

    def _pactl_answers(self) -> bool:
        env = {**os.environ, **self.env}
        res = subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=10, check=False)
        return res.returncode == 0

    def _wireplumber_ready(self) -> bool:
        if "wireplumber" not in self.pactl("list", "short", "clients", check=False):
            return False
        default_sink = self.pactl("get-default-sink", check=False).strip()
        return not self.initial_sinks or default_sink not in ("", "@DEFAULT_SINK@")

    def _write_asoundrc(self) -> None:
        assert self.root is not None
        lines = []
        for sink in self.sinks.values():
            for pcm in (sink.name, sink.source_name):
                lines.append(f'pcm.{pcm} {{ type pulse; device "{pcm}"; hint {{ show on; description "{pcm}" }} }}')
        path = self.root / "config" / "alsa" / "asoundrc"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)

    def _apply_env(self) -> None:
        for key in (*_OWNED_ENV, *_CLEARED_ENV):
            self._saved_env[key] = os.environ.get(key)
        for key in _CLEARED_ENV:
            os.environ.pop(key, None)
        os.environ.update(self.env)

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the test process dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def refresh_sounddevice() -> None:
    """Re-run Pa_Initialize so PortAudio re-reads the ALSA config (and sees the session's PCMs)."""
    try:
        reinitialize_portaudio()
    except DeviceError as exc:  # PortAudio itself is missing: nothing to refresh
        log.warning("%s", exc)


@pytest.fixture(scope="session")
def pipewire_session() -> Iterator[PipeWireSession]:
    """One private PipeWire server for the whole run, with sink `vc_out` and source `vc_out_src`.

    Skips (with the apt packages to install) only when a binary is missing; a server that is
    installed but fails to start is an error, with the daemons' logs in the message.
    """
    reason = pipewire_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    active = PipeWireSession._active
    if active is not None:  # already started by someone else in this process: share it
        yield active
        return
    with PipeWireSession(sinks=("vc_out",)) as session:
        refresh_sounddevice()
        yield session
    refresh_sounddevice()  # forget the session's PCMs so later tests see the real config


@pytest.fixture
def pipewire(pipewire_session: PipeWireSession) -> Iterator[PipeWireSession]:
    """The session fixture, checking the test left the module list as it found it."""
    before = pipewire_session.module_ids()
    yield pipewire_session
    after = pipewire_session.module_ids()
    assert after == before, f"test leaked pulse modules: before {before}, after {after}"
