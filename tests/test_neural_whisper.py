"""Whisper content on bounded windows: streaming parity, declared delay, and the bundles that use it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.helpers import flip_middle_byte, librivox_clip
from vc_core.config import VoiceParams
from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOOKAHEAD, VOCODER_RATE_HZ
from vc_core.errors import ModelBundleError
from vc_core.neural.bundles import BASE_NAME, VOCODER_NAME
from vc_core.neural.voice import CONTENT_WHISPER, NeuralStage, NeuralVoice
from vc_core.neural.whisper import (
    STATE_HOP_16K,
    StreamedContent,
    WhisperBase,
    WindowedWhisper,
    state_of_frame,
    windowed_states,
)
from vc_core.train.dataset import SharedEncodes
from vc_core.voices.bundle import write_manifest
from vc_core.voices.library import VoiceLibrary, shipped_models_dir

MODELS = shipped_models_dir()


@pytest.fixture(scope="module")
def model() -> WhisperBase:
    return WhisperBase()


@pytest.fixture(scope="module")
def speech22() -> np.ndarray:
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    g = np.gcd(rate, VOCODER_RATE_HZ)
    return resample_poly(wav, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)[: int(1.5 * VOCODER_RATE_HZ)]


def _streamed(content: StreamedContent, x: np.ndarray, block: int) -> tuple[np.ndarray, list[int]]:
    """Content frames of ``x`` pushed in blocks, and the input count at which each frame came out."""
    content.reset()
    frames, arrived = [], []
    n_frames = len(x) // VOCODER_HOP
    pushed = 0
    stream = np.concatenate([x, np.zeros(content.tail_samples, np.float32)])
    for i in range(0, len(stream), block):
        piece = stream[i : i + block]
        content.push(piece)
        pushed += len(piece)
        # as the stage does: only frames whose mel is complete may be asked for
        complete = max(0, (pushed - VOCODER_HOP - VOCODER_LOOKAHEAD) // VOCODER_HOP + 1)
        got = content.pop(min(complete, n_frames))
        frames.append(got)
        arrived += [pushed] * len(got)
    return np.concatenate(frames), arrived


@pytest.mark.parametrize("hop,lookahead", [(640, 640), (960, 320)])
def test_content_is_the_same_for_any_block_size_and_arrives_within_the_declared_delay(
    model: WhisperBase, speech22: np.ndarray, hop: int, lookahead: int
) -> None:
    content = StreamedContent(WindowedWhisper(model, 16000, hop, lookahead))
    n_frames = len(speech22) // VOCODER_HOP
    whole = windowed_states(speech22, content, n_frames)
    assert whole.shape == (n_frames, 512) and np.all(np.isfinite(whole))
    assert np.std(whole) > 0.05, "Whisper gave constant states"
    delay = content.delay_frames
    late = []
    for block in (37, 256, 1000):
        got, arrived = _streamed(content, speech22, block)
        assert got.shape == whole.shape, f"block {block}"
        np.testing.assert_array_equal(got, whole, err_msg=f"block {block}")
        # frame t's mel is complete at sample 256 t + 640; its content must follow within `delay` frames
        mel_done = VOCODER_HOP * np.arange(n_frames) + VOCODER_HOP + VOCODER_LOOKAHEAD
        late.append(np.asarray(arrived) - mel_done - (block - 1))  # a block delivers up to block - 1 samples late
    assert max(int(np.max(x)) for x in late) <= delay * VOCODER_HOP
    # and the declared delay is not padded: with fine blocks some frame needs nearly all of it
    assert int(np.max(late[0])) > (delay - 1) * VOCODER_HOP - 37


def test_look_aheads_that_share_their_encodes_give_what_each_gives_alone(
    model: WhisperBase, speech22: np.ndarray
) -> None:
    n_frames = len(speech22) // VOCODER_HOP
    alone = [
        windowed_states(speech22, StreamedContent(WindowedWhisper(model, 16000, 640, la)), n_frames)
        for la in (640, 1280)
    ]
    shared = SharedEncodes(model)
    first = windowed_states(speech22, StreamedContent(WindowedWhisper(shared, 16000, 640, 640)), n_frames)
    runs = shared.encodes
    second = windowed_states(speech22, StreamedContent(WindowedWhisper(shared, 16000, 640, 1280)), n_frames)
    np.testing.assert_array_equal(first, alone[0])
    np.testing.assert_array_equal(second, alone[1])
    assert not np.array_equal(alone[0], alone[1])
    assert runs > 30 and shared.encodes - runs <= 2, (runs, shared.encodes)  # the 80 ms stream's windows were all seen


def test_the_dataset_command_writes_several_look_aheads_in_one_pass(
    model: WhisperBase, speech22: np.ndarray, tmp_path: Path
) -> None:
    from vc_core.dsp.mel import VocoderMel
    from vc_core.neural.whisper import default_cache_dir
    from vc_core.train.dataset import INDEX, main, windowed_dir

    feats = tmp_path / "features"
    feats.mkdir()
    items = []
    for i, part in enumerate((speech22[: len(speech22) // 2], speech22)):
        sf.write(tmp_path / f"u{i}.wav", part, VOCODER_RATE_HZ, subtype="FLOAT")
        np.savez(feats / f"u{i}.npz", mel=VocoderMel()(part).astype(np.float16))
        items.append({"id": f"u{i}", "audio": str(tmp_path / f"u{i}.wav")})
    (feats / INDEX).write_text(json.dumps({"utterances": items}))
    argv = ["--out", str(feats), "--cache", str(default_cache_dir()), "--no-progress"]  # Whisper joined there once
    assert main([*argv, "--windowed", "16000,640,640", "--windowed", "16000,640,1280"]) == 0
    for i, part in enumerate((speech22[: len(speech22) // 2], speech22)):
        n = len(VocoderMel()(part))
        for la in (640, 1280):
            got = np.load(windowed_dir(feats, 16000, 640, la) / f"u{i}.npy")
            want = windowed_states(part, StreamedContent(WindowedWhisper(model, 16000, 640, la)), n)
            np.testing.assert_array_equal(got, want.astype(np.float16), err_msg=f"u{i}, look-ahead {la}")
    with pytest.raises(SystemExit):  # argparse: exit 2 with "window '16000,500,640': ... multiple of 320"
        main([*argv, "--windowed", "16000,500,640"])


def test_frames_take_the_state_that_holds_their_centre() -> None:
    t = np.arange(1000)
    i = state_of_frame(t)
    centre_16k = (VOCODER_HOP * t + VOCODER_HOP // 2) * 16000 / VOCODER_RATE_HZ
    assert np.all(STATE_HOP_16K * i <= centre_16k) and np.all(centre_16k < STATE_HOP_16K * (i + 1))


@pytest.mark.parametrize(
    "window,hop,lookahead,message",
    [(16000, 500, 640, "multiple of 320"), (16000, 0, 640, "0 < hop"), (960, 640, 640, "<= window")],
)
def test_window_sizes_are_checked(window: int, hop: int, lookahead: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowedWhisper.check(window, hop, lookahead)


# ----------------------------------------------------------------------------- bundles


def _neural_voice_name() -> str:
    lib = VoiceLibrary([MODELS])
    return next(e.manifest.name for e in lib.scan() if e.manifest is not None and e.manifest.kind == "neural")


def _whisper_base(tmp: Path, rng_seed: int = 0) -> tuple[Path, str]:
    """A windowed-Whisper base built from the shipped converter and a random projection."""
    root = tmp / "models"
    root.mkdir()
    name = _neural_voice_name()
    shutil.copytree(MODELS / VOCODER_NAME, root / VOCODER_NAME)
    shutil.copytree(MODELS / name, root / name)
    base = root / BASE_NAME
    base.mkdir()
    shutil.copyfile(MODELS / BASE_NAME / "converter.onnx", base / "converter.onnx")
    rng = np.random.default_rng(rng_seed)
    np.savez(base / "content_projection.npz", weight=rng.normal(0, 0.05, (64, 512)), bias=np.zeros(64))
    shipped = json.loads((MODELS / BASE_NAME / "manifest.json").read_text())
    settings = {
        "vocoder": VOCODER_NAME,
        "content": CONTENT_WHISPER,
        "content_projection": "content_projection.npz",
        "whisper_window_16k": 16000,
        "whisper_hop_16k": 640,
        "whisper_lookahead_16k": 640,
        "encoder_lookahead_frames": 5,
        "converter_lookahead_frames": 1,
    }
    write_manifest(
        base,
        {
            **{k: shipped[k] for k in ("name", "display_name", "kind", "sample_rate_hz", "hop_samples", "licence")},
            "description": "test base",
            "lookahead_samples": 384 + 256 * 6,
            "provenance": "tests",
            "files": ["content_projection.npz", "converter.onnx"],
            "settings": settings,
            "onnx": {"converter.onnx": shipped["onnx"]["converter.onnx"]},
        },
    )
    return root, name


def _edit_settings(root: Path, **changes: object) -> None:
    mpath = root / BASE_NAME / "manifest.json"
    m = json.loads(mpath.read_text())
    m["settings"].update(changes)
    mpath.write_text(json.dumps(m))


def test_a_whisper_base_streams_the_same_for_any_block_size(tmp_path: Path, speech22: np.ndarray) -> None:
    root, name = _whisper_base(tmp_path)
    voice = VoiceLibrary([root]).load(name)
    assert isinstance(voice, NeuralVoice)
    assert voice.base.whisper is not None and voice.base.encoder is None

    def run(block: int) -> np.ndarray:
        st: NeuralStage = voice.make_stage(VoiceParams())
        out = [st.push(speech22[i : i + block]) for i in range(0, len(speech22), block)]
        return np.concatenate([*out, st.flush()])

    whole = run(len(speech22))
    assert len(whole) == len(speech22) and np.all(np.isfinite(whole))
    assert np.sqrt(np.mean(whole**2)) > 1e-3, "the voice produced silence"
    for block in (64, 321, 4096):
        # the content is bit-exact (test above); onnxruntime sums the converter and vocoder in another
        # order for other frame counts, and this random projection's content is larger than a trained one's
        assert np.max(np.abs(run(block) - whole)) < 5e-4, f"block {block}"
    stage = voice.make_stage(VoiceParams())
    assert stage.latency_samples > voice.base.encoder_lookahead * VOCODER_HOP


@pytest.mark.parametrize(
    "change,message",
    [
        ({"content": "hubert"}, r"settings\.content.*'hubert'"),
        ({"whisper_hop_16k": 500}, r"settings\.whisper_.*multiple of 320"),
        ({"whisper_window_16k": "1 s"}, r"settings\.whisper_window_16k"),
        ({"encoder_lookahead_frames": 2}, r"encoder_lookahead_frames.*= 2 is less than the 5 frames"),
        ({"content_projection": None}, r"settings\.content_projection"),
    ],
)
def test_bad_whisper_settings_are_named(tmp_path: Path, change: dict[str, object], message: str) -> None:
    root, name = _whisper_base(tmp_path)
    _edit_settings(root, **change)
    with pytest.raises(ModelBundleError, match=message):
        VoiceLibrary([root]).load(name)


def test_a_projection_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    root, name = _whisper_base(tmp_path)
    path = root / BASE_NAME / "content_projection.npz"
    np.savez(path, weight=np.zeros((64, 256)), bias=np.zeros(64))
    m = json.loads((root / BASE_NAME / "manifest.json").read_text())
    write_manifest(root / BASE_NAME, {**m, "files": list(m["files"])})  # re-hashed: only the shape is wrong
    with pytest.raises(ModelBundleError, match=r"content_projection\.npz.*\(64, 512\)"):
        VoiceLibrary([root]).load(name)


def test_a_tampered_projection_is_refused(tmp_path: Path) -> None:
    root, name = _whisper_base(tmp_path)
    flip_middle_byte(root / BASE_NAME / "content_projection.npz")
    with pytest.raises(ModelBundleError, match=r"content_projection\.npz.*sha256 mismatch"):
        VoiceLibrary([root]).load(name)


def test_a_missing_ctranslate2_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from vc_core.neural.whisper import WhisperUnavailable

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 -> ImportError
    with pytest.raises(WhisperUnavailable, match=r"pip install .*ctranslate2"):
        WhisperBase()
    assert issubclass(WhisperUnavailable, ModelBundleError)  # a voice that needs it fails to load, cleanly
