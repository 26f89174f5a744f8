"""File conversion: a queue of files through :func:`vc_core.convert.convert_file` on a worker QThread.

The same chain as the live path (and as ``vc convert``): same voice, settings and output names
(``<stem>.<voice>.<format>``), gate off as ``vc convert`` without ``--gate-db``. The voice is
loaded through :func:`vc_core.neural.choice.load_voice` with the live view's neural base request
(``base_request``, as ``vc convert --base``), so a converted file is what the user hears live.
Outputs are written atomically by the engine, so cancelling leaves no partial file.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal

from app.viewmodels.tasks import TaskRunner
from vc_core.config import DenoiseConfig, DenoiseSetting, GateConfig, MixConfig, VoiceParams
from vc_core.convert import Cancelled, batch_outputs, convert_file
from vc_core.errors import ConfigError, VcError
from vc_core.io.audiofile import AudioReader, read_audio
from vc_core.neural.choice import AUTO, load_voice
from vc_core.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
FORMATS = ("wav", "flac", "ogg")
PREVIEW_COLUMNS = 900


@dataclass(frozen=True)
class Preview:
    """Min/max envelopes (columns,) of a clip for drawing, plus the samples for playback."""

    mins: np.ndarray
    maxs: np.ndarray
    audio: np.ndarray
    rate_hz: int
    spectrogram_db: np.ndarray | None  # (freq bins, columns), dB, low frequencies first

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.rate_hz if self.rate_hz else 0.0


def make_preview(path: Path, columns: int = PREVIEW_COLUMNS) -> Preview:
    """Envelope and a small log-magnitude spectrogram of ``path`` (mono float32)."""
    from scipy import signal

    x, sr = read_audio(path)
    n = len(x)
    cols = max(1, min(columns, n))
    edges = np.linspace(0, n, cols + 1).astype(np.int64)
    starts = edges[:-1]  # strictly increasing: cols <= n
    mins = np.minimum.reduceat(x, starts) if n else np.zeros(1, np.float32)
    maxs = np.maximum.reduceat(x, starts) if n else np.zeros(1, np.float32)
    spec = None
    if n >= 512:
        nper = 512 if sr > 24000 else 256
        _, _, s = signal.spectrogram(x, sr, nperseg=nper, noverlap=nper // 2, mode="magnitude")
        spec = 20.0 * np.log10(s + 1e-6)
    return Preview(mins.astype(np.float32), maxs.astype(np.float32), x, sr, spec)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders become their audio files (sorted, not recursive)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in AUDIO_SUFFIXES))
        elif p.suffix.lower() in AUDIO_SUFFIXES:
            out.append(p)
    return out


class _ConvertThread(QThread):
    """Converts the batch; ``progress(index, fraction)`` per block, ``fileDone(index, output)`` per file."""

    progress = pyqtSignal(int, float)
    fileDone = pyqtSignal(int, str)
    done = pyqtSignal(str)  # "" when all succeeded, "cancelled", or an error message

    def __init__(
        self,
        library: VoiceLibrary,
        voice: str,
        jobs: list[tuple[Path, Path]],
        params: VoiceParams,
        overwrite: bool,
        cancel: threading.Event,
        base_request: str = AUTO,
        denoise: DenoiseSetting = DenoiseSetting.OFF,
    ) -> None:
        super().__init__()
        self._library, self._voice, self._jobs, self._params = library, voice, jobs, params
        self._overwrite, self._cancel, self._base_request = overwrite, cancel, base_request
        self._denoise = denoise

    def run(self) -> None:
        try:
            voice, choice = load_voice(self._library, self._voice, self._base_request)  # may measure: worker only
            if choice is not None:
                log.info("converting with voice %s on base %s: %s", self._voice, choice.base, choice.reason)
            voice.make_stage(self._params)  # check the voice's total pitch/formant before writing anything
            for src, _ in self._jobs:
                AudioReader(src).close()  # fail fast on unreadable inputs
            for i, (src, dst) in enumerate(self._jobs):
                convert_file(
                    voice,
                    src,
                    dst,
                    self._params,
                    GateConfig(enabled=False),
                    MixConfig(denoise=DenoiseConfig(self._denoise)),
                    overwrite=self._overwrite,
                    progress=lambda f, i=i: self.progress.emit(i, f),
                    cancel=self._cancel.is_set,
                )
                self.progress.emit(i, 1.0)
                self.fileDone.emit(i, str(dst))
        except Cancelled:
            self.done.emit("cancelled")
        except VcError as e:
            self.done.emit(str(e))
        except Exception as e:
            log.exception("conversion failed")
            self.done.emit(f"conversion failed: {type(e).__name__}: {e}")
        else:
            self.done.emit("")


class ConvertViewModel(QObject):
    """Queue, settings, progress and cancel for the file conversion dialog."""

    queueChanged = pyqtSignal()
    fileProgress = pyqtSignal(int, float)
    totalProgress = pyqtSignal(float)
    fileDone = pyqtSignal(int, str)
    runningChanged = pyqtSignal(bool)
    finished = pyqtSignal(list)  # outputs written
    cancelled = pyqtSignal()
    error = pyqtSignal(str)
    previewReady = pyqtSignal(str, object)  # "before"/"after", Preview

    def __init__(self, library: VoiceLibrary, base_request: str = AUTO, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.base_request = base_request  # the live view's neural base request (app.main keeps it in step)
        self.denoise = DenoiseSetting.OFF  # the live mic cleanup (kept in step by app.main), so files sound alike
        self.files: list[Path] = []
        self.outputs: dict[int, Path] = {}
        self.voice = "deep"
        self.pitch_semitones = 0.0
        self.formant_ratio = 1.0
        self.output_dir: Path | None = None
        self.format = "wav"
        self.overwrite = True
        self.running = False
        self._cancel = threading.Event()
        self._thread: _ConvertThread | None = None
        self._fractions: list[float] = []
        self._tasks = TaskRunner(self)

    def add(self, paths: list[Path]) -> int:
        """Add files and folders (their audio files); returns how many were added."""
        new = [p for p in expand_paths(paths) if p not in self.files]
        self.files.extend(new)
        if new:
            self.queueChanged.emit()
        elif paths:
            self.error.emit("nothing to add: drop audio files (wav, flac, ogg, mp3) or folders holding them")
        return len(new)

    def remove(self, index: int) -> None:
        if not self.running and 0 <= index < len(self.files):
            del self.files[index]
            self.outputs.clear()
            self.queueChanged.emit()

    def clear(self) -> None:
        if not self.running:
            self.files.clear()
            self.outputs.clear()
            self.queueChanged.emit()

    def planned_outputs(self) -> list[Path]:
        if self.output_dir is None:
            return []
        return batch_outputs(self.files, self.output_dir, self.voice, "." + self.format)

    def start(self) -> bool:
        if self.running:
            return False
        if not self.files:
            self.error.emit("add at least one audio file")
            return False
        if self.output_dir is None:
            self.error.emit("choose an output folder")
            return False
        if self.format not in FORMATS:
            self.error.emit(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
            return False
        try:
            params = VoiceParams(self.pitch_semitones, self.formant_ratio)
            self.output_dir.mkdir(parents=True, exist_ok=True)
            outs = self.planned_outputs()
        except (ConfigError, VcError, OSError) as e:
            self.error.emit(str(e))
            return False
        self._cancel.clear()
        self._fractions = [0.0] * len(self.files)
        self.outputs.clear()
        t = _ConvertThread(
            self.library,
            self.voice,
            list(zip(self.files, outs, strict=True)),
            params,
            self.overwrite,
            self._cancel,
            self.base_request,
            self.denoise,
        )
        t.progress.connect(self._on_progress)
        t.fileDone.connect(self._on_file_done)
        t.done.connect(self._on_done)
        self._thread = t
        self.running = True
        self.runningChanged.emit(True)
        t.start()
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def _on_progress(self, i: int, frac: float) -> None:
        if i < len(self._fractions):
            self._fractions[i] = frac
        self.fileProgress.emit(i, frac)
        self.totalProgress.emit(sum(self._fractions) / max(1, len(self._fractions)))

    def _on_file_done(self, i: int, out: str) -> None:
        self.outputs[i] = Path(out)
        self.fileDone.emit(i, out)

    def _on_done(self, msg: str) -> None:
        t, self._thread = self._thread, None
        if t is not None:
            t.wait()
            t.deleteLater()
        self.running = False
        self.runningChanged.emit(False)
        if msg == "cancelled":
            self.cancelled.emit()
        elif msg:
            self.error.emit(msg)
        else:
            self.finished.emit([str(p) for p in self.outputs.values()])

    def load_previews(self, index: int) -> None:
        """Before (input) and, once converted, after (output) previews of file ``index``, on a worker."""
        if not 0 <= index < len(self.files):
            return
        src = self.files[index]
        self._tasks.run(
            lambda: make_preview(src), "preview", lambda p: self.previewReady.emit("before", p), self.error.emit
        )
        out = self.outputs.get(index)
        if out is not None:
            self._tasks.run(
                lambda: make_preview(out), "preview", lambda p: self.previewReady.emit("after", p), self.error.emit
            )

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.wait()
        self._tasks.wait_all()
