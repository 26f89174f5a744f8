"""Reading audio files block by block, and writing them atomically.

Input: anything libsndfile reads (WAV, FLAC, OGG, MP3 where the build has it), any rate, mono or
multi-channel (mixed down to mono). Never the whole file in memory. Output: written to a hidden
temporary name beside the target and renamed when complete, so a failure leaves no partial file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from vc_core.errors import AudioFileError
from vc_core.stream import Audio

TRUNCATED_CHUNK = re.compile(r"^(data|SSND)\s*:\s*\d+\s*\(should be", re.MULTILINE)
OUTPUT_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS")}


class AudioReader:
    """A verified input file, read as mono float32 blocks at its own rate.

    Raises AudioFileError for missing, unreadable, non-audio, empty or zero-rate files; while
    reading, for NaN/Inf samples and for files shorter than their header says (truncated).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import soundfile as sf

        self.path = Path(path)
        if not self.path.exists():
            raise AudioFileError(f"input file not found: {self.path}")
        if self.path.is_dir():
            raise AudioFileError(f"input {self.path} is a folder, not an audio file")
        if not os.access(self.path, os.R_OK):
            raise AudioFileError(f"input file {self.path} is not readable (check its permissions)")
        if self.path.stat().st_size == 0:
            raise AudioFileError(f"input file {self.path} is empty (0 bytes)")
        try:
            self._f = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            raise AudioFileError(f"cannot read {self.path} as audio: {e}") from e
        self.rate_hz = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        self.frames = int(self._f.frames)
        if self.rate_hz <= 0:
            self._f.close()
            raise AudioFileError(f"input file {self.path} declares sample rate {self.rate_hz}")
        if self.frames <= 0:
            self._f.close()
            raise AudioFileError(f"input file {self.path} holds no samples (zero length)")
        # libsndfile clamps a WAV/AIFF data chunk to the bytes present and notes "(should be N)"
        if TRUNCATED_CHUNK.search(self._f.extra_info or ""):
            self._f.close()
            raise AudioFileError(
                f"input file {self.path} is truncated: its header promises more audio than the file holds"
            )

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate_hz

    def blocks(self, block_frames: int) -> Iterator[Audio]:
        """Yield mono float32 blocks of ``block_frames`` (the last may be shorter)."""
        import soundfile as sf

        got = 0
        try:
            for block in self._f.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                mono = block[:, 0] if self.channels == 1 else block.mean(axis=1, dtype=np.float32)
                if not np.isfinite(mono).all():
                    bad = got + int(np.argmin(np.isfinite(mono)))
                    raise AudioFileError(
                        f"input file {self.path} contains NaN or infinite samples (first at {bad / self.rate_hz:.3f} s)"
                    )
                got += len(mono)
                yield np.ascontiguousarray(mono, dtype=np.float32)
        except sf.LibsndfileError as e:
            raise AudioFileError(
                f"input file {self.path} is truncated or damaged: reading failed after {got / self.rate_hz:.2f} s ({e})"
            ) from e
        if got < self.frames:
            raise AudioFileError(
                f"input file {self.path} is truncated: header says {self.frames} samples, only {got} could be read"
            )

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_audio(path: str | os.PathLike[str]) -> tuple[Audio, int]:
    """Whole file as mono float32 plus its rate (for short clips: tests, references)."""
    with AudioReader(path) as r:
        return np.concatenate(list(r.blocks(65536))), r.rate_hz


def check_output_path(path: Path, overwrite: bool) -> None:
    """Raise AudioFileError unless ``path`` can be written as a new audio file."""
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise AudioFileError(
            f"output {path}: unsupported extension {path.suffix!r}; use one of {', '.join(OUTPUT_FORMATS)}"
        )
    if path.is_dir():
        raise AudioFileError(f"output {path} is a folder; give a file name such as {path / 'out.wav'}")
    if path.exists() and not overwrite:
        raise AudioFileError(f"output {path} already exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AudioFileError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AudioFileError(f"output folder {parent} is not writable")


class AtomicAudioWriter:
    """Write mono float32 to a temporary file beside ``path``; rename into place on success.

    Use as a context manager: leaving the block with an exception removes the temporary file,
    and an existing file at ``path`` stays untouched.
    """

    def __init__(self, path: str | os.PathLike[str], rate_hz: int, overwrite: bool = False) -> None:
        import soundfile as sf

        self.path = Path(path)
        check_output_path(self.path, overwrite)
        fmt, subtype = OUTPUT_FORMATS[self.path.suffix.lower()]
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent or ".")
        except OSError as e:
            raise AudioFileError(f"cannot write into {self.path.parent}: {e.strerror or e}") from e
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self._f = sf.SoundFile(str(self._tmp), "w", samplerate=rate_hz, channels=1, format=fmt, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError) as e:
            self._tmp.unlink(missing_ok=True)
            raise AudioFileError(f"cannot write {self.path}: {e}") from e
        self.frames_written = 0

    def write(self, x: Audio) -> None:
        if len(x):
            try:
                self._f.write(np.clip(x, -1.0, 1.0))
            except (OSError, RuntimeError) as e:
                raise AudioFileError(f"writing {self.path} failed: {e}") from e
            self.frames_written += len(x)

    def commit(self) -> Path:
        try:
            self._f.close()
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._tmp.unlink(missing_ok=True)
            raise AudioFileError(f"cannot finish {self.path}: {e.strerror or e}") from e
        return self.path

    def abort(self) -> None:
        if not self._f.closed:
            self._f.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicAudioWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
