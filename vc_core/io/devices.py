"""Audio device listing and lookup over sounddevice (PortAudio).

Devices are saved by name + host API and looked up again on every start: PortAudio's indexes
change when devices come and go, so an index is only valid until the next rescan. sounddevice is
loaded inside the functions (:func:`vc_core.io.pa.load_sounddevice`), so importing `vc_core` never
needs the PortAudio library.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vc_core.errors import DeviceError
from vc_core.io.pa import load_sounddevice

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]

CANDIDATE_RATES_HZ: tuple[int, ...] = (16000, 22050, 24000, 32000, 44100, 48000, 96000)
PREFERRED_RATES_HZ: tuple[int, ...] = (48000, 44100)
# Windows MME cuts device names to 31 characters; a saved longer name may match such a prefix.
_MME_NAME_CHARS = 31

# Lower-case name fragments of virtual cables apps can record from (product → fragments).
VIRTUAL_CABLE_PATTERNS: Mapping[str, tuple[str, ...]] = {
    "VB-Audio Virtual Cable": ("cable input", "cable output", "vb-audio"),
    "VoiceMeeter": ("voicemeeter",),
    "BlackHole": ("blackhole",),
    "VoiceChanger (this app, Linux)": ("voicechanger",),
}


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device as seen at the last scan; `index` is valid only until the next rescan."""

    name: str
    host_api: str
    index: int
    max_input_channels: int
    max_output_channels: int
    default_samplerate_hz: float
    is_default_input: bool
    is_default_output: bool

    def channels(self, kind: Kind) -> int:
        """Maximum channel count in direction `kind`."""
        return self.max_input_channels if kind == "input" else self.max_output_channels

    def label(self) -> str:
        """`name (host API)`, the form used in messages and menus."""
        return f"{self.name} ({self.host_api})"


def _check_kind(kind: str) -> Kind:
    if kind not in ("input", "output"):
        raise DeviceError(f"device kind {kind!r} is not 'input' or 'output'")
    return "input" if kind == "input" else "output"


def _scan() -> list[DeviceInfo]:
    """Every device PortAudio knows now, in PortAudio order."""
    sd = load_sounddevice()
    try:
        hostapis: Sequence[Mapping[str, Any]] = sd.query_hostapis()
        devices: Sequence[Mapping[str, Any]] = sd.query_devices()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from exc
    default_in, default_out = _global_defaults(sd, hostapis)
    out: list[DeviceInfo] = []
    for i, dev in enumerate(devices):
        api = hostapis[int(dev["hostapi"])]
        out.append(
            DeviceInfo(
                name=str(dev["name"]),
                host_api=str(api["name"]),
                index=i,
                max_input_channels=int(dev["max_input_channels"]),
                max_output_channels=int(dev["max_output_channels"]),
                default_samplerate_hz=float(dev["default_samplerate"]),
                is_default_input=i == default_in,
                is_default_output=i == default_out,
            )
        )
    return out


def _global_defaults(sd: Any, hostapis: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(input, output) default device indexes: sd.default.device if set to indexes, else PortAudio's."""
    api_index = int(sd.default.hostapi)
    api = hostapis[api_index] if 0 <= api_index < len(hostapis) else {}
    pa_defaults = (int(api.get("default_input_device", -1)), int(api.get("default_output_device", -1)))
    chosen = tuple(sd.default.device)
    return (
        chosen[0] if isinstance(chosen[0], int) and chosen[0] >= 0 else pa_defaults[0],
        chosen[1] if isinstance(chosen[1], int) and chosen[1] >= 0 else pa_defaults[1],
    )


RESCAN_TIMEOUT_S = 20.0
_RESCAN_SCRIPT = (
    "import dataclasses, json; from vc_core.io.devices import _scan; "
    "print(json.dumps([dataclasses.asdict(d) for d in _scan()]))"
)


def rescan_isolated() -> list[DeviceInfo]:
    """Every device as a *fresh* PortAudio sees it now, without touching this process.

    PortAudio only learns about new devices when it is re-initialised, which closes every open
    stream (and on some systems interrupts all audio for a moment). Listing from a short-lived
    child process shows devices plugged in since start-up while running streams keep running.
    The ``index`` fields belong to the child: look devices up again by name before opening.
    """
    import json

    return [DeviceInfo(**d) for d in json.loads(_run_child(_RESCAN_SCRIPT, [], "cannot rescan audio devices"))]


def _run_child(script: str, args: list[str], failure: str) -> str:
    """Run ``script`` in a fresh Python (its own PortAudio); its stdout, or DeviceError
    ``failure: <the child's last error line>``."""
    import subprocess

    try:
        r = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=RESCAN_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeviceError(f"{failure}: {exc}") from exc
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise DeviceError(f"{failure}: {last}")
    return r.stdout


def reinitialize_portaudio() -> None:
    """Make this process's PortAudio see devices added or removed since it started (Pa_Initialize again).

    Closes every stream of this process: call it only when none runs (LiveSession does so
    between stopping the old pair and opening the new one).
    """
    sd = load_sounddevice()
    sd._terminate()
    sd._initialize()


_CHECK_SCRIPT = """
import json, sys
from vc_core.io.pa import load_sounddevice
sd = load_sounddevice()
a = json.loads(sys.argv[1])
names = [d["name"] for d in sd.query_devices()]
apis = [sd.query_hostapis(d["hostapi"])["name"] for d in sd.query_devices()]
def index(name, api):
    for i, (n, h) in enumerate(zip(names, apis)):
        if n == name and h == api:
            return i
    raise SystemExit(f"device {name} ({api}) is not present")
try:
    sd.check_input_settings(index(a["in"], a["in_api"]), channels=1, dtype="float32", samplerate=a["rate"])
    sd.check_output_settings(index(a["out"], a["out_api"]), channels=a["ch"], dtype="float32", samplerate=a["rate"])
except sd.PortAudioError as e:
    raise SystemExit(str(e))
"""


def check_pair_isolated(input_device: DeviceInfo, output_device: DeviceInfo, rate_hz: int, out_channels: int) -> None:
    """Check in a fresh child PortAudio that the pair accepts ``rate_hz`` (DeviceError if not).

    Used before re-initialising this process's PortAudio for a newly plugged device, so a
    failing device never costs the running stream.
    """
    import json

    arg = json.dumps(
        {
            "in": input_device.name,
            "in_api": input_device.host_api,
            "out": output_device.name,
            "out_api": output_device.host_api,
            "rate": rate_hz,
            "ch": out_channels,
        }
    )
    _run_child(
        _CHECK_SCRIPT,
        [arg],
        f"cannot use input {input_device.label()} + output {output_device.label()} at {rate_hz} Hz",
    )


def is_safe_output(name: str) -> bool:
    """True for outputs that are not loudspeakers (virtual cables, headphones, null sinks), where a
    microphone can be routed without the risk of feedback."""
    low = name.lower()
    frags = [f for group in VIRTUAL_CABLE_PATTERNS.values() for f in group] + ["headphone", "headset", "null"]
    return any(f in low for f in frags)


def resolve_pair(input_device: DeviceInfo, output_device: DeviceInfo) -> tuple[DeviceInfo, DeviceInfo]:
    """This process's DeviceInfo for both, looked up by name + host API (lists may come from
    :func:`rescan_isolated`, whose indexes belong to another PortAudio). Re-initialises PortAudio
    for a device it has not seen yet: call only while no stream of this process runs."""
    if not (known_in_process(input_device) and known_in_process(output_device)):
        reinitialize_portaudio()
    return (
        find_device(input_device.name, input_device.host_api, kind="input"),
        find_device(output_device.name, output_device.host_api, kind="output"),
    )


def known_in_process(device: DeviceInfo) -> bool:
    """True when this process's PortAudio lists ``device`` (same name and host API)."""
    return any(d.name == device.name and d.host_api == device.host_api for d in _scan())


def list_devices(kind: Kind, rescan: bool = False) -> list[DeviceInfo]:
    """Devices with at least one channel in direction `kind`, the default device first.

    ``rescan=True`` lists from a fresh PortAudio in a child process (see :func:`rescan_isolated`),
    so newly plugged devices show up without disturbing running streams.
    """
    kind = _check_kind(kind)
    devs = [d for d in (rescan_isolated() if rescan else _scan()) if d.channels(kind) > 0]
    return sorted(devs, key=lambda d: not _is_default(d, kind))  # stable: PortAudio order otherwise


def _is_default(dev: DeviceInfo, kind: Kind) -> bool:
    return dev.is_default_input if kind == "input" else dev.is_default_output


def _api_matches(dev: DeviceInfo, host_api: str | None) -> bool:
    return host_api is None or host_api.casefold() in dev.host_api.casefold()


def find_device(name: str, host_api: str | None = None, *, kind: Kind) -> DeviceInfo:
    """The `kind` device called `name` (on a host API containing `host_api`, case-insensitive).

    Tries an exact name, then a case-insensitive exact name, then a case-insensitive substring
    (either way round for names MME cut to 31 characters). Several exact matches (one device on
    several host APIs) resolve to the default device's host API, then PortAudio order; several
    different substring matches are an error naming them.
    """
    kind = _check_kind(kind)
    candidates = [d for d in list_devices(kind) if _api_matches(d, host_api)]
    want = name.casefold()
    tiers = (
        [d for d in candidates if d.name == name],
        [d for d in candidates if d.name.casefold() == want],
        [
            d
            for d in candidates
            if want in d.name.casefold() or (len(d.name) >= _MME_NAME_CHARS and want.startswith(d.name.casefold()))
        ],
    )
    for matches in tiers:
        if not matches:
            continue
        if len({d.name for d in matches}) > 1:
            names = ", ".join(d.label() for d in matches)
            raise DeviceError(f"{kind} device name {name!r} is ambiguous: it matches {names}; give the full name")
        return _prefer_default_api(matches, kind)
    where = f" on host API {host_api!r}" if host_api else ""
    known = ", ".join(d.label() for d in list_devices(kind)) or "none"
    raise DeviceError(f"no {kind} device named {name!r}{where}; plug it in or pick one of: {known}")


def _prefer_default_api(matches: list[DeviceInfo], kind: Kind) -> DeviceInfo:
    defaults = [d for d in list_devices(kind) if _is_default(d, kind)]
    if defaults:
        for d in matches:
            if d.host_api == defaults[0].host_api:
                return d
    return matches[0]


def _check_rate(device: DeviceInfo, kind: Kind, rate_hz: int, channels: int) -> str | None:
    """None if PortAudio accepts the settings, else the host API's error text."""
    sd = load_sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device.index, samplerate=rate_hz, channels=channels, dtype="float32")
    except (sd.PortAudioError, ValueError) as exc:
        return str(exc)
    return None


def supported_rates(
    device: DeviceInfo, kind: Kind, candidates: Iterable[int] = CANDIDATE_RATES_HZ, *, channels: int = 1
) -> tuple[int, ...]:
    """The rates (Hz) among `candidates` that PortAudio accepts for `device` in direction `kind`.

    Raises DeviceError (with the host API's error text) when the device has no `kind` channels
    or accepts none of the rates.
    """
    kind = _check_kind(kind)
    if device.channels(kind) < channels:
        raise DeviceError(
            f"{device.label()} has {device.channels(kind)} {kind} channels, {channels} needed: pick another device"
        )
    ok: list[int] = []
    errors: dict[int, str] = {}
    for rate in candidates:
        err = _check_rate(device, kind, int(rate), channels)
        if err is None:
            ok.append(int(rate))
        else:
            errors[int(rate)] = err
    if not ok:
        detail = "; ".join(f"{r} Hz: {e}" for r, e in errors.items())
        raise DeviceError(f"{kind} device {device.label()} accepts none of the rates tried ({detail})")
    return tuple(ok)


def pick_common_rate(
    input_device: DeviceInfo,
    output_device: DeviceInfo,
    candidates: Iterable[int] = CANDIDATE_RATES_HZ,
    preferred_hz: Sequence[int] = PREFERRED_RATES_HZ,
) -> int:
    """A rate (Hz) both devices accept: the first of `preferred_hz` they share, else the highest shared.

    Raises DeviceError listing both devices' rates when they share none.
    """
    rates = tuple(candidates)
    ins = supported_rates(input_device, "input", rates)
    outs = supported_rates(output_device, "output", rates)
    common = [r for r in ins if r in outs]
    if not common:
        raise DeviceError(
            f"input {input_device.label()} ({', '.join(map(str, ins))} Hz) and output {output_device.label()} "
            f"({', '.join(map(str, outs))} Hz) share no sample rate: pick devices on the same host API"
        )
    for r in preferred_hz:
        if r in common:
            return r
    return max(common)


def pick_rates(
    input_device: DeviceInfo,
    output_device: DeviceInfo,
    candidates: Iterable[int] = CANDIDATE_RATES_HZ,
    preferred_hz: Sequence[int] = PREFERRED_RATES_HZ,
) -> tuple[int, int]:
    """(input rate, output rate): one shared rate when the devices have one (a single duplex
    stream), else each device's own preferred rate (split streams, resampled independently)."""
    rates = tuple(candidates)
    try:
        r = pick_common_rate(input_device, output_device, rates, preferred_hz)
        return r, r
    except DeviceError:
        pass

    def best(ok: tuple[int, ...]) -> int:
        return next((r for r in preferred_hz if r in ok), max(ok))

    return best(supported_rates(input_device, "input", rates)), best(supported_rates(output_device, "output", rates))


def virtual_cable_candidates(kind: Kind = "output") -> list[DeviceInfo]:
    """Devices in direction `kind` whose names look like a virtual cable (VB-Cable, VoiceMeeter, BlackHole, ours).

    Play the converted voice into one of these `output` devices; chat apps then record from the
    cable's other end.
    """
    found = []
    for dev in list_devices(kind):
        low = dev.name.casefold()
        if any(frag in low for frags in VIRTUAL_CABLE_PATTERNS.values() for frag in frags):
            found.append(dev)
    return found


def virtual_mic_guidance(platform: str | None = None) -> str:
    """How to make the converted voice appear as a microphone in other apps on `platform` (default: this one).

    `platform` is a `sys.platform` value ("win32", "darwin", "linux") or "windows"/"macos".
    """
    plat = (platform or sys.platform).lower()
    if plat.startswith(("win", "cygwin")):
        return (
            "Windows has no built-in virtual microphone. Install VB-Audio Virtual Cable (free) or VoiceMeeter, "
            "choose 'CABLE Input' as this app's output, then choose 'CABLE Output' as the microphone in "
            "Discord, Zoom or the game. Use the same host API (e.g. WASAPI) for input and output."
        )
    if plat.startswith(("darwin", "mac")):
        return (
            "macOS has no built-in virtual microphone. Install BlackHole 2ch, choose 'BlackHole 2ch' as this "
            "app's output, then choose 'BlackHole 2ch' as the microphone in the other app. To hear yourself too, "
            "use a separate monitor output rather than a Multi-Output Device."
        )
    if plat.startswith("linux"):
        return (
            "On Linux with PipeWire or PulseAudio this app can create a virtual microphone itself: it adds a sink "
            "'VoiceChanger' and a source 'VoiceChanger Mic' (pactl modules, removed again on request). Play into "
            "'VoiceChanger' and choose 'VoiceChanger Mic' as the microphone in the other app. Needs pactl "
            "(package pulseaudio-utils) and a running sound server."
        )
    return f"no virtual microphone guidance for platform {platform!r}: route the output with your system's tools"
