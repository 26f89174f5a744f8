"""Neural voices: streaming parity, bundle verification, voices from a reference clip (no torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.helpers import flip_middle_byte, librivox_clip
from vc_core.cli import main as vc_main
from vc_core.config import VoiceParams
from vc_core.dsp.mel import VOCODER_HOP, VOCODER_N_MELS, VOCODER_RATE_HZ, VocoderMel
from vc_core.errors import ModelBundleError, ReferenceClipError
from vc_core.neural.bundles import BASE_NAME, REALTIME_BASE_NAME, SPEAKER_NAME, VOCODER_NAME
from vc_core.neural.clip import analyse_clip, voice_from_clip
from vc_core.neural.voice import NeuralVoice
from vc_core.voices.library import VoiceLibrary, shipped_models_dir

MODELS = shipped_models_dir()


def _neural_names() -> list[str]:
    lib = VoiceLibrary([MODELS])
    return [e.manifest.name for e in lib.scan() if e.manifest is not None and e.manifest.kind == "neural"]


@pytest.fixture(scope="module")
def speech22() -> np.ndarray:
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    g = np.gcd(rate, VOCODER_RATE_HZ)
    return resample_poly(wav, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)[: 2 * VOCODER_RATE_HZ]


@pytest.fixture(scope="module", params=[BASE_NAME, REALTIME_BASE_NAME], ids=["quality", "realtime"])
def voice(request: pytest.FixtureRequest) -> NeuralVoice:
    """The first library voice, on each shipped base (every base runs every voice)."""
    names = _neural_names()
    assert len(names) >= 6, f"expected at least 6 neural voices in {MODELS}, found {names}"
    v = VoiceLibrary([MODELS]).load(names[0], request.param)
    assert isinstance(v, NeuralVoice) and v.base.folder.name == request.param
    return v


def _run(voice: NeuralVoice, x: np.ndarray, block: int, params: VoiceParams | None = None) -> np.ndarray:
    st = voice.make_stage(params or VoiceParams())
    out = [st.push(x[i : i + block]) for i in range(0, len(x), block)]
    out.append(st.flush())
    return np.concatenate(out)


def test_stream_equals_whole_utterance_for_any_block_size(voice: NeuralVoice, speech22: np.ndarray) -> None:
    whole = _run(voice, speech22, len(speech22))
    assert len(whole) == len(speech22)
    assert np.all(np.isfinite(whole)) and np.sqrt(np.mean(whole**2)) > 1e-3, "the voice produced silence"
    for block in (64, 65, 160, 320, 321, 4096, 8193):
        y = _run(voice, speech22, block)
        assert len(y) == len(speech22)
        # onnxruntime sums in a different order for different frame counts: 1e-5-level differences
        assert np.max(np.abs(y - whole)) < 1e-4, f"block {block}"
    short = speech22[: VOCODER_RATE_HZ // 2]
    assert np.max(np.abs(_run(voice, short, 1) - _run(voice, short, len(short)))) < 1e-4


def test_offline_chain_equals_the_live_stream_to_the_end(voice: NeuralVoice, speech22: np.ndarray) -> None:
    """A file's last ~140 ms equal what the live path plays: flush means silence follows (as the
    engine hears it), not a vocoder window cut at the last frame (a -31 dB residual on the quality base)."""
    from vc_core.pipeline import VoiceChain

    rate = 48000
    x = resample_poly(speech22[:VOCODER_RATE_HZ], 320, 147).astype(np.float32)  # 1 s, cut mid-speech
    offline = VoiceChain(voice, rate, rate)
    ref = np.concatenate([offline.push(x), offline.flush()])
    live = VoiceChain(voice, rate, rate)
    y = np.concatenate(
        [live.push(x[: len(x) // 2]), live.push(x[len(x) // 2 :]), live.push(np.zeros(rate // 2, np.float32))]
    )
    assert len(ref) == len(x) and len(y) >= len(ref)
    tail = slice(len(ref) - rate // 5, len(ref))  # the last 200 ms, where the two used to differ
    assert np.sqrt(np.mean(ref[tail] ** 2)) > 1e-3, "the clip should still be loud at its end"
    assert np.max(np.abs(y[: len(ref)] - ref)) < 1e-4


def test_converted_mel_is_what_the_streaming_vocoder_is_fed(voice: NeuralVoice, speech22: np.ndarray) -> None:
    """``converted_mel`` gives the frames the live path feeds its vocoder, one per hop."""
    st = voice.make_stage(VoiceParams())
    fed: list[np.ndarray] = []
    push = st._vocoder.push
    st._vocoder.push = lambda frames, f0: (fed.append(frames.copy()), push(frames, f0))[1]  # type: ignore[method-assign]
    for i in range(0, len(speech22), 1000):
        st.push(speech22[i : i + 1000])
    st.flush()
    streamed = np.concatenate(fed)
    whole = voice.make_stage(VoiceParams()).converted_mel(speech22)
    assert whole.shape == (-(-len(speech22) // VOCODER_HOP), VOCODER_N_MELS)
    assert len(streamed) >= len(whole)
    assert np.max(np.abs(streamed[: len(whole)] - whole)) < 1e-4


def test_output_is_the_target_voice_not_the_input(voice: NeuralVoice, speech22: np.ndarray) -> None:
    """The output's spectrum follows the target: its log-mel is closer to a resynthesis of the
    converted mel than to the input's (the voice does not pass the input through)."""
    y = _run(voice, speech22, 4096)
    mel = VocoderMel()
    a, b = mel(speech22), mel(y)
    n = min(len(a), len(b))
    assert np.mean(np.abs(a[:n] - b[:n])) > 0.3, "output equals input"
    assert np.corrcoef(a[:n].mean(axis=1), b[:n].mean(axis=1))[0, 1] > 0.6, "loudness contour lost"


def test_pitch_offset_moves_f0(voice: NeuralVoice, speech22: np.ndarray) -> None:
    from vc_core.dsp.pitch import track_f0

    def median_f0(y: np.ndarray) -> float:
        f0, v = track_f0(y, VOCODER_RATE_HZ, 256)
        return float(np.exp(np.median(np.log(f0[v]))))

    base = median_f0(_run(voice, speech22, 4096))
    up = median_f0(_run(voice, speech22, 4096, VoiceParams(pitch_semitones=5.0)))
    assert 12 * np.log2(up / base) == pytest.approx(5.0, abs=1.5)


def _copy_models(tmp: Path, voice_name: str) -> Path:
    root = tmp / "models"
    root.mkdir()
    for name in (BASE_NAME, VOCODER_NAME, voice_name):
        shutil.copytree(MODELS / name, root / name)
    return root


def test_tampered_base_model_is_refused(tmp_path: Path) -> None:
    name = _neural_names()[0]
    root = _copy_models(tmp_path, name)
    flip_middle_byte(root / BASE_NAME / "converter.onnx")
    with pytest.raises(ModelBundleError, match=r"converter\.onnx.*sha256 mismatch"):
        VoiceLibrary([root]).load(name)


def test_wrong_input_names_are_refused(tmp_path: Path) -> None:
    name = _neural_names()[0]
    root = _copy_models(tmp_path, name)
    mpath = root / BASE_NAME / "manifest.json"
    m = json.loads(mpath.read_text())
    m["onnx"]["converter.onnx"]["inputs"][0] = "phonemes"
    mpath.write_text(json.dumps(m))
    with pytest.raises(ModelBundleError, match=r"onnx\['converter\.onnx'\].*inputs"):
        VoiceLibrary([root]).load(name)


def test_missing_base_model_is_named(tmp_path: Path) -> None:
    name = _neural_names()[0]
    shutil.copytree(MODELS / name, tmp_path / name)
    mpath = tmp_path / name / "manifest.json"
    m = json.loads(mpath.read_text())
    m["settings"]["base"] = "_no-such-model"
    mpath.write_text(json.dumps(m))
    with pytest.raises(ModelBundleError, match=r"settings\.base.*_no-such-model"):
        VoiceLibrary([tmp_path]).load(name)


def test_new_voice_from_a_clip_converts(tmp_path: Path, speech22: np.ndarray) -> None:
    clip = librivox_clip()
    before = clip.read_bytes()
    voices = tmp_path / "voices"
    assert vc_main(["new-voice", str(clip), "reader", "--out", str(voices)]) == 0
    assert clip.read_bytes() == before
    lib = VoiceLibrary([MODELS, voices])
    assert "reader" in lib.names()
    v = lib.load("reader")
    assert isinstance(v, NeuralVoice)
    y = _run(v, speech22[:VOCODER_RATE_HZ], 1024)
    assert len(y) == VOCODER_RATE_HZ and np.all(np.isfinite(y))
    # the clip is the same speaker as the input: its embedding is close to the clip's own
    assert float(v.target.dvector @ v.target.dvector) == pytest.approx(1.0, abs=1e-4)
    assert vc_main(["new-voice", str(clip), "reader", "--out", str(voices)]) == 2, "overwrote without --overwrite"


class _FixedEncoder:
    """A :class:`~vc_core.stages.SpeakerEncoder` that hears every clip as the same unit vector."""

    def __init__(self) -> None:
        v = np.arange(1, 257, dtype=np.float32)
        self.vector = v / np.linalg.norm(v)
        self.heard: list[tuple[int, int]] = []

    def embed(self, wav: np.ndarray, rate_hz: int) -> np.ndarray:
        self.heard.append((len(wav), rate_hz))
        return self.vector


def test_a_voice_from_a_clip_takes_its_identity_from_the_speaker_encoder(tmp_path: Path) -> None:
    enc = _FixedEncoder()
    folder, _ = voice_from_clip(librivox_clip(), "stub", tmp_path / "voices", MODELS, encoder=enc)
    assert enc.heard and enc.heard[0][1] == 16000  # the clip, at its own rate
    v = VoiceLibrary([MODELS, tmp_path / "voices"]).load("stub")
    assert isinstance(v, NeuralVoice) and folder.name == "stub"
    np.testing.assert_allclose(v.target.dvector, enc.vector, atol=1e-6)


def _speechlike(rate: int) -> np.ndarray:
    wav, r = sf.read(librivox_clip(), dtype="float32")
    return wav if r == rate else resample_poly(wav, rate, r).astype(np.float32)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("short", r"3\.0 s long"),
        ("silent", r"silent"),
        ("clipped", r"clipped"),
        ("noise", r"does not sound like speech"),
        ("tone", r"steady tone"),
        ("nan", r"NaN"),
    ],
)
def test_bad_reference_clips_are_refused_with_a_reason(tmp_path: Path, case: str, message: str) -> None:
    rate = 24000
    rng = np.random.default_rng(1)
    x = _speechlike(rate)
    n = 8 * rate
    clips = {
        "short": x[: 3 * rate],
        "silent": (1e-5 * rng.standard_normal(n)).astype(np.float32),
        "clipped": np.clip(x * 20, -1, 1),
        "noise": (0.1 * rng.standard_normal(n)).astype(np.float32),
        "tone": (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / rate)).astype(np.float32),
        "nan": np.where(np.arange(len(x)) == 100, np.nan, x).astype(np.float32),
    }
    with pytest.raises(ReferenceClipError, match=message):
        analyse_clip(clips[case], rate)
    if case != "nan":  # files cannot hold NaN in 16-bit; the CLI path is checked with the rest
        path = tmp_path / f"{case}.wav"
        sf.write(path, clips[case], rate, subtype="FLOAT")
        out = tmp_path / "voices"
        with pytest.raises(ReferenceClipError, match=message):
            voice_from_clip(path, "x", out, MODELS)
        assert not out.exists() or not any(out.iterdir()), "a refused clip left a voice behind"


def test_speaker_encoder_bundle_is_verified(tmp_path: Path) -> None:
    from vc_core.neural.speaker import DVectorEncoder

    shutil.copytree(MODELS / SPEAKER_NAME, tmp_path / SPEAKER_NAME)
    f = tmp_path / SPEAKER_NAME / "dvector.int8.onnx"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ModelBundleError, match=r"dvector\.int8\.onnx.*sha256"):
        DVectorEncoder.from_bundle(tmp_path / SPEAKER_NAME)


def test_the_live_path_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from vc_core.voices.library import VoiceLibrary\n"
        "from vc_core.engine.live import LiveEngine\n"
        "from vc_core.config import StreamConfig, VoiceParams\n"
        f"lib = VoiceLibrary([__import__('pathlib').Path({str(MODELS)!r})])\n"
        "v = lib.load([e.manifest.name for e in lib.scan() if e.manifest and e.manifest.kind == 'neural'][0])\n"
        "st = v.make_stage(VoiceParams()); st.push(np.zeros(4096, np.float32))\n"
        "LiveEngine(v, StreamConfig(device_rate_hz=48000, block_frames=256))\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
