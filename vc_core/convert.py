"""Offline conversion: the live chain run over a file, streamed from disk in blocks.

Because :class:`~vc_core.pipeline.VoiceChain` is aligned and block-size independent, the output
does not depend on ``block_ms`` and equals what the live engine plays for the same input (shifted
by the live path's fixed latency; see tests/test_live_engine.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vc_core.config import GateConfig, MixConfig, VoiceParams, check_range
from vc_core.errors import AudioFileError
from vc_core.io.audiofile import AtomicAudioWriter, AudioReader, check_output_path
from vc_core.pipeline import VoiceChain
from vc_core.voices.library import Voice

ProgressFn = Callable[[float], None]  # fraction done, 0..1
CancelFn = Callable[[], bool]


class Cancelled(Exception):
    """The caller asked to stop; no output was left behind."""


@dataclass(frozen=True)
class ConvertResult:
    """What one conversion did, with measured speed."""

    input: Path
    output: Path
    duration_s: float
    wall_s: float
    rate_in_hz: int
    rate_out_hz: int
    latency_ms: float

    @property
    def rtf(self) -> float:
        """Wall time over audio time (below 1 is faster than real time)."""
        return self.wall_s / self.duration_s if self.duration_s else 0.0


def convert_file(
    voice: Voice,
    src: Path,
    dst: Path,
    params: VoiceParams | None = None,
    gate: GateConfig | None = None,
    mix: MixConfig | None = None,
    block_ms: float = 100.0,
    rate_out_hz: int | None = None,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ConvertResult:
    """Convert ``src`` into ``dst`` with ``voice``; atomic, streamed, input never modified."""
    check_range("convert", "block_ms", block_ms, 1.0, 10000.0)
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise AudioFileError(f"output {dst} is the input file; choose another name")
    check_output_path(dst, overwrite)
    t0 = time.perf_counter()
    with AudioReader(src) as reader:
        out_rate = rate_out_hz or voice.manifest.sample_rate_hz
        chain = VoiceChain(voice, reader.rate_hz, out_rate, params, gate, mix)
        block = max(1, round(reader.rate_hz * block_ms / 1000.0))
        done = 0
        with AtomicAudioWriter(dst, out_rate, overwrite=overwrite) as writer:
            for x in reader.blocks(block):
                if cancel is not None and cancel():
                    raise Cancelled(f"conversion of {src} cancelled")
                writer.write(chain.push(x))
                done += len(x)
                if progress is not None:
                    progress(done / reader.frames)
            writer.write(chain.flush())
        return ConvertResult(
            input=src,
            output=dst,
            duration_s=reader.duration_s,
            wall_s=time.perf_counter() - t0,
            rate_in_hz=reader.rate_hz,
            rate_out_hz=out_rate,
            latency_ms=1000.0 * chain.latency_samples / out_rate,
        )


def batch_outputs(inputs: list[Path], out_dir: Path, voice_name: str, suffix: str = ".wav") -> list[Path]:
    """Output paths for a batch: ``out_dir/<stem>.<voice><suffix>``; refuses duplicate stems."""
    outs = [out_dir / f"{p.stem}.{voice_name}{suffix}" for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, outs, strict=False):
        if dst in seen:
            raise AudioFileError(f"inputs {seen[dst]} and {src} would both write {dst}; rename one")
        seen[dst] = src
    return outs
