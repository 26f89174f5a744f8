"""Voice library: cards for every bundle (shipped, then the user's), importing a bundle, and listing
a voice made from a clip (:mod:`app.viewmodels.voice_clip`) once it is written.

Import copies a bundle folder or zip into the user voices dir only after it verifies (manifest,
every file's sha256, a kind this build can load) and its name is not taken; the copy is made
under a temporary name and renamed, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from app.viewmodels.tasks import TaskRunner
from vc_core.errors import ModelBundleError
from vc_core.neural.choice import AUTO
from vc_core.voices.bundle import MANIFEST
from vc_core.voices.library import VoiceLibrary, load_bundle, user_voices_dir

log = logging.getLogger(__name__)

SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "assets" / "speech_librivox.flac"
SAMPLE_SECONDS = 4.0


@dataclass(frozen=True)
class VoiceCard:
    """What one card shows."""

    name: str
    title: str
    kind: str
    latency_ms: float
    licence: str
    description: str
    user: bool
    error: str | None = None


def _bundle_root(folder: Path) -> Path:
    """The folder holding manifest.json: ``folder`` itself or its single subfolder."""
    if (folder / MANIFEST).is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(subs) == 1 and (subs[0] / MANIFEST).is_file():
        return subs[0]
    raise ModelBundleError(
        f"{folder}: no {MANIFEST} at the top level or in a single subfolder; is this a voice bundle?"
    )


def import_bundle(src: Path, dest_root: Path, taken: set[str]) -> str:
    """Verify the bundle at ``src`` (folder or .zip) and copy it to ``dest_root/<name>``; returns the name."""
    src = Path(src)
    with tempfile.TemporaryDirectory(prefix="vc-import-") as tmp:
        if src.is_file():
            if not zipfile.is_zipfile(src):
                raise ModelBundleError(f"{src}: not a folder or a .zip file")
            try:
                with zipfile.ZipFile(src) as z:
                    z.extractall(tmp)  # zipfile drops absolute paths and '..' parts
            except (zipfile.BadZipFile, OSError) as e:
                raise ModelBundleError(f"{src}: cannot unpack ({e})") from e
            root = _bundle_root(Path(tmp))
        elif src.is_dir():
            root = _bundle_root(src)
        else:
            raise ModelBundleError(f"{src} does not exist")
        voice = load_bundle(root)  # manifest, hashes, known kind; raises ModelBundleError naming the field
        name = voice.manifest.name
        if name in taken:
            raise ModelBundleError(f"a voice named {name!r} is already in the library; remove it or rename the bundle")
        dest_root.mkdir(parents=True, exist_ok=True)
        dest = dest_root / name
        if dest.exists():
            raise ModelBundleError(f"{dest} already exists; remove it first")
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest_root))
        try:
            shutil.copytree(root, staging, dirs_exist_ok=True)
            load_bundle(staging)  # the copy verifies too
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("imported voice %s from %s into %s", name, src, dest)
    return name


class LibraryViewModel(QObject):
    """Cards and the selected voice name; import runs on a worker thread."""

    cardsChanged = pyqtSignal()
    selectedChanged = pyqtSignal(str)
    imported = pyqtSignal(str)
    sampleReady = pyqtSignal(str, object, int)  # voice name, (T,) float32, rate
    error = pyqtSignal(str)
    busyChanged = pyqtSignal(bool)

    def __init__(self, library: VoiceLibrary, user_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.user_dir = user_dir or user_voices_dir()
        self.cards: list[VoiceCard] = []
        self.selected = ""
        self.base_request = AUTO  # the live neural base request (app.main keeps it in step): samples sound like live
        self._tasks = TaskRunner(self)
        self._tasks.busyChanged.connect(self.busyChanged)

    def refresh(self) -> None:
        cards = []
        for e in self.library.scan():
            user = self.user_dir in e.folder.parents
            if e.manifest is None:
                cards.append(VoiceCard(e.folder.name, e.folder.name, "broken", 0.0, "", "", user, e.error))
                continue
            m = e.manifest
            cards.append(VoiceCard(m.name, m.display_name, m.kind, m.latency_ms, m.licence, m.description, user))
        self.cards = cards
        self.cardsChanged.emit()
        names = self.names()
        if self.selected not in names and names:
            self.select(names[0])

    def names(self) -> list[str]:
        return [c.name for c in self.cards if c.error is None]

    def select(self, name: str) -> None:
        if name == self.selected:
            return
        if name not in self.names():
            self.error.emit(f"unknown voice {name!r}")
            return
        self.selected = name
        self.selectedChanged.emit(name)

    def select_index(self, i: int) -> None:
        """Shortcut 1–9: the i-th usable voice (0-based)."""
        names = self.names()
        if 0 <= i < len(names):
            self.select(names[i])

    def import_bundle(self, src: Path) -> None:
        taken = {c.name for c in self.cards}
        self._tasks.run(
            lambda: import_bundle(Path(src), self.user_dir, taken),
            f"importing voice bundle {src}",
            self._imported,
            lambda msg: self.error.emit(f"import failed: {msg}"),
        )

    def _imported(self, name: object) -> None:
        self.voice_added(str(name))
        self.imported.emit(str(name))

    def voice_added(self, name: str) -> None:
        """A bundle was written into the user voices dir (import, new voice from a clip): list it."""
        if self.user_dir not in self.library.roots:
            self.library.roots.append(self.user_dir)
        self.refresh()
        log.info("library: voice %s added (%d voices)", name, len(self.cards))

    def make_sample(self, name: str) -> None:
        """Convert a few seconds of the bundled speech clip with voice ``name`` on the live base
        request (worker; a first ``auto`` may measure the quality base); emits sampleReady."""
        lib, request = self.library, self.base_request

        def render() -> tuple[str, object, int]:
            import numpy as np

            from vc_core.io.audiofile import read_audio
            from vc_core.neural.choice import load_voice
            from vc_core.pipeline import VoiceChain

            x, sr = read_audio(SAMPLE_CLIP)
            x = x[: int(SAMPLE_SECONDS * sr)]
            voice, _ = load_voice(lib, name, request)
            chain = VoiceChain(voice, sr, sr)
            y = np.concatenate([chain.push(x), chain.flush()])  # aligned: no latency to trim
            return name, y, sr

        self._tasks.run(render, f"rendering a sample of {name}", lambda r: self.sampleReady.emit(*r), self.error.emit)

    def wait(self) -> None:
        self._tasks.wait_all()
