"""New voice from a clip (zero-shot): pick or record 5–30 s of speech, name it, make the voice.

Two view-models, no widgets:

* :class:`ClipRecorder` records mono from an input device. PortAudio's callback (context (a))
  only copies into a buffer preallocated for 30 s and bumps a frame counter; the Qt main thread
  (context (c)) reads the counter and the samples already written on a QTimer for the level meter
  and the seconds counter, and stops at 30 s. Opening and closing the stream and writing the WAV
  run on a worker.
* :class:`VoiceClipViewModel` holds the clip, the name and the display name, checks the clip and
  the name as soon as they change, and runs :func:`vc_core.neural.clip.voice_from_clip` on a
  worker with its progress forwarded as a signal. The new bundle goes into the user voices dir
  and the library view-model is refreshed, so its card appears in the main window.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from app.viewmodels.convert import Preview, make_preview
from app.viewmodels.devices import DevicesViewModel, key_of
from app.viewmodels.library import LibraryViewModel
from app.viewmodels.tasks import TaskRunner
from vc_core.errors import DeviceError, ReferenceClipError, VcError
from vc_core.io.devices import DeviceInfo, find_device, known_in_process, reinitialize_portaudio
from vc_core.io.portaudio import InputCallback, RecordingStream, start_recording
from vc_core.io.portaudio import play as play_preview
from vc_core.neural.clip import MAX_CLIP_S, MIN_CLIP_S, ClipReport, analyse_clip, check_voice_name

log = logging.getLogger(__name__)

CLIP_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
POLL_MS = 50  # level meter and seconds counter: 20 Hz
FALLBACK_RATES_HZ = (48000, 44100, 16000)
METER_FLOOR_DBFS = -90.0
DEFAULT_NAME = "my-voice"
NAME_CHARS = 40  # a suggested name is cut to this (names may be up to 64)


# ---------------------------------------------------------------------------- recording


StreamOpener = Callable[[DeviceInfo, int, InputCallback], RecordingStream]
DeviceResolver = Callable[[DeviceInfo, bool], DeviceInfo]


def resolve_input(device: DeviceInfo, may_reinit: bool) -> DeviceInfo:
    """This process's DeviceInfo for ``device`` (lists may come from a child PortAudio). PortAudio is
    re-initialised for a device it has not seen only when ``may_reinit`` (no stream of ours runs)."""
    if not known_in_process(device):
        if not may_reinit:
            raise DeviceError(f"{device.label()} was plugged in after the live voice started: stop it, then record")
        reinitialize_portaudio()
    return find_device(device.name, device.host_api, kind="input")


class ClipRecorder(QObject):
    """Records up to ``max_s`` seconds of mono audio and saves it as a WAV. States: idle → opening →
    recording → stopping → idle. ``finished(Path)`` after a stop with at least ``min_s`` seconds."""

    stateChanged = pyqtSignal(str)
    levelChanged = pyqtSignal(float)  # peak dBFS of what arrived since the last tick
    secondsChanged = pyqtSignal(float)
    finished = pyqtSignal(object)  # Path of the WAV
    error = pyqtSignal(str)

    def __init__(
        self,
        opener: StreamOpener = start_recording,
        resolve: DeviceResolver = resolve_input,
        folder: Path | None = None,
        max_s: float = MAX_CLIP_S,
        min_s: float = MIN_CLIP_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._opener = opener
        self._resolve = resolve
        self._folder = folder  # recordings go here; a temp dir (removed by cleanup) when None
        self._own_folder: Path | None = None
        self.max_s, self.min_s = max_s, min_s
        self.state = "idle"
        self.device: DeviceInfo | None = None
        self.rate_hz = 0  # NB: written by the opening worker before the stream starts
        self._buf = np.zeros(0, np.float32)  # NB: allocated by the opening worker; filled by the callback only
        self._capacity = 0  # NB: written by the opening worker before the stream starts
        self._written = 0  # NB: written by the audio callback only (after its copy)
        self.overflows = 0  # NB: written by the audio callback only
        self._read = 0  # NB: main thread: how far the meter has looked
        self._stream: RecordingStream | None = None
        self._tasks = TaskRunner(self)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)

    # context (a): PortAudio's thread. Copy into the preallocated buffer and count; nothing else.
    def _on_audio(self, indata: Any, frames: int, _time: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        w = self._written
        n = min(frames, self._capacity - w)
        if n > 0:
            self._buf[w : w + n] = indata[:n, 0]
            self._written = w + n

    @property
    def seconds(self) -> float:
        return self._written / self.rate_hz if self.rate_hz else 0.0

    def _set_state(self, s: str) -> None:
        self.state = s
        self.stateChanged.emit(s)

    def start(self, device: DeviceInfo, may_reinit: bool = True, busy_hint: str = "") -> None:
        """Open ``device`` on a worker and record. ``may_reinit``: PortAudio may be re-initialised to
        find a device plugged in since start-up (never while another stream of this process runs).
        ``busy_hint`` is added to an open failure (e.g. "the live voice uses this microphone…")."""
        if self.state != "idle":
            return
        self.device = device
        self._set_state("opening")

        def open_stream() -> RecordingStream:
            dev = self._resolve(device, may_reinit)
            failures = []
            for rate in dict.fromkeys((int(dev.default_samplerate_hz), *FALLBACK_RATES_HZ)):
                if rate <= 0:
                    continue
                self._buf = np.zeros(round(self.max_s * rate), np.float32)
                self._capacity, self._written, self.overflows, self.rate_hz = len(self._buf), 0, 0, rate
                try:
                    return self._opener(dev, rate, self._on_audio)
                except DeviceError as e:
                    failures.append(str(e))
            raise DeviceError(failures[-1] if failures else f"{dev.label()}: no usable sample rate")

        def opened(stream: object) -> None:
            self._stream = stream  # type: ignore[assignment]
            self._read = 0
            self._set_state("recording")
            self.secondsChanged.emit(0.0)
            self._timer.start()

        def failed(msg: str) -> None:
            self._set_state("idle")
            self.error.emit(f"cannot record: {msg}" + (f". {busy_hint}" if busy_hint else ""))

        self._tasks.run(open_stream, f"opening {device.label()} to record", opened, failed)

    def _tick(self) -> None:
        stream = self._stream
        if stream is None:
            return
        w = self._written
        if w > self._read:
            peak = float(np.max(np.abs(self._buf[self._read : w])))
            self._read = w
            self.levelChanged.emit(20.0 * math.log10(peak) if peak > 0 else METER_FLOOR_DBFS)
        self.secondsChanged.emit(w / self.rate_hz)
        if w >= self._capacity:
            self.stop()
        elif not stream.active:
            self.stop(lost="the microphone stopped delivering audio (unplugged, or taken by another program)")

    def stop(self, discard: bool = False, lost: str = "") -> None:
        """Close the stream on a worker; save what was recorded unless ``discard`` or it is too short."""
        if self.state != "recording" or self._stream is None:
            return
        self._timer.stop()
        stream, self._stream = self._stream, None
        self._set_state("stopping")
        rate, folder = self.rate_hz, self._recording_folder()

        def close_and_save() -> Path | None:
            try:
                stream.stop()
            finally:
                stream.close()
            n = self._written  # final: the callback no longer runs
            if discard or n < self.min_s * rate:
                return None
            from vc_core.io.audiofile import AtomicAudioWriter

            path = folder / time.strftime("recording-%Y%m%d-%H%M%S.wav")
            with AtomicAudioWriter(path, rate, overwrite=True) as out:
                out.write(self._buf[:n])
            return path

        def done(path: object) -> None:
            self._set_state("idle")
            self.secondsChanged.emit(self.seconds)
            self.levelChanged.emit(METER_FLOOR_DBFS)
            if lost:
                self.error.emit(lost)
            if path is not None:
                self.finished.emit(path)
            elif not discard and not lost:
                self.error.emit(
                    f"only {self.seconds:.1f} s recorded; a voice needs {MIN_CLIP_S:g}–{MAX_CLIP_S:g} s of one person "
                    "speaking: record again and keep talking"
                )

        def failed(msg: str) -> None:
            self._set_state("idle")
            self.error.emit(f"recording failed: {msg}")

        self._tasks.run(close_and_save, "stopping the recording", done, failed)

    def _recording_folder(self) -> Path:
        if self._folder is not None:
            self._folder.mkdir(parents=True, exist_ok=True)
            return self._folder
        if self._own_folder is None:
            self._own_folder = Path(tempfile.mkdtemp(prefix="vc-recordings-"))
        return self._own_folder

    def shutdown(self) -> None:
        """Stop (discarding) and wait; remove the temporary recordings (app or dialog exit)."""
        self._tasks.wait_all()
        if self.state == "recording":
            self.stop(discard=True)
            self._tasks.wait_all()
        if self._own_folder is not None:
            shutil.rmtree(self._own_folder, ignore_errors=True)
            self._own_folder = None


# ---------------------------------------------------------------------------- the voice


@dataclass(frozen=True)
class ClipInfo:
    """The chosen clip: its preview (samples, envelope) and the checks' outcome."""

    path: Path
    recorded: bool
    preview: Preview
    report: ClipReport | None  # None when a check failed
    problem: str | None  # the ReferenceClipError text

    @property
    def duration_s(self) -> float:
        return self.preview.duration_s


@dataclass(frozen=True)
class NewVoice:
    """What the result card shows."""

    name: str
    display_name: str
    folder: Path
    report: ClipReport
    clip: Path


def suggest_name(stem: str, taken: set[str]) -> str:
    """A valid, free voice name from a file name: lower case, runs of other characters → '-', cut
    at a '-' to at most NAME_CHARS, then '-2', '-3'… while taken."""
    base = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    if len(base) > NAME_CHARS:
        cut = base[: NAME_CHARS + 1]
        base = cut[: cut.rfind("-")] if "-" in cut[1:] else base[:NAME_CHARS]
    base = base.strip("-") or DEFAULT_NAME
    name, i = base, 2
    while name in taken:
        name = f"{base[: NAME_CHARS - len(str(i)) - 1]}-{i}"
        i += 1
    return name


def default_display_name(name: str) -> str:
    """What ``voice_from_clip`` shows when no display name is given."""
    return name.replace("-", " ").replace("_", " ").title()


def check_clip(path: Path, recorded: bool) -> ClipInfo:
    """Read ``path`` and run the clip checks (worker): a ClipInfo either way; AudioFileError when unreadable."""
    preview = make_preview(path)
    try:
        report: ClipReport | None = analyse_clip(preview.audio, preview.rate_hz)
        problem = None
    except ReferenceClipError as e:
        report, problem = None, str(e)
    return ClipInfo(path, recorded, preview, report, problem)


class VoiceClipViewModel(QObject):
    """Clip (file or recording), name, display name → a new voice in the user voices dir."""

    clipChanged = pyqtSignal(object)  # ClipInfo, once read and checked
    nameSuggested = pyqtSignal(str)  # the view-model changed the name (views update the field)
    nameChecked = pyqtSignal(bool, str)  # valid, message ('' when valid)
    readyChanged = pyqtSignal(bool)  # can create now
    busyChanged = pyqtSignal(bool)
    progress = pyqtSignal(float, str)  # fraction 0–1, what is being done
    created = pyqtSignal(object)  # NewVoice
    error = pyqtSignal(str)

    def __init__(
        self,
        library: LibraryViewModel,
        devices: DevicesViewModel,
        models_dir: Path | None = None,
        live_input: Callable[[], DeviceInfo | None] = lambda: None,
        recorder: ClipRecorder | None = None,
        play: Callable[[np.ndarray, int, DeviceInfo], None] = play_preview,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        from vc_core.voices.library import shipped_models_dir

        self.library = library
        self.devices = devices
        self.models_dir = models_dir or shipped_models_dir()
        self._live_input = live_input  # the input device the live session has open, or None
        self.recorder = recorder or ClipRecorder()
        self.recorder.setParent(self)
        self._play = play
        self.clip: ClipInfo | None = None
        self.clip_path: Path | None = None  # set at once; ``clip`` follows when it has been read
        self.name = ""
        self.display_name = ""
        self.name_problem: str | None = "give the voice a name"
        self.busy = False
        self.result: NewVoice | None = None
        self._name_auto = True  # the name was suggested (not typed): a new clip may replace it
        self._tasks = TaskRunner(self)
        self.recorder.finished.connect(lambda p: self.set_clip(Path(p), recorded=True))
        self.recorder.error.connect(self.error)
        self.recorder.stateChanged.connect(lambda _s: self._emit_ready())

    # ------------------------------------------------------------------ clip

    def set_clip(self, path: Path, recorded: bool = False) -> bool:
        """Use ``path`` (WAV/FLAC/OGG/MP3): read and checked on a worker, then ``clipChanged``."""
        path = Path(path)
        if path.suffix.lower() not in CLIP_SUFFIXES:
            self.error.emit(f"{path.name}: pick a WAV, FLAC, OGG or MP3 file ({', '.join(CLIP_SUFFIXES)})")
            return False
        if not path.is_file():
            self.error.emit(f"{path} does not exist")
            return False
        self.clip_path, self.clip, self.result = path, None, None
        if self._name_auto:
            self._suggest(DEFAULT_NAME if recorded else path.stem)
        self._emit_ready()

        def ok(info: object) -> None:
            assert isinstance(info, ClipInfo)
            if info.path != self.clip_path:
                return  # another clip was chosen meanwhile
            self.clip = info
            self.clipChanged.emit(info)
            if info.problem:
                self.error.emit(info.problem)
            self._emit_ready()

        def failed(msg: str) -> None:
            if self.clip_path == path:
                self.clip_path = None
                self._emit_ready()
            self.error.emit(msg)

        self._tasks.run(lambda: check_clip(path, recorded), f"reading {path.name}", ok, failed)
        return True

    def play_clip(self) -> None:
        """Play the clip on the monitor (or output) device."""
        dev = self.play_device()
        if self.clip is None or dev is None:
            return
        try:
            self._play(self.clip.preview.audio, self.clip.preview.rate_hz, dev)
        except DeviceError as e:
            self.error.emit(f"could not play the clip: {e}")

    def play_device(self) -> DeviceInfo | None:
        return self.devices.selected("monitor") or self.devices.selected("output")

    # ------------------------------------------------------------------ recording

    def record_device(self) -> DeviceInfo | None:
        return self.devices.selected("input")

    def live_shares_input(self) -> bool:
        """True while the live voice has the selected input open (recording opens a second stream)."""
        live, dev = self._live_input(), self.record_device()
        return live is not None and dev is not None and key_of(live) == key_of(dev)

    def start_recording(self) -> None:
        dev = self.record_device()
        if dev is None:
            self.error.emit("no microphone: pick one in the main window (or connect one and press Refresh)")
            return
        # A second stream on the microphone the live voice already uses. On PipeWire (and PulseAudio)
        # every PortAudio stream through the ALSA 'pulse'/'pipewire'/'default' devices is a separate
        # client of the sound server, which fans the microphone out to all of them: this works while
        # live, and the live voice keeps running (tests/test_app_voice_clip.py records with another
        # stream open on the same source). Raw ALSA hw: devices open exclusively: then the open fails
        # with "Device unavailable", and the message asks to stop the live voice first.
        shared = self.live_shares_input()
        hint = "The live voice is using this microphone: press Stop in the main window, then record" if shared else ""
        self.result = None
        self.recorder.start(dev, may_reinit=self._live_input() is None, busy_hint=hint)

    def stop_recording(self) -> None:
        self.recorder.stop()

    # ------------------------------------------------------------------ name

    def taken_names(self) -> set[str]:
        taken = {c.name for c in self.library.cards}
        root = self.library.user_dir
        if root.is_dir():
            taken |= {p.name for p in root.iterdir() if p.is_dir()}
        return taken

    def check_name(self, name: str) -> str | None:
        """Why ``name`` cannot be used, or None."""
        if not name:
            return "give the voice a name"
        try:
            check_voice_name(name)
        except VcError as e:
            return str(e)
        if name in self.taken_names():
            return f"a voice called {name!r} is already in the library; choose another name"
        return None

    def set_name(self, name: str, typed: bool = True) -> bool:
        """Change the name (checked at once: ``nameChecked``); ``typed`` stops later suggestions."""
        name = name.strip()
        if typed:
            self._name_auto = not name
        self.name = name
        self.name_problem = self.check_name(name)
        self.nameChecked.emit(self.name_problem is None, self.name_problem or "")
        self._emit_ready()
        return self.name_problem is None

    def set_display_name(self, text: str) -> None:
        self.display_name = text.strip()

    def _suggest(self, stem: str) -> None:
        self.set_name(suggest_name(stem, self.taken_names()), typed=False)
        self.nameSuggested.emit(self.name)

    # ------------------------------------------------------------------ create

    @property
    def can_create(self) -> bool:
        return (
            not self.busy
            and self.clip_path is not None
            and self.name_problem is None
            and self.recorder.state == "idle"
            and not (self.clip is not None and self.clip.problem)
        )

    def _emit_ready(self) -> None:
        self.readyChanged.emit(self.can_create)

    def create(self) -> bool:
        """Make the voice on a worker: ``progress`` then ``created`` (library refreshed) or ``error``.

        Refused at once (``error``, nothing runs) for a bad or taken name or no clip.
        """
        if self.busy:
            return False
        problem = self.check_name(self.name)
        if problem is not None:
            self.name_problem = problem
            self.nameChecked.emit(False, problem)
            self.error.emit(problem)
            return False
        if self.clip_path is None:
            self.error.emit("pick a clip file or record one first")
            return False
        if self.recorder.state != "idle":
            self.error.emit("stop the recording first")
            return False
        from vc_core.neural.clip import voice_from_clip

        clip, name, display = self.clip_path, self.name, self.display_name or None
        out_root, models = self.library.user_dir, self.models_dir
        part = out_root / f"{name}.part"
        had_part = part.exists()

        def make() -> NewVoice:
            folder, report = voice_from_clip(
                clip, name, out_root, models, display, progress=lambda f, what: self.progress.emit(f, what)
            )
            return NewVoice(name, display or default_display_name(name), folder, report, clip)

        def ok(v: object) -> None:
            assert isinstance(v, NewVoice)
            self._set_busy(False)
            self.result = v
            self._name_auto = True
            self.library.voice_added(v.name)
            self.name_problem = self.check_name(self.name)  # now taken
            self.created.emit(v)
            self._emit_ready()

        def failed(msg: str) -> None:
            if part.exists() and not had_part:  # a failed save leaves nothing behind
                shutil.rmtree(part, ignore_errors=True)
            self._set_busy(False)
            self.error.emit(msg)

        self.result = None
        self._set_busy(True)
        self.progress.emit(0.0, "starting")
        self._tasks.run(make, f"making voice {name} from {clip.name}", ok, failed)
        return True

    def _set_busy(self, on: bool) -> None:
        self.busy = on
        self.busyChanged.emit(on)
        self._emit_ready()

    def reset(self) -> None:
        """Forget the clip, the name and the result (a fresh form)."""
        self.clip = self.clip_path = self.result = None
        self.display_name = ""
        self._name_auto = True
        self.set_name("", typed=False)
        self.nameSuggested.emit("")

    def wait(self) -> None:
        self._tasks.wait_all()

    def shutdown(self) -> None:
        self.recorder.shutdown()
        self._tasks.wait_all()
