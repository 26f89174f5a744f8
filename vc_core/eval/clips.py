"""Real human speech with transcripts, from Debian packages, for ``vc eval`` and the benchmarks.

Three sets, taken in this order (so ``--clips 10`` is always the same ten clips):

* ``librivox`` - 5 LibriVox sentences by one reader, 3-7 s, 16 kHz (``pocketsphinx-testdata``);
* ``cards`` - 5 short phrases by another speaker, 1-3.5 s, 16 kHz (``pocketsphinx-testdata``);
* ``allison`` - 24 telephone-system prompts read by a third speaker (Allison Smith, CC-BY-SA 3.0),
  2-11 s, 249 words (``asterisk-core-sounds-en-g722`` for the audio, ``asterisk-core-sounds-en``
  for the transcripts). The audio is G.722, 16 kHz wideband; it is decoded once (``g722`` from
  PyPI) into ``<cache>/eval-clips/allison/<prompt>.wav`` so every reader sees a plain WAV file.

The prompts are chosen by rule, not by ear: transcripts of plain words (letters, apostrophes,
``. , ? !``; no digits, hyphens or bracketed sound descriptions) of at least 6 words, sorted by
prompt name, every 5th.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vc_core.errors import AudioFileError
from vc_core.io.audiofile import AtomicAudioWriter

POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
SPHINX_LINE = re.compile(r"^<s>\s*(?P<text>.*?)\s*</s>\s*\((?P<id>[^)]+)\)\s*$")
# (folder, transcription file): LibriVox (one reader, 3-7 s sentences), then "cards" (another speaker)
SPHINX_SETS = (("librivox", "transcription"), ("cards", "cards.transcription"))

ALLISON_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")  # *.g722
ALLISON_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")  # "name: text" lines
ALLISON_RATE_HZ = 16000  # G.722 is 16 kHz wideband, 64 kbit/s
ALLISON_BITRATE = 64000
ALLISON_MIN_WORDS = 6
ALLISON_EVERY = 5  # every 5th qualifying prompt in name order: 24 prompts, 249 words
PLAIN_PROMPT = re.compile(r"[A-Za-z' .,?!]+")
DEFAULT_CACHE_DIR = Path(".cache")  # where Whisper-base is joined and the prompts are decoded


@dataclass(frozen=True)
class EvalClip:
    """A real recording and what is said in it."""

    name: str
    path: Path
    text: str


def read_sphinx_transcription(transcription: Path, audio_dir: Path) -> list[EvalClip]:
    """Clips listed in a Sphinx transcription file (``<s> words </s> (id)``) that exist as ``id.wav``."""
    clips = []
    for line in transcription.read_text(encoding="utf-8").splitlines():
        m = SPHINX_LINE.match(line.strip())
        if m is None:
            continue
        wav = audio_dir / f"{m['id']}.wav"
        if wav.is_file():
            clips.append(EvalClip(name=f"{audio_dir.name}/{m['id']}", path=wav, text=m["text"]))
    return clips


def sphinx_clips(data_dir: Path = POCKETSPHINX_DATA) -> list[EvalClip]:
    """The LibriVox and cards clips of ``pocketsphinx-testdata``; AudioFileError when it is missing."""
    clips: list[EvalClip] = []
    for folder, name in SPHINX_SETS:
        transcription = data_dir / folder / name
        if transcription.is_file():
            clips.extend(read_sphinx_transcription(transcription, data_dir / folder))
    if not clips:
        raise AudioFileError(
            f"no evaluation clips under {data_dir}: install Debian's pocketsphinx-testdata "
            "(apt-get install pocketsphinx-testdata)"
        )
    return clips


def select_prompts(lines: list[str], sounds_dir: Path) -> list[tuple[str, str]]:
    """(prompt name, transcript) of the chosen prompts, from ``name: text`` lines (see the module doc)."""
    chosen = []
    for line in lines:
        if line.startswith(";") or ":" not in line:
            continue
        name, text = (s.strip() for s in line.split(":", 1))
        plain = PLAIN_PROMPT.fullmatch(text) is not None and len(text.split()) >= ALLISON_MIN_WORDS
        if plain and (sounds_dir / f"{name}.g722").is_file():
            chosen.append((name, text))
    return sorted(chosen)[::ALLISON_EVERY]


def decode_g722(path: Path) -> NDArray[np.float32]:
    """A 64 kbit/s G.722 file as float32 samples at 16 kHz."""
    try:
        import G722
    except ImportError as e:
        raise AudioFileError(
            f"{path}: decoding G.722 needs the g722 package (pip install -e '.[eval]' or pip install g722)"
        ) from e
    data = path.read_bytes()
    if not data:
        raise AudioFileError(f"{path}: empty G.722 file")
    pcm = np.asarray(G722.G722(ALLISON_RATE_HZ, ALLISON_BITRATE).decode(data), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def allison_clips(
    cache_dir: Path = DEFAULT_CACHE_DIR,
    sounds_dir: Path = ALLISON_SOUNDS,
    text_file: Path = ALLISON_TEXT,
    limit: int | None = None,
) -> list[EvalClip]:
    """The first ``limit`` (default all) chosen Asterisk prompts, decoded into ``cache_dir`` on first
    use (atomic writes)."""
    if not sounds_dir.is_dir():
        raise AudioFileError(
            f"no prompts under {sounds_dir}: install Debian's asterisk-core-sounds-en-g722 "
            "(apt-get install asterisk-core-sounds-en-g722)"
        )
    if not text_file.is_file():
        raise AudioFileError(
            f"no prompt transcripts at {text_file}: install Debian's asterisk-core-sounds-en "
            "(apt-get install asterisk-core-sounds-en)"
        )
    with gzip.open(text_file, "rt", encoding="utf-8", errors="replace") as f:
        prompts = select_prompts(f.read().splitlines(), sounds_dir)[:limit]
    out_dir = cache_dir / "eval-clips" / "allison"
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for name, text in prompts:
        wav = out_dir / f"{name}.wav"
        if not wav.is_file():
            with AtomicAudioWriter(wav, ALLISON_RATE_HZ) as w:
                w.write(decode_g722(sounds_dir / f"{name}.g722"))  # renamed into place on leaving
        clips.append(EvalClip(name=f"allison/{name}", path=wav, text=text))
    return clips


def find_eval_clips(
    limit: int | None = None, data_dir: Path = POCKETSPHINX_DATA, cache_dir: Path = DEFAULT_CACHE_DIR
) -> list[EvalClip]:
    """The first ``limit`` clips (default all) of LibriVox, cards, then the Allison prompts.

    Raises AudioFileError naming the Debian package when a set that is needed is not installed.
    """
    clips = sphinx_clips(data_dir)
    if limit is not None and limit <= len(clips):
        return clips[:limit]
    return clips + allison_clips(cache_dir, limit=None if limit is None else limit - len(clips))
