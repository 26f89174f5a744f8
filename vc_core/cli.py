"""The ``vc`` command line: convert, simulate, bench, voices (and the live commands).

Every error the engine raises on purpose (:class:`VcError`) prints one line to stderr and exits
with status 2; inputs are never modified and no partial output is left behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vc_core import __version__
from vc_core.config import (
    DenoiseConfig,
    DenoiseSetting,
    GateConfig,
    MixConfig,
    StreamConfig,
    UnderrunFill,
    VoiceParams,
)
from vc_core.errors import AudioFileError, ConfigError, DeviceError, VcError
from vc_core.io.reports import write_json_report
from vc_core.neural.choice import AUTO, BASE_CHOICES, BaseChoice
from vc_core.voices.library import DEFAULT_VOICE, Voice, VoiceLibrary

if TYPE_CHECKING:
    from vc_core.live.controller import LiveSnapshot

EXIT_USAGE = 2
log = logging.getLogger("vc")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 as well; keep the one-line style
        self.print_usage(sys.stderr)
        print(f"vc: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _add_voice_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--voice", default=DEFAULT_VOICE, help=f"voice name from `vc voices` (default {DEFAULT_VOICE})")
    p.add_argument("--pitch", type=float, default=0.0, metavar="SEMITONES", help="extra pitch shift, -12..12")
    p.add_argument("--formant", type=float, default=1.0, metavar="RATIO", help="extra formant ratio, 0.7..1.4")
    p.add_argument("--gate-db", type=float, default=None, metavar="DBFS", help="noise gate threshold (off if unset)")
    p.add_argument("--in-gain-db", type=float, default=0.0, help="input gain in dB")
    p.add_argument("--out-gain-db", type=float, default=0.0, help="output gain in dB")
    p.add_argument(
        "--denoise",
        choices=[d.value for d in DenoiseSetting],
        default=DenoiseSetting.OFF.value,
        help="clean the microphone before the voice: 'light' (RNNoise, +30 ms) or 'strong' (DeepFilterNet3, "
        "+40 ms); default off",
    )
    p.add_argument("--models-dir", type=Path, default=None, help="extra folder of voice bundles")
    p.add_argument(
        "--base",
        choices=BASE_CHOICES,
        default=AUTO,
        help="neural voices: 'quality' (Whisper + HiFi-GAN, needs a GPU to run live), 'realtime' (runs live on "
        "one CPU core) or 'auto' (default: quality where this machine keeps up, measured once)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="vc", description="Real-time voice changer: convert files, run live, measure.")
    ap.add_argument("--version", action="version", version=f"vc {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    p = sub.add_parser("convert", help="convert audio files offline (streamed, atomic)")
    p.add_argument("paths", nargs="+", type=Path, metavar="IN... OUT", help="input file(s), then output file or folder")
    _add_voice_args(p)
    p.add_argument("--block-ms", type=float, default=100.0, help="read block in ms (output does not depend on it)")
    p.add_argument("--rate", type=int, default=None, help="output sample rate (default: the voice's)")
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav", help="output format for a folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    p = sub.add_parser(
        "simulate",
        help="run the live engine over a file instead of devices (exact; --realtime: as live, late audio dropped)",
    )
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    _add_voice_args(p)
    p.add_argument("--block-frames", type=int, default=256, help="device period in frames (default 256)")
    p.add_argument("--device-rate", type=int, default=48000, help="simulated device rate (default 48000)")
    p.add_argument("--safety-ms", type=float, default=StreamConfig.safety_ms, help="output safety margin")
    p.add_argument("--underrun", choices=[u.value for u in UnderrunFill], default="dry")
    p.add_argument("--realtime", action="store_true", help="pace callbacks by the wall clock")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON")

    p = sub.add_parser("live", help="run the voice changer on real audio devices until Ctrl-C")
    p.add_argument("--input", default=None, help="input device name (default: the system default)")
    p.add_argument("--output", default=None, help="output device name (default: the system default)")
    p.add_argument("--host-api", default=None, help="host API of both devices, e.g. ALSA, WASAPI, Core Audio")
    _add_voice_args(p)
    p.add_argument("--rate", type=int, default=None, help="input device rate (default: probed, 48000 preferred)")
    p.add_argument(
        "--output-rate", type=int, default=None, help="output device rate (default: as the input if possible)"
    )
    p.add_argument("--block-frames", type=int, default=256, help="device period in frames (default 256)")
    p.add_argument("--safety-ms", type=float, default=StreamConfig.safety_ms, help="output safety margin")
    p.add_argument("--stereo", action="store_true", help="duplicate the voice on two output channels")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--allow-feedback", action="store_true", help="route a microphone to speakers without asking")
    p.add_argument(
        "--virtual-mic", action="store_true", help="Linux: play into the 'VoiceChanger' sink (created if missing)"
    )
    p.add_argument("--monitor", default=None, help="also play on this output device (headphones), own gain and mix")
    p.add_argument("--monitor-gain-db", type=float, default=0.0, help="monitor gain in dB (default 0)")
    p.add_argument("--monitor-wet", type=float, default=1.0, help="monitor mix, 0 = dry input .. 1 = converted")

    p = sub.add_parser("devices", help="list audio devices, default first")

    p = sub.add_parser("latency", help="measure the round trip output -> input with a click train")
    p.add_argument("--input", required=True, help="input device that hears the output (loopback or cable)")
    p.add_argument("--output", required=True, help="output device to play the clicks on")
    p.add_argument("--host-api", default=None)
    p.add_argument("--rate", type=int, default=48000)
    p.add_argument("--block-frames", type=int, default=256)
    p.add_argument("--clicks", type=int, default=8)
    p.add_argument("--voice", default=DEFAULT_VOICE, help="voice whose engine latency is added to the budget")
    p.add_argument("--safety-ms", type=float, default=StreamConfig.safety_ms)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--base", choices=BASE_CHOICES, default=AUTO, help="neural base of --voice (see vc live --help)")

    p = sub.add_parser("route", help="virtual microphone for Discord/OBS/Zoom (Linux: PipeWire or PulseAudio)")
    p.add_argument("action", choices=["create", "remove", "status"])

    p = sub.add_parser("bench", help="real-time factor and latency per stage and voice")
    p.add_argument("--seconds", type=float, default=10.0, help="audio per voice (default 10)")
    p.add_argument("--device-rate", type=int, default=48000)
    p.add_argument("--voices", nargs="*", default=None, help="voices to bench (default all; neural ones on every base)")
    p.add_argument(
        "--denoise",
        nargs="+",
        choices=[d.value for d in DenoiseSetting],
        default=[DenoiseSetting.OFF.value],
        help="input denoiser settings to run each voice with (default off; the denoisers alone are always timed)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    p.add_argument("--models-dir", type=Path, default=None)

    p = sub.add_parser("voices", help="list the voice library")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--verify", action="store_true", help="check every file's sha256 too")

    from vc_core.eval.cli import add_eval_parser

    add_eval_parser(sub)

    p = sub.add_parser("new-voice", help="make a voice from 5-30 s of someone speaking (saved in your voice folder)")
    p.add_argument("clip", type=Path, help="WAV/FLAC/OGG/MP3 with one person speaking, 5-30 s")
    p.add_argument("name", help="voice name: lower-case letters, digits, '-' or '_'")
    p.add_argument("--display-name", default=None, help="name shown in lists (default from NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace a voice of the same name")
    p.add_argument("--out", type=Path, default=None, help="voice folder (default: your user voice folder)")
    p.add_argument("--models-dir", type=Path, default=None, help="shipped models (default: the app's models/)")
    return ap


def _library(models_dir: Path | None) -> VoiceLibrary:
    lib = VoiceLibrary.default()
    if models_dir is not None:
        if not models_dir.is_dir():
            raise ConfigError(f"--models-dir {models_dir} is not a folder")
        lib.roots.insert(0, models_dir)
    return lib


def _load_voice(a: argparse.Namespace) -> tuple[Voice, BaseChoice | None]:
    """The voice of ``--voice`` on the base ``--base`` picks; says which base and why (stderr)."""
    from vc_core.neural.choice import load_voice

    voice, choice = load_voice(_library(a.models_dir), a.voice, a.base)
    if choice is not None:
        print(f"base: {choice.base} ({choice.label}): {choice.reason}", file=sys.stderr)
    return voice, choice


def _voice_settings(a: argparse.Namespace) -> tuple[VoiceParams, GateConfig, MixConfig]:
    params = VoiceParams(pitch_semitones=a.pitch, formant_ratio=a.formant)
    gate = GateConfig(enabled=a.gate_db is not None, threshold_dbfs=a.gate_db if a.gate_db is not None else -50.0)
    denoise = DenoiseSetting(a.denoise)
    if denoise is not DenoiseSetting.OFF:
        from vc_core.dsp.denoise import require_denoise

        require_denoise(denoise)  # names the missing package before any file or device is touched
    mix = MixConfig(input_gain_db=a.in_gain_db, output_gain_db=a.out_gain_db, denoise=DenoiseConfig(denoise))
    return params, gate, mix


def _progress_bar(total_s: float, label: str) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=round(total_s, 2), unit="s", desc=label, leave=False, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s"
    )


def cmd_convert(a: argparse.Namespace) -> int:
    from vc_core.convert import batch_outputs, convert_file
    from vc_core.io.audiofile import AudioReader

    if len(a.paths) < 2:
        raise ConfigError("convert needs an input and an output: vc convert IN.wav OUT.wav")
    *inputs, out = a.paths
    params, gate, mix = _voice_settings(a)
    voice, _ = _load_voice(a)
    voice.make_stage(params)  # check the voice's total pitch/formant before touching files
    if len(inputs) > 1 or out.is_dir():
        if out.exists() and not out.is_dir():
            raise AudioFileError(f"output {out} must be a folder when converting several files")
        out.mkdir(parents=True, exist_ok=True)
        outputs = batch_outputs(inputs, out, voice.manifest.name, "." + a.format)
    else:
        outputs = [out]
    durations = []
    for src in inputs:  # fail fast on unreadable inputs before writing anything
        with AudioReader(src) as r:
            durations.append(r.duration_s)
    for src, dst, duration in zip(inputs, outputs, durations, strict=True):
        bar = _progress_bar(duration, src.name)

        def tick(frac: float, bar: Any = bar, duration: float = duration) -> None:
            if bar is not None:
                bar.update(round(frac * duration, 2) - bar.n)

        try:
            res = convert_file(voice, src, dst, params, gate, mix, a.block_ms, a.rate, a.overwrite, progress=tick)
        finally:
            if bar is not None:
                bar.close()
        print(
            f"{res.output}  ({res.duration_s:.2f} s of audio in {res.wall_s:.2f} s, RTF {res.rtf:.3f}, "
            f"voice {voice.manifest.name}, {res.rate_out_hz} Hz)"
        )
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from vc_core.engine.simulate import simulate

    params, gate, mix = _voice_settings(a)
    stream = StreamConfig(
        device_rate_hz=a.device_rate,
        block_frames=a.block_frames,
        safety_ms=a.safety_ms,
        underrun_fill=UnderrunFill(a.underrun),
    )
    voice, _ = _load_voice(a)
    rep = simulate(voice, a.input, a.output, stream, a.realtime, params, gate, mix, a.overwrite)
    s = rep.stats
    print(f"output     {a.output}")
    print(
        f"mode       {'real time' if a.realtime else 'as fast as possible'}, {stream.device_rate_hz} Hz, "
        f"block {stream.block_frames} frames ({stream.block_ms:.1f} ms)"
    )
    if a.realtime:
        print("policy     as live: audio the worker has not converted in time plays dry (or silent) and is counted")
    else:
        print(
            "policy     exact: each callback waits for the worker, so nothing is dropped (the offline chain's output)"
        )
    print(f"audio      {rep.input_s:.2f} s in {rep.wall_s:.2f} s wall")
    measured = "n/a" if rep.measured_latency_ms is None else f"{rep.measured_latency_ms:.1f} ms"
    print(
        f"latency    engine {s.engine_latency_ms:.1f} ms expected "
        f"(chain {s.chain_latency_ms:.1f} + block + safety), measured {measured}"
    )
    if rep.match_db is not None:
        print(f"vs offline residual {rep.match_db:.1f} dB (live minus the offline chain on the same input, aligned)")
    print(
        f"xruns      {s.xruns} (underrun {s.underrun_ms:.1f} ms, dropped {s.dropped_ms:.1f} ms, "
        f"late callbacks {rep.late_callbacks})"
    )
    print(
        f"compute    RTF {s.rtf:.3f}; per stage, ms per s of audio: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s.stage_ms_per_s.items())
    )
    if a.json is not None:
        from vc_core.config import describe

        body = {
            "stats": describe(s),
            "measured_latency_ms": rep.measured_latency_ms,
            "match_db": rep.match_db,
            "input_s": rep.input_s,
            "wall_s": rep.wall_s,
            "late_callbacks": rep.late_callbacks,
            "stream": describe(stream),
        }
        write_json_report(a.json, body)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from vc_core.bench import format_table, run_bench
    from vc_core.neural.choice import present_bases
    from vc_core.voices.bundle import shipped_models_dir

    lib = _library(a.models_dir)
    names = a.voices or lib.names()
    denoise = tuple(DenoiseSetting(d) for d in a.denoise)
    result = run_bench(lib, names, a.seconds, a.device_rate, present_bases(shipped_models_dir()), denoise)
    print(format_table(result))
    if a.json is not None:
        write_json_report(a.json, result)
        print(f"\nwritten {a.json}")
    return 0


def cmd_voices(a: argparse.Namespace) -> int:
    lib = _library(a.models_dir)
    entries = lib.scan(verify_hashes=a.verify)
    if not entries:
        print("no voices found in " + ", ".join(str(r) for r in lib.roots))
        return 1
    print(f"{'name':<12} {'kind':<8} {'rate':>6} {'latency':>8}  {'licence':<10} description")
    broken = 0
    for e in entries:
        m = e.manifest
        if m is None:
            broken += 1
            print(f"{e.folder.name:<12} BROKEN   {e.error}")
            continue
        print(f"{m.name:<12} {m.kind:<8} {m.sample_rate_hz:>6} {m.latency_ms:>6.1f}ms  {m.licence:<10} {m.description}")
    return 1 if broken else 0


def cmd_eval(a: argparse.Namespace) -> int:
    from vc_core.eval.cli import run_eval

    return run_eval(a)


def cmd_new_voice(a: argparse.Namespace) -> int:
    from vc_core.neural.clip import voice_from_clip
    from vc_core.voices.bundle import shipped_models_dir
    from vc_core.voices.library import user_voices_dir

    out_root = a.out or user_voices_dir()
    folder, report = voice_from_clip(
        a.clip, a.name, out_root, a.models_dir or shipped_models_dir(), a.display_name, a.overwrite
    )
    print(
        f"voice {a.name!r} saved in {folder}: {report.used_s:.1f} s of the clip used, {report.sound_s:.1f} s of sound, "
        f"{100 * report.voiced_share:.0f}% voiced, F0 median {report.f0_median_hz:.0f} Hz"
    )
    print(f"use it: vc convert IN OUT --voice {a.name}")
    return 0


def cmd_live(a: argparse.Namespace) -> int:
    from vc_core.config import MonitorConfig
    from vc_core.io.devices import is_safe_output
    from vc_core.live.controller import LiveController, LiveRequest, resolve_device

    params, gate, mix = _voice_settings(a)
    monitor = MonitorConfig(
        enabled=a.monitor is not None, gain_db=a.monitor_gain_db, wet_ratio=a.monitor_wet
    )  # validated here: a bad gain or mix is a ConfigError naming the field
    if a.virtual_mic:
        from vc_core.io import routing

        mic = routing.create_virtual_mic(rate_hz=a.rate or 48000)
        pulse = routing.play_into_sink(mic.sink_name)  # streams opened from now on play into the mic
        a.output = a.output or pulse
        a.allow_feedback = True
    out_name = resolve_device(a.output, "output", a.host_api)
    if not a.allow_feedback and not is_safe_output(out_name.name):
        print(
            f"warning: the converted microphone will play on {out_name.label()}. If that is a loudspeaker "
            "the microphone will hear it and howl. Use headphones or a virtual microphone.",
            file=sys.stderr,
        )
        if not sys.stdin.isatty() or input("continue? [y/N] ").strip().lower() not in ("y", "yes"):
            raise DeviceError("not started: confirm the speaker output, or pass --allow-feedback")
    request = LiveRequest(
        voice=a.voice,
        input=a.input,
        output=out_name,
        monitor=a.monitor,
        host_api=a.host_api,
        base=a.base,
        rate_hz=a.rate,
        output_rate_hz=a.output_rate,
        block_frames=a.block_frames,
        safety_ms=a.safety_ms,
        stereo=a.stereo,
        params=params,
        gate=gate,
        mix=mix,
        monitor_config=monitor,
    )
    controller = LiveController(_library(a.models_dir))
    snap = controller.start(request)
    if snap.base is not None:
        print(f"base: {snap.base.base} ({snap.base.label}): {snap.base.reason}", file=sys.stderr)
    print(f"live: {snap.input_label} -> {snap.voice} -> {snap.output_label}; Ctrl-C to stop", file=sys.stderr)
    tty = sys.stderr.isatty()
    t_end = None if a.seconds is None else time.monotonic() + a.seconds
    try:
        while t_end is None or time.monotonic() < t_end:
            if controller.wait_lost(0.5):
                raise DeviceError(
                    f"audio device lost: {controller.snapshot().lost}. "
                    "Run `vc devices` and start again with --input/--output, or omit them for the defaults."
                )
            line = _live_line(controller.snapshot())
            print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr)
    finally:
        s = controller.stop()
        if tty:
            print(file=sys.stderr)
    snap = controller.snapshot()
    print(
        f"stopped: {s.uptime_s:.1f} s, xruns {s.xruns}, input overflows {s.input_overflow_ms:.1f} ms, "
        f"device resets {snap.delay_resets}"
    )
    return 0


def _live_line(snap: LiveSnapshot) -> str:
    """One status line of a running `vc live`."""
    s = snap.stats
    return (
        f"in {s.input_dbfs:6.1f} dBFS | out {s.output_dbfs:6.1f} dBFS | "
        f"latency {s.expected_latency_ms:5.1f} ms expected, {snap.latency_now_ms:5.1f} ms now | "
        f"queue {s.queue_ms:5.1f} ms | xruns {s.xruns} | RTF {s.rtf:.3f}"
        + ("" if snap.base is None else f" | {snap.base.base} base")
        + (f" | input overflows {s.input_overflow_ms:.0f} ms" if s.input_overflow_ms else "")
        + (f" | device resets {snap.delay_resets}" if snap.delay_resets else "")
        + (f" | monitor underruns {s.monitor_underruns}" if s.monitor_enabled else "")
    )


def cmd_latency(a: argparse.Namespace) -> int:
    from vc_core.io.devices import find_device
    from vc_core.live.controller import LiveController, LiveRequest

    dev_in = find_device(a.input, a.host_api, kind="input")
    dev_out = find_device(a.output, a.host_api, kind="output")
    request = LiveRequest(
        voice=a.voice,
        input=dev_in,
        output=dev_out,
        base=a.base,
        rate_hz=a.rate,
        block_frames=a.block_frames,
        safety_ms=a.safety_ms,
    )
    m, budget = LiveController(_library(a.models_dir)).measure_round_trip(request, a.clicks)
    engine_ms = budget.engine_ms
    print(f"devices    {dev_out.label()} -> {dev_in.label()}, {a.rate} Hz, block {a.block_frames}")
    print(
        f"measured   round trip {m.median_ms:.2f} ms median, spread {m.spread_ms:.2f} ms "
        f"({m.n_detected}/{m.n_clicks} clicks, {m.xruns} xruns); PortAudio reports {m.reported_ms:.1f} ms"
    )
    print(
        f"budget     with voice {a.voice}: device {m.median_ms:.1f} + engine {engine_ms:.1f} "
        f"(chain {budget.chain_ms:.1f} + block {budget.block_ms:.1f} + safety {budget.safety_ms:.1f}) "
        f"= {m.median_ms + engine_ms:.1f} ms expected round trip"
    )
    if a.json is not None:
        body = {
            "median_ms": m.median_ms,
            "spread_ms": m.spread_ms,
            "per_click_ms": list(m.per_click_ms),
            "reported_ms": m.reported_ms,
            "engine_ms": engine_ms,
            "expected_total_ms": m.median_ms + engine_ms,
        }
        write_json_report(a.json, body)
    return 0


def cmd_route(a: argparse.Namespace) -> int:
    from vc_core.io import routing
    from vc_core.io.devices import virtual_mic_guidance

    if not sys.platform.startswith("linux"):
        print(virtual_mic_guidance())
        return 0
    if a.action == "create":
        mic = routing.create_virtual_mic()
        print(f"virtual microphone ready: play into sink {mic.sink_name!r}; apps record from {mic.source_name!r}")
        print("next: vc live --virtual-mic   (then choose 'VoiceChanger Mic' as the microphone in Discord/OBS/Zoom)")
    elif a.action == "remove":
        removed = routing.remove_virtual_mic()
        print(f"removed {len(removed)} module(s)" if removed else "nothing to remove")
    else:
        st = routing.virtual_mic_status()
        state = "present" if st.present else "absent"
        print(f"virtual microphone {state} on {st.server}; modules created by this app: {list(st.recorded_module_ids)}")
    return 0


def cmd_devices(a: argparse.Namespace) -> int:
    from vc_core.io.devices import list_devices, supported_rates

    for kind in ("input", "output"):
        print(f"{kind} devices (default first; * = default):")
        for d in list_devices(kind):
            mark = "*" if (d.is_default_input if kind == "input" else d.is_default_output) else " "
            try:
                rates = ", ".join(f"{r / 1000:g}k" for r in supported_rates(d, kind))
            except DeviceError as e:
                rates = f"unusable: {e}"
            print(f" {mark} {d.label()}  [{d.channels(kind)} ch; rates {rates}]")
    return 0


COMMANDS = {
    "convert": cmd_convert,
    "simulate": cmd_simulate,
    "live": cmd_live,
    "devices": cmd_devices,
    "latency": cmd_latency,
    "route": cmd_route,
    "bench": cmd_bench,
    "voices": cmd_voices,
    "new-voice": cmd_new_voice,
    "eval": cmd_eval,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.cmd](args)
    except VcError as e:
        print(f"vc: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
