"""``vc bench``: real-time factor per stage and for the whole chain, side by side, per voice.

All voices run in one process on the same signal, so their ratios compare fairly on a noisy
machine. RTF = compute seconds / audio seconds (below 1 is faster than real time). Latency is
algorithmic: the chain's worst case plus, for the live engine, one block and the safety margin.
"""

from __future__ import annotations

import itertools
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from vc_core.config import DenoiseConfig, DenoiseSetting, MixConfig, StreamConfig
from vc_core.dsp.denoise import DENOISE_RATE_HZ, DenoiseStage, denoise_availability
from vc_core.dsp.resample import Resampler
from vc_core.errors import ConfigError
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio, Chain
from vc_core.voices.library import VoiceLibrary

BENCH_BLOCK_FRAMES = 256
SEED = 1234


def bench_signal(rate_hz: int, seconds: float) -> Audio:
    """Speech-like test signal: a gliding harmonic tone with syllable-rate amplitude and noise."""
    rng = np.random.default_rng(SEED)
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    f0 = 120.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    x = 0.1 * env * voiced + 0.003 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def run_bench(
    lib: VoiceLibrary,
    names: list[str],
    seconds: float,
    device_rate_hz: int,
    bases: tuple[str, ...] = (),
    denoise: tuple[DenoiseSetting, ...] = (DenoiseSetting.OFF,),
) -> dict[str, Any]:
    """Push ``seconds`` of signal through each voice's chain in device-sized blocks.

    ``bases``: neural base folder names (e.g. ``_neural``, ``_neural_rt``); each neural voice runs
    once on each, side by side in this one process (effects voices once). Empty: the bundle's own.
    ``denoise``: input denoiser settings each of those runs is repeated with (ConfigError if one
    cannot run here). The denoisers alone are timed too, under ``denoise``.
    """
    x = bench_signal(device_rate_hz, seconds)
    stream = StreamConfig(device_rate_hz=device_rate_hz, block_frames=BENCH_BLOCK_FRAMES)
    avail = denoise_availability()
    unavailable = [avail[d] for d in denoise if avail[d] is not None]
    if unavailable:
        raise ConfigError(unavailable[0])
    rows = []
    for name in names:
        kind = lib.manifest_of(name).kind
        for base, setting in itertools.product(bases if kind == "neural" and bases else (None,), denoise):
            voice = lib.load(name, base)
            mix = MixConfig(denoise=DenoiseConfig(setting))
            chain = VoiceChain(voice, device_rate_hz, device_rate_hz, mix=mix)
            chain.push(np.zeros(device_rate_hz // 5, dtype=np.float32))
            chain = VoiceChain(voice, device_rate_hz, device_rate_hz, mix=mix)
            t0 = time.perf_counter()
            for i in range(0, len(x), BENCH_BLOCK_FRAMES):
                chain.push(x[i : i + BENCH_BLOCK_FRAMES])
            wall = time.perf_counter() - t0
            timing = chain.step_timing()
            stage_rtf = {n: s / timing.audio_seconds for n, s in zip(timing.names, timing.seconds, strict=True)}
            voice_rtf = sum(v for n, v in stage_rtf.items() if n == "voice" or n.startswith("voice."))
            rows.append(
                {
                    "voice": name,
                    "kind": voice.manifest.kind,
                    "base": _base_name(voice),
                    "denoise": setting.value,
                    "rtf_denoise": stage_rtf.get("denoise", 0.0) + stage_rtf.get("resample_denoise", 0.0),
                    "voice_rate_hz": voice.manifest.sample_rate_hz,
                    "rtf_total": wall / timing.audio_seconds,
                    "rtf_voice_stage": voice_rtf,
                    "rtf_stages": stage_rtf,
                    "chain_latency_ms": 1000.0 * chain.latency_samples / device_rate_hz,
                    "voice_latency_ms": 1000.0 * chain.voice_stage.latency_samples / chain.voice_stage.rate_out_hz,
                    "engine_latency_ms": 1000.0 * stream.engine_latency_samples(chain.latency_samples) / device_rate_hz,
                }
            )
    return {
        "device_rate_hz": device_rate_hz,
        "block_frames": BENCH_BLOCK_FRAMES,
        "seconds": seconds,
        "machine": machine_info(),
        "voices": rows,
        "denoise": bench_denoisers(x, device_rate_hz, avail),
    }


def bench_denoisers(x: Audio, device_rate_hz: int, avail: dict[DenoiseSetting, str | None]) -> list[dict[str, Any]]:
    """Each available input denoiser alone (with its resampling to 48 kHz) over ``x`` in device
    blocks: RTF and the latency it adds to a chain (unavailable ones: why)."""
    rows: list[dict[str, Any]] = []
    for setting in DenoiseSetting:
        if setting is DenoiseSetting.OFF:
            continue
        if avail[setting] is not None:
            rows.append({"denoise": setting.value, "unavailable": avail[setting]})
            continue
        head = Chain([Resampler(device_rate_hz, DENOISE_RATE_HZ), DenoiseStage(DenoiseConfig(setting))])
        head.push(np.zeros(device_rate_hz // 5, dtype=np.float32))
        head.reset()
        t0 = time.perf_counter()
        for i in range(0, len(x), BENCH_BLOCK_FRAMES):
            head.push(x[i : i + BENCH_BLOCK_FRAMES])
        wall = time.perf_counter() - t0
        rows.append(
            {
                "denoise": setting.value,
                "rtf": wall * device_rate_hz / len(x),
                "latency_ms": 1000.0 * head.latency_samples / head.rate_out_hz,
            }
        )
    return rows


def _base_name(voice: object) -> str:
    """The neural base a voice runs on (its bundle's name), or '-' for a voice without one."""
    base = getattr(voice, "base", None)
    manifest = getattr(base, "manifest", None)
    return str(manifest.name) if manifest is not None else "-"


def machine_info() -> dict[str, Any]:
    """What ran a benchmark: cores, Python, the CPU's model and whether it has AVX-512 VNNI (int8
    kernels differ by instruction set, so int8 models can give slightly different results)."""
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    except OSError:
        pass
    return {
        "cpus": _cpus(),
        "python": platform.python_version(),
        "processor": platform.machine(),
        "cpu_model": model or platform.processor() or "unknown",
        "avx512_vnni": "avx512_vnni" in flags.split(),
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


NEURAL_STEPS = ("voice.analysis", "voice.content", "voice.converter", "voice.vocoder")


def format_table(result: dict[str, Any]) -> str:
    """One line per voice and base: whole-chain RTF, the voice stage's and its neural steps', latencies."""
    rows = result["voices"]
    if not rows:
        return "no voices"
    steps = [s.split(".")[1] for s in NEURAL_STEPS]
    head = (
        f"{'voice':<10} {'base':<9} {'denoise':<7} {'RTF':>6} {'denoise':>7} {'voice':>6} "
        + " ".join(f"{s:>9}" for s in steps)
        + f" {'voice ms':>9} {'chain ms':>9} {'engine ms':>10}"
    )
    lines = [
        f"{result['seconds']:.0f} s per voice at {result['device_rate_hz']} Hz, "
        f"blocks of {result['block_frames']} frames, "
        f"{result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}); RTF = compute / audio seconds",
        head,
        "-" * len(head),
    ]
    for r in rows:
        cells = " ".join(f"{r['rtf_stages'][s]:>9.4f}" if s in r["rtf_stages"] else f"{'-':>9}" for s in NEURAL_STEPS)
        lines.append(
            f"{r['voice']:<10} {r['base']:<9} {r['denoise']:<7} {r['rtf_total']:>6.3f} {r['rtf_denoise']:>7.3f}"
            f" {r['rtf_voice_stage']:>6.3f} {cells}"
            f" {r['voice_latency_ms']:>9.1f} {r['chain_latency_ms']:>9.1f} {r['engine_latency_ms']:>10.1f}"
        )
    for d in result.get("denoise", []):
        if "unavailable" in d:
            lines.append(f"denoise {d['denoise']:<7} unavailable: {d['unavailable']}")
        else:
            lines.append(
                f"denoise {d['denoise']:<7} alone: RTF {d['rtf']:.3f}, adds {d['latency_ms']:.1f} ms to the chain"
            )
    return "\n".join(lines)
