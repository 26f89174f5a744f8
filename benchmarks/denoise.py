"""Mic cleanup, measured: noisy real speech through each input denoiser setting, then into voices.

Two passages of real speech (``vc_core/eval/clips.py``: the five LibriVox sentences and the first
seven chosen Asterisk prompts, two readers, about 26 s each so each is one Whisper window, 140
words in all) are mixed at 48 kHz with three named noises (new draws for each passage):

* ``babble`` - six other real talkers at once (``.cache/corpus-real``, built by
  ``vc_core/train/real_speech.py``: one French prompt reader and Tux Paint readers in el/bg/ro/ru);
* ``fan`` - synthesised: red noise, a band of rumble and an 85 Hz blade hum with harmonics;
* ``keyboard`` - synthesised: about six keystrokes a second, each a press and a release click
  (decaying noise bursts band-passed to 1.5-6 kHz) over a faint hiss;

at SNRs of 20, 10, 5 and 0 dB (speech and noise RMS over 0-8 kHz, the recordings' band), and
clean. For every setting (off, light, strong), side by side in this one process:

* the denoised input: Whisper-base word loss against the passages' transcripts (substituted and
  deleted words over all words; insertions are left out, see :func:`words_lost`), WER beside it,
  and DNSMOS SIG/BAK/OVRL;
* the same two after conversion through the whole chain (the denoiser inside it, as live) with
  two neural voices on the real-time base and one effects voice, at clean and 5 dB;
* the denoiser's RTF (compute / audio seconds, 256-frame blocks at 48 kHz) and the latency it
  adds to the chain.

Needs ``.venv-train`` (Whisper via ctranslate2, DNSMOS via speechmos). Not part of ``make test``.
Run: ``nice .venv-train/bin/python benchmarks/denoise.py`` (about 18 min on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.bench import machine_info  # noqa: E402
from vc_core.config import DenoiseConfig, DenoiseSetting, GateConfig, MixConfig, VoiceParams  # noqa: E402
from vc_core.dsp.denoise import LAG_SAMPLES, DenoiseStage, denoise_availability  # noqa: E402
from vc_core.dsp.resample import Resampler  # noqa: E402
from vc_core.eval.clips import find_eval_clips  # noqa: E402
from vc_core.eval.metrics import Dnsmos, WhisperTranscriber, normalize_text, to_16k, word_errors  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.bundles import REALTIME_BASE_NAME  # noqa: E402
from vc_core.pipeline import VoiceChain  # noqa: E402
from vc_core.stream import Audio  # noqa: E402
from vc_core.voices.library import VoiceLibrary  # noqa: E402

log = logging.getLogger("denoise-bench")

RATE = 48000  # the microphone's rate
BLOCK = 256  # device period for the timing runs
SEED = 2026
SNRS_DB = (20, 10, 5, 0)
CONVERT_SNRS_DB = (5,)  # conversions: clean and these (the time budget)
NOISES = ("babble", "fan", "keyboard")
SETTINGS = tuple(DenoiseSetting)
VOICES = (("heart", REALTIME_BASE_NAME), ("joe", REALTIME_BASE_NAME), ("deep", None))
PASSAGES = (((0, 3), (0, 2)), ((3, 5), (2, 7)))  # (LibriVox, Asterisk prompt) slices per passage
GAP_S = 0.3
SPEECH_DBFS = -26.0  # a typical microphone level
PEAK_LIMIT = 0.98
BABBLE_TALKERS = ("real-armelle", "real-tux-el-0113", "real-tux-bg-0078", "real-tux-ro-0346", "real-tux-ru-0303")
BABBLE_MORE = "real-tux-ro-0134"  # a sixth talker
CORPUS_REAL = ROOT / ".cache" / "corpus-real"
OUT_JSON = ROOT / "benchmarks" / "results" / "denoise.json"


def rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def band_rms(x: Audio) -> float:
    """RMS over 0-8 kHz (the band the speech recordings have)."""
    return rms(to_16k(x, RATE))


def to_rate(x: Audio, rate_in: int, rate_out: int) -> Audio:
    r = Resampler(rate_in, rate_out)
    return np.concatenate([r.push(x), r.flush()])


# ----------------------------------------------------------------------------- signals


def passages() -> list[tuple[Audio, str, list[str]]]:
    """Each speech passage at 48 kHz (SPEECH_DBFS RMS), its transcript and its clips' names."""
    clips = find_eval_clips()
    librivox = [c for c in clips if c.name.startswith("librivox/")]
    allison = [c for c in clips if c.name.startswith("allison/")]
    out = []
    for (a, b), (c, d) in PASSAGES:
        chosen = librivox[a:b] + allison[c:d]
        parts: list[Audio] = []
        for clip in chosen:
            x, rate = read_audio(clip.path)
            parts += [to_rate(x, rate, RATE), np.zeros(int(GAP_S * RATE), dtype=np.float32)]
        x = np.concatenate(parts)
        x *= np.float32(10 ** (SPEECH_DBFS / 20) / rms(x))
        out.append((x.astype(np.float32), " ".join(clip.text for clip in chosen), [clip.name for clip in chosen]))
    return out


def babble(n: int, rng: np.random.Generator) -> Audio:
    """Six real talkers at once, each looped from a random start, equal levels."""
    manifest = [json.loads(line) for line in (CORPUS_REAL / "manifest.jsonl").read_text().splitlines()]
    out = np.zeros(n, dtype=np.float64)
    for talker in (*BABBLE_TALKERS, BABBLE_MORE):
        utts = [m for m in manifest if m["speaker"] == talker][:12]
        if not utts:
            raise SystemExit(f"no speech of {talker} in {CORPUS_REAL}: build it with vc_core/train/real_speech.py")
        parts = []
        for m in utts:
            x, rate = read_audio(CORPUS_REAL / m["path"])
            parts += [to_rate(x, rate, RATE), np.zeros(int(rng.uniform(0.05, 0.4) * RATE), dtype=np.float32)]
        stream = np.concatenate(parts)
        stream = np.roll(np.tile(stream, n // len(stream) + 1)[:n], int(rng.integers(len(stream))))
        out += stream / rms(stream)
    return (out / rms(out)).astype(np.float32)


def fan(n: int, rng: np.random.Generator) -> Audio:
    """Red noise + a rumble band + an 85 Hz blade hum (4 harmonics) with a slow wobble."""
    t = np.arange(n) / RATE
    red = lfilter([1.0], [1.0, -0.995], rng.standard_normal(n))
    rumble = sosfilt(butter(2, (150, 900), btype="bandpass", fs=RATE, output="sos"), rng.standard_normal(n))
    wobble = 1.0 + 0.1 * np.sin(2 * np.pi * 0.3 * t)
    hum = sum(np.sin(2 * np.pi * k * 85.0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 5)) * wobble
    x = red / rms(red) + 0.7 * rumble / rms(rumble) + 0.5 * hum / rms(hum)
    return (x / rms(x)).astype(np.float32)


def keyboard(n: int, rng: np.random.Generator) -> Audio:
    """Keystrokes (~6/s): a press and, 60-120 ms later, a softer release; over a faint hiss."""
    sos = butter(2, (1500, 6000), btype="bandpass", fs=RATE, output="sos")
    click_n = int(0.015 * RATE)
    decay = np.exp(-np.arange(click_n) / (0.002 * RATE))
    x = 0.01 * rng.standard_normal(n)
    at = 0.0
    while True:
        at += rng.exponential(1 / 6.0)
        for offset, amp in ((0.0, rng.uniform(0.5, 1.0)), (rng.uniform(0.06, 0.12), rng.uniform(0.2, 0.5))):
            i = int((at + offset) * RATE)
            if i + click_n >= n:
                break
            x[i : i + click_n] += amp * sosfilt(sos, rng.standard_normal(click_n)) * decay
        if int(at * RATE) + click_n >= n:
            break
    return (x / rms(x)).astype(np.float32)


def conditions(speech: Audio, rng: np.random.Generator) -> dict[str, Audio]:
    """'clean' and '<noise>@<snr>' mixes, scaled together so no peak passes PEAK_LIMIT."""
    noises = {"babble": babble, "fan": fan, "keyboard": keyboard}
    out = {"clean": speech}
    level = band_rms(speech)
    for name in NOISES:
        noise = noises[name](len(speech), rng)
        noise *= np.float32(level / band_rms(noise))  # 0 dB over 0-8 kHz
        for snr in SNRS_DB:
            out[f"{name}@{snr}"] = speech + np.float32(10 ** (-snr / 20)) * noise
    for k, x in out.items():
        peak = float(np.abs(x).max())
        out[k] = (x * np.float32(min(1.0, PEAK_LIMIT / peak))).astype(np.float32)
    return out


# ----------------------------------------------------------------------------- measuring


def words_lost(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substituted + deleted reference words, reference words) on a minimal word alignment.

    Unlike WER this ignores insertions: Whisper loops on garbled audio ("the the the ...") and
    such loops would outweigh every word actually lost."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    # cost[i][j] = (edits, words lost) aligning ref[:i] with hyp[:j]; fewest edits, then fewest lost
    prev = [(j, 0) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        cur = [(i, i)]
        for j, h in enumerate(hyp, 1):
            sub = (prev[j - 1][0] + (r != h), prev[j - 1][1] + (r != h))
            cur.append(min(sub, (prev[j][0] + 1, prev[j][1] + 1), (cur[j - 1][0] + 1, cur[j - 1][1])))
        prev = cur
    return prev[-1][1], len(ref)


class Meter:
    """Whisper word loss and WER against a transcript, and DNSMOS; one thread each."""

    def __init__(self) -> None:
        self.asr = WhisperTranscriber(ROOT / ".cache", threads=1)
        self.mos = Dnsmos(threads=1)

    def __call__(self, x: Audio, rate: int, text: str) -> dict[str, Any]:
        hyp = self.asr.transcribe(x, rate)
        errors, words = word_errors(text, hyp)
        lost, _ = words_lost(text, hyp)
        m = self.mos.score(x, rate)
        return {
            "lost": lost,
            "errors": errors,
            "words": words,
            "sig": m.sig,
            "bak": m.bak,
            "ovrl": m.ovrl,
            "transcript": hyp,
        }


def pooled(per_passage: list[dict[str, Any]]) -> dict[str, Any]:
    """Word loss and WER (%) over all passages' words, DNSMOS averaged; the passages kept beside."""
    words = sum(r["words"] for r in per_passage)
    return {
        "loss": 100.0 * sum(r["lost"] for r in per_passage) / words,
        "wer": 100.0 * sum(r["errors"] for r in per_passage) / words,
        **{k: float(np.mean([r[k] for r in per_passage])) for k in ("sig", "bak", "ovrl")},
        "passages": per_passage,
    }


def denoise_input(setting: DenoiseSetting, x: Audio) -> tuple[Audio, float]:
    """``x`` through the denoiser alone in device blocks; the output (aligned) and compute seconds."""
    if setting is DenoiseSetting.OFF:
        return x, 0.0
    stage = DenoiseStage(DenoiseConfig(setting))
    t0 = time.perf_counter()
    parts = [stage.push(x[i : i + BLOCK]) for i in range(0, len(x), BLOCK)]
    seconds = time.perf_counter() - t0
    return np.concatenate([*parts, stage.flush()]), seconds


def convert(voice: Any, setting: DenoiseSetting, x: Audio) -> tuple[Audio, int]:
    """``x`` through the whole chain (denoiser inside, no gate), as ``vc convert --denoise``."""
    rate_out = voice.manifest.sample_rate_hz
    mix = MixConfig(denoise=DenoiseConfig(setting))
    chain = VoiceChain(voice, RATE, rate_out, VoiceParams(), GateConfig(enabled=False), mix)
    step = RATE // 10
    y = np.concatenate([*(chain.push(x[i : i + step]) for i in range(0, len(x), step)), chain.flush()])
    return y, rate_out


def added_latency_ms(lib: VoiceLibrary, setting: DenoiseSetting) -> float:
    voice = lib.load("natural")
    base = VoiceChain(voice, RATE, RATE).latency_samples
    with_it = VoiceChain(voice, RATE, RATE, mix=MixConfig(denoise=DenoiseConfig(setting))).latency_samples
    return 1000.0 * (with_it - base) / RATE


def mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


# ----------------------------------------------------------------------------- report


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Means over the three noises per SNR, and the issue's targets."""
    inp = report["input"]
    snrs = ["clean", *(str(s) for s in SNRS_DB)]
    keys = ("loss", "wer", "sig", "bak", "ovrl")

    def at(rows: dict[str, Any], snr: str) -> list[dict[str, Any]]:
        return [rows["clean"]] if snr == "clean" else [rows[f"{n}@{snr}"] for n in NOISES]

    table_in = {s: {snr: {k: mean(at(inp[s], snr), k) for k in keys} for snr in snrs} for s in inp}
    conv = report["converted"]
    conv_snrs = ["clean", *(str(s) for s in CONVERT_SNRS_DB)]
    table_conv = {
        v: {s: {snr: {k: mean(at(conv[v][s], snr), k) for k in keys} for snr in conv_snrs} for s in conv[v]}
        for v in conv
    }
    off_clean = table_in["off"]["clean"]
    targets: dict[str, Any] = {}
    for s in ("light", "strong"):
        if s not in table_in:
            continue
        c = table_in[s]["clean"]
        drop = max(off_clean[k] - c[k] for k in ("sig", "bak", "ovrl"))
        targets[f"clean input, {s}: largest DNSMOS drop"] = drop
        targets[f"clean input, {s}: WER rise (points)"] = c["wer"] - off_clean["wer"]
        targets[f"clean input, {s}: met (drop <= 0.1, rise <= 2)"] = drop <= 0.1 and c["wer"] - off_clean["wer"] <= 2.0
    for v in table_conv:
        if "strong" not in table_conv[v]:
            continue
        clean = table_conv[v]["off"]["clean"]["loss"]
        gap = table_conv[v]["strong"]["5"]["loss"] - clean
        targets[f"{v}, strong at 5 dB: word loss minus clean input's (points)"] = gap
        for n in NOISES:
            targets[f"{v}, strong at 5 dB, {n}: the same"] = conv[v]["strong"][f"{n}@5"]["loss"] - clean
        targets[f"{v}, strong at 5 dB: met (<= 5)"] = gap <= 5.0
    if "light" in report["cost"]:
        cost = report["cost"]["light"]
        targets["light: met (RTF <= 0.03, added <= 10 ms)"] = cost["rtf"] <= 0.03 and cost["added_latency_ms"] <= 10.0
    return {"input": table_in, "converted": table_conv, "targets": targets}


def format_tables(report: dict[str, Any]) -> str:
    s = report["summary"]
    snrs = ["clean", *(str(x) for x in SNRS_DB)]
    lines = [
        "Denoised input, mean of babble, fan and keyboard at each SNR: word loss % / DNSMOS SIG BAK OVRL",
        "",
        "| setting | " + " | ".join(x if x == "clean" else f"{x} dB" for x in snrs) + " |",
        "|---|" + "---|" * len(snrs),
    ]
    for setting, row in s["input"].items():
        cells = [f"{row[x]['loss']:.1f} / {row[x]['sig']:.2f} {row[x]['bak']:.2f} {row[x]['ovrl']:.2f}" for x in snrs]
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    settings = list(s["input"])
    lines += [
        "",
        "Converted, word loss % / DNSMOS OVRL; 5 dB = mean of the three noises",
        "",
        "| voice | " + " | ".join(f"{st}: clean | {st}: 5 dB" for st in settings) + " |",
        "|---|" + "---|---|" * len(settings),
    ]
    for voice, by_setting in s["converted"].items():
        cells = [
            f"{by_setting[st][x]['loss']:.1f} / {by_setting[st][x]['ovrl']:.2f}"
            for st in settings
            for x in ("clean", "5")
        ]
        lines.append(f"| {voice} | " + " | ".join(cells) + " |")
    lines += ["", "| setting | RTF | latency added (ms) | runtime lag (ms) |", "|---|---|---|---|"]
    for setting, c in report["cost"].items():
        lines.append(f"| {setting} | {c['rtf']:.3f} | {c['added_latency_ms']:.1f} | {c['lag_ms']:.1f} |")
    lines += ["", "targets:"]
    lines += [f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}" for k, v in s["targets"].items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=OUT_JSON)
    ap.add_argument("--smoke", action="store_true", help="two conditions, one voice, no summary (checks the script)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    avail = denoise_availability()
    settings = [s for s in SETTINGS if avail[s] is None]
    for s in SETTINGS:
        if avail[s] is not None:
            log.warning("skipping %s: %s", s.value, avail[s])
    t_start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    texts = passages()
    mixes = [conditions(speech, rng) for speech, _, _ in texts]
    voices = VOICES
    if args.smoke:
        mixes = [{k: m[k] for k in ("clean", "keyboard@5")} for m in mixes[:1]]
        voices = VOICES[-1:]
    audio_s = sum(len(speech) for speech, _, _ in texts[: len(mixes)]) / RATE
    log.info("%d passages, %.1f s; %d conditions", len(mixes), audio_s, len(mixes[0]))
    meter = Meter()
    lib = VoiceLibrary.default()
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_average_at_start": os.getloadavg(),
        "passages": [
            {"clips": names, "seconds": len(speech) / RATE, "words": len(text.split()), "text": text}
            for speech, text, names in texts
        ],
        "noises": NOISES,
        "snrs_db": SNRS_DB,
        "input": {},
        "converted": {},
        "cost": {},
    }
    for setting in settings:
        rows: dict[str, Any] = {}
        compute = 0.0
        for cond in mixes[0]:
            per = []
            for m, (_, text, _) in zip(mixes, texts, strict=False):
                y, sec = denoise_input(setting, m[cond])
                compute += sec
                per.append(meter(y, RATE, text))
            rows[cond] = r = pooled(per)
            log.info("input %-6s %-12s loss %5.1f OVRL %.2f", setting.value, cond, r["loss"], r["ovrl"])
        report["input"][setting.value] = rows
        report["cost"][setting.value] = {
            "rtf": compute / (len(mixes[0]) * audio_s),
            "added_latency_ms": added_latency_ms(lib, setting),
            "lag_ms": 1000.0 * LAG_SAMPLES[setting] / RATE,
        }
    convert_conds = ["clean", *(f"{n}@{snr}" for n, snr in itertools.product(NOISES, CONVERT_SNRS_DB))]
    convert_conds = [c for c in convert_conds if c in mixes[0]]
    for name, base in voices:
        voice = lib.load(name, base)
        label = f"{name} ({'real-time base' if base else 'effects'})"
        report["converted"][label] = {}
        for setting in settings:
            rows = {}
            for cond in convert_conds:
                per = []
                for m, (_, text, _) in zip(mixes, texts, strict=False):
                    y, rate = convert(voice, setting, m[cond])
                    per.append(meter(y, rate, text))
                rows[cond] = r = pooled(per)
                log.info("%s %-6s %-12s loss %5.1f OVRL %.2f", name, setting.value, cond, r["loss"], r["ovrl"])
            report["converted"][label][setting.value] = rows
    report["wall_s"] = time.perf_counter() - t_start
    report["load_average_at_end"] = os.getloadavg()
    if args.smoke:
        print(json.dumps({k: report[k] for k in ("input", "converted", "cost")}, indent=1)[:4000])
        return 0
    report["summary"] = summarise(report)
    write_json_report(args.json, report)
    print(format_tables(report))
    print(f"\nwritten {args.json} in {report['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
