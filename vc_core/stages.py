"""The neural pipeline's four verbs as typed protocols, at the bottom of the house.

Both neural bases (quality: Whisper windows + HiFi-GAN; real time: a stateful content encoder +
source-filter synthesis) implement these, so a new model family is one class per verb. All work
on the vocoder's frame grid: 22.05 kHz, hop 256 (11.6 ms), frame ``t`` standing for samples
``[256 t, 256 t + 256)`` (:mod:`vc_core.dsp.mel`). Every verb streams: it carries its state from
call to call, and a stream fed in any block sizes gives what one whole-utterance call gives::

    ContentStream.push(mel (n, 80), audio (T,), frames_analysed) -> content (m, 64)
    SpeakerEncoder.embed(wav (T,), rate_hz)                     -> speaker (256,)
    FrameConverter.convert(content (m, 64), f0_hz (m,), energy (m,), speaker (256,)) -> mel (m', 80)
    FrameVocoder.push(mel (n, 80), f0_hz (n,))                  -> wav (256 n',)

This module imports nothing from the rest of the package: stages and models import it, never the
other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


@dataclass(frozen=True)
class StageTiming:
    """Seconds spent in each stage so far, and seconds of audio pushed."""

    names: tuple[str, ...]
    seconds: tuple[float, ...]
    audio_seconds: float


class ContentStream(Protocol):
    """Speaker-blind content, one vector per frame, in frame order."""

    @property
    def delay_frames(self) -> int:
        """Frames a frame's content may come out after the frame's own mel (look-ahead)."""
        ...

    def push(self, mel: F32, audio: F32, frames_analysed: int) -> F32:
        """New mel frames (n, 80) and the new 22.05 kHz samples (T,) behind them; ``frames_analysed``
        mel frames exist in all. Returns the content (m, 64) of the next m frames that is ready."""
        ...

    def reset(self) -> None: ...


class SpeakerEncoder(Protocol):
    """A fixed-size voice identity vector."""

    def embed(self, wav: NDArray[np.floating], rate_hz: int) -> F32:
        """wav (T,) at rate_hz -> speaker embedding (256,), L2-normalised."""
        ...


class FrameConverter(Protocol):
    """Content + the voice's pitch + loudness + speaker -> the voice's log-mel."""

    @property
    def delay_frames(self) -> int:
        """Output frame ``k + delay_frames`` describes input frame ``k``; the first ones are dropped."""
        ...

    def convert(self, content: F32, f0_hz: F32, energy: F32, speaker: F32) -> F32:
        """content (m, 64), f0_hz (m,) (0 = unvoiced), energy (m,), speaker (256,) -> mel (m', 80) of
        the next frames in order (m' = m once the delay is paid)."""
        ...

    def reset(self) -> None: ...


class FrameVocoder(Protocol):
    """Log-mel frames (and the voice's F0) -> audio at 22.05 kHz."""

    @property
    def latency_samples(self) -> int:
        """Worst-case samples still owed after the frames pushed so far."""
        ...

    def push(self, mel: F32, f0_hz: F32) -> F32:
        """mel (n, 80), f0_hz (n,) (0 = unvoiced) -> the newly completed samples (k,), in order."""
        ...

    def flush(self) -> F32:
        """The samples still owed, as if the stream ended; then reset."""
        ...

    def reset(self) -> None: ...
