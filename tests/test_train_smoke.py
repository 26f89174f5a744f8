"""Training at toy scale: the losses fall, checkpoints resume, export matches torch (needs torch)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.helpers import librivox_clip
from tests.support.extras import import_extra

torch = import_extra("torch", "torch", "train")

from vc_core.dsp.mel import VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.train.dataset import INDEX, frame_f0  # noqa: E402
from vc_core.train.export import export_base  # noqa: E402
from vc_core.train.models import ContentEncoder, Converter, energy_of, pitch_features  # noqa: E402
from vc_core.train.phones import BLANK, N_LABELS, PHONES, edit_distance, greedy_decode, phone_ids  # noqa: E402
from vc_core.train.train import CHECKPOINT, Batches, TrainConfig, load_features, train  # noqa: E402

TINY = TrainConfig(
    content_steps=60,
    converter_steps=60,
    batch=4,
    segment_frames=48,
    warmup_frames=8,
    lr=3e-3,
    threads=1,
    checkpoint_s=0.0,
    validate_every=20,
)


def _to_22k(wav: np.ndarray, rate: int) -> np.ndarray:
    g = np.gcd(rate, VOCODER_RATE_HZ)
    return resample_poly(wav, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight utterances cut from real speech, two speakers, a stand-in teacher (fixed projection)."""
    out = tmp_path_factory.mktemp("features")
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    x = _to_22k(wav, rate)
    mel_fn = VocoderMel()
    rng = np.random.default_rng(0)
    proj = rng.standard_normal((80, 512)).astype(np.float32) / 9.0
    spk = {s: v / np.linalg.norm(v) for s, v in (("a", rng.standard_normal(256)), ("b", rng.standard_normal(256)))}
    items = []
    piece = len(x) // 8
    for i in range(8):
        seg = x[i * piece : (i + 1) * piece]
        if i % 2:
            seg = resample_poly(seg, 10, 11).astype(np.float32)  # speaker b: a shifted copy
        mel = mel_fn(seg)
        uid = f"u{i}"
        np.savez(
            out / f"{uid}.npz",
            mel=mel.astype(np.float16),
            whisper=np.tanh(mel @ proj).astype(np.float16),
            f0_hz=frame_f0(seg),
            dvector=spk["ab"[i % 2]].astype(np.float32),
        )
        items.append({"id": uid, "speaker": "ab"[i % 2], "held_out": i >= 6})
    (out / INDEX).write_text(json.dumps({"utterances": items}))
    return out


def test_losses_fall_and_a_stopped_run_resumes(features: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    part = train(features, work, TINY, progress=False, stop_after="content")
    assert part["stopped_after"] == "content" and (work / CHECKPOINT).exists()
    summary = train(features, work, TINY, progress=False)  # resumes into the converter phase
    for phase in ("content", "converter"):
        h = [r for r in summary["history"] if r["phase"] == phase]
        assert len(h) == TINY.content_steps // TINY.validate_every
        first, last = h[0]["train_loss"], h[-1]["train_loss"]
        assert last < 0.8 * first, f"{phase}: loss {first:.3f} -> {last:.3f} did not fall"
    assert (work / "summary.json").exists()


def test_streaming_steps_equal_the_whole_utterance() -> None:
    torch.manual_seed(0)
    enc, conv = ContentEncoder().eval(), Converter().eval()
    mel = torch.randn(1, 80, 37) - 5
    f0 = torch.where(torch.rand(1, 37) > 0.3, 100 + 100 * torch.rand(1, 37), torch.zeros(1, 37))
    spk = torch.nn.functional.normalize(torch.randn(1, 256), dim=1)
    with torch.no_grad():
        content = enc(mel)
        bins, cont = pitch_features(f0)
        whole = conv(content, bins, cont, energy_of(mel), spk)[1]
        ec, cc = enc.zero_caches(), conv.zero_caches()
        parts_c, parts_m = [], []
        for s, e in ((0, 1), (1, 4), (4, 5), (5, 20), (20, 37)):
            c, *ec = enc.step(mel[:, :, s:e], *ec)
            m, *cc = conv.step(content[:, :, s:e], bins[:, s:e], cont[:, :, s:e], energy_of(mel[:, :, s:e]), spk, *cc)
            parts_c.append(c)
            parts_m.append(m)
    assert torch.max(torch.abs(torch.cat(parts_c, 2) - content)) < 1e-4
    assert torch.max(torch.abs(torch.cat(parts_m, 2) - whole)) < 1e-4


def test_export_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(1)
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    x = _to_22k(wav[: 2 * rate], rate)
    errs = export_base(ContentEncoder().eval(), Converter().eval(), tmp_path / "_neural", VocoderMel()(x), frame_f0(x))
    assert errs["content_encoder_max_abs"] < 1e-4 and errs["converter_max_abs"] < 1e-3, errs
    m = json.loads((tmp_path / "_neural" / "manifest.json").read_text())
    assert m["kind"] == "neural-base" and set(m["onnx"]) == {"content_encoder.onnx", "converter.onnx"}


def test_a_run_initialised_from_another_keeps_its_teacher_space(features: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(features, first, TINY, progress=False)
    old = torch.load(first / CHECKPOINT, weights_only=False)
    wider = TrainConfig(**{**TINY.__dict__, "encoder_channels": 64, "encoder_lookahead": 2, "content_steps": 20})
    # the second run sees more data (as the shipped one did), so a projection fitted on it would differ
    more = tmp_path / "more"
    shutil.copytree(features, more)
    d = dict(np.load(more / "u0.npz"))
    np.savez(more / "u8.npz", **{**d, "whisper": (d["whisper"].astype(np.float32) ** 2).astype(np.float16)})
    index = json.loads((more / INDEX).read_text())
    index["utterances"].append({"id": "u8", "speaker": "a", "held_out": False})
    (more / INDEX).write_text(json.dumps(index))
    second = tmp_path / "second"
    train(more, second, wider, progress=False, stop_after="content", init_from=first / CHECKPOINT)
    new = torch.load(second / CHECKPOINT, weights_only=False)
    assert np.array_equal(new["pca_components"], old["pca_components"])
    assert new["encoder_config"] == {"channels": 64, "dilations": list(TINY.encoder_dilations), "lookahead": 2}
    # the converter has not trained yet in this run: it is still the first run's
    assert all(torch.equal(new["converter"][k], v) for k, v in old["converter"].items())
    train(more, second, wider, progress=False)  # resumed: the projection stays the first run's
    done = torch.load(second / CHECKPOINT, weights_only=False)
    assert np.array_equal(done["pca_components"], old["pca_components"])
    with pytest.raises(ValueError, match="encoder"):
        train(more, second, TINY, progress=False)  # another encoder shape in the same work folder


def test_exported_base_declares_the_encoders_lookahead(tmp_path: Path) -> None:
    """The encoder is causal; its look-ahead is a delay the bundle declares, so the stage's latency counts it."""
    torch.manual_seed(2)
    enc = ContentEncoder(channels=32, dilations=(1, 2), lookahead=3).eval()
    base = torch.full((1, 80, 20), -5.0)
    kick = base.clone()
    kick[:, :, 10] = 0.0
    with torch.no_grad():
        diff = (enc(kick) - enc(base)).abs().amax(dim=1)[0]
    assert float(diff[:10].max()) == 0.0 and float(diff[10]) > 0.0  # causal
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    x = _to_22k(wav[:rate], rate)
    export_base(enc, Converter().eval(), tmp_path / "_neural", VocoderMel()(x), frame_f0(x))
    settings = json.loads((tmp_path / "_neural" / "manifest.json").read_text())["settings"]
    assert settings["encoder_lookahead_frames"] == 3 and settings["converter_lookahead_frames"] == 1


def test_torch_and_runtime_pitch_and_energy_features_agree() -> None:
    """Training (torch) and the live stage (numpy) compute the converter's inputs the same way."""
    from vc_core.neural import voice as runtime

    rng = np.random.default_rng(3)
    f0 = np.where(rng.random(200) > 0.3, rng.uniform(40, 900, 200), 0.0).astype(np.float32)
    mel = (rng.standard_normal((200, 80)) * 2 - 6).astype(np.float32)
    bins_t, cont_t = pitch_features(torch.from_numpy(f0)[None])
    bins_n, cont_n = runtime.pitch_features(f0)
    assert np.array_equal(bins_t[0].numpy(), bins_n)
    np.testing.assert_allclose(cont_t[0].numpy(), cont_n, atol=1e-6)
    energy_t = energy_of(torch.from_numpy(mel.T.copy())[None])[0, 0].numpy()
    np.testing.assert_allclose(energy_t, runtime.energy_of(mel), atol=1e-6)


def test_simulated_recording_changes_inputs_alike_and_keeps_the_floor() -> None:
    """The recording simulation draws once per example and applies the same EQ, room and noise to a
    clip and its warped copy; quiet frames gain a noise floor; nothing goes below the mel floor."""
    from vc_core.train.models import LOG_FLOOR, simulate_recording

    rng = np.random.default_rng(0)
    speech = torch.from_numpy((rng.standard_normal((8, 80, 120)) * 0.5 - 4).astype(np.float32))
    speech[:, :, 60:] = LOG_FLOOR  # second half silent
    copy = speech.clone()
    a, b = simulate_recording((speech, copy), np.random.default_rng(5))
    assert a.shape == speech.shape and torch.equal(a, b)  # same input, same draw -> same output
    assert float(a.min()) >= LOG_FLOOR
    assert not torch.equal(a, speech)
    again, _ = simulate_recording((speech, copy), np.random.default_rng(5))
    assert torch.equal(a, again)  # seeded
    silent_level = a[:, :, 60:].mean(dim=(1, 2))
    assert int((silent_level > LOG_FLOOR + 2.5).sum()) >= 3  # several got a noise floor (EQ alone: < 1.4)


def _with_text(features: Path, out: Path) -> Path:
    """A copy of ``features`` whose utterances have a text (two alternating sentences)."""
    shutil.copytree(features, out)
    index = json.loads((out / INDEX).read_text())
    for i, item in enumerate(index["utterances"]):
        item["text"] = ("The quick brown fox.", "Jumps over the lazy dog.")[i % 2]
    (out / INDEX).write_text(json.dumps(index))
    return out


def test_the_phone_loss_falls_on_whole_utterances(features: Path, tmp_path: Path) -> None:
    import_extra("hibari", "hibari-tts", "train")
    texted = _with_text(features, tmp_path / "texted")
    cfg = TrainConfig(**{**TINY.__dict__, "phone_weight": 1.0, "content_steps": 80})
    s = train(texted, tmp_path / "work", cfg, progress=False, stop_after="content")
    h = s["history"]
    assert h[-1]["train_ctc"] < 0.7 * h[0]["train_ctc"], [r["train_ctc"] for r in h]
    assert all(0.0 <= r["val_per"] <= 1.0 and r["val_ctc"] > 0 for r in h)
    saved = torch.load(tmp_path / "work" / CHECKPOINT, weights_only=False)
    assert saved["phone_head"]["weight"].shape[0] == N_LABELS
    with pytest.raises(ValueError, match="phone weight"):  # a run keeps its loss when resumed
        train(texted, tmp_path / "work", TINY, progress=False)


def test_the_phone_loss_needs_text(features: Path, tmp_path: Path) -> None:
    import_extra("hibari", "hibari-tts", "train")
    cfg = TrainConfig(**{**TINY.__dict__, "phone_weight": 1.0})
    with pytest.raises(ValueError, match="no text"):
        train(features, tmp_path / "work", cfg, progress=False)


def test_phone_labels_and_best_path_decoding() -> None:
    import_extra("hibari", "hibari-tts", "train")
    go = phone_ids("Go forward ten meters.")
    assert go[:2] == [PHONES.index("ɡ") + 1, PHONES.index("O") + 1] and BLANK not in go
    assert greedy_decode([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]
    assert edit_distance([1, 2, 3], [1, 3]) == 1 and edit_distance([], [4, 4]) == 2


def test_tempo_and_band_masks_change_the_encoder_input_only_as_asked(features: Path, tmp_path: Path) -> None:
    import_extra("hibari", "hibari-tts", "train")
    utts, extra = load_features(_with_text(features, tmp_path / "texted"), 0, phones=True)
    slow = TrainConfig(**{**TINY.__dict__, "tempo_range": (0.8, 0.8), "freq_masks": 2})
    plain = Batches(utts, TINY, extra["speaker_dvectors"], seed=5).draw_utterances()
    b = Batches(utts, slow, extra["speaker_dvectors"], seed=5).draw_utterances()
    # the same utterances (the same draws), each 1 / 0.8 times as long
    ratio = (b["frame_lengths"] - _lead(b)).float() / (plain["frame_lengths"] - _lead(plain)).float()
    assert torch.equal(b["phones"], plain["phones"])
    assert torch.all(ratio > 1.23) and torch.all(ratio < 1.27), ratio
    assert b["mask"].sum(dim=1).tolist() == (b["frame_lengths"] - _lead(b)).tolist()
    # masked bands are flat in the encoder's input; the converter's target is never masked
    flat = (b["warped"].std(dim=2) < 1e-6).any(dim=1)
    assert flat.any() and not (b["mel"].std(dim=2) < 1e-6).any(dim=1).any()


def _lead(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Frames of silence before each utterance (the first unmasked frame)."""
    return batch["mask"].argmax(dim=1)


def test_a_whisper_content_run_trains_the_converter_on_streamed_states_and_exports_them(
    features: Path, tmp_path: Path
) -> None:
    """``content="whisper"``: no encoder phase; the converter reads the streamed states' projection,
    and the exported base holds that projection instead of a content encoder. The training states
    may have a larger hop than the live window's; the bundle streams with the live hop."""
    from vc_core.train.dataset import windowed_dir
    from vc_core.train.export import WhisperContent

    data = tmp_path / "features"
    shutil.copytree(features, data)
    cfg = replace(TINY, content="whisper", whisper_window=(16000, 640, 640), states_hop=1280)
    with pytest.raises(ValueError, match=r"--windowed 16000,1280,640"):
        train(data, tmp_path / "missing", cfg, progress=False)
    with pytest.raises(ValueError, match=r"states hop 960: want a positive multiple of the live hop 640"):
        train(data, tmp_path / "missing", replace(cfg, states_hop=960), progress=False)
    states = windowed_dir(data, 16000, 1280, 640)
    states.mkdir()
    rng = np.random.default_rng(3)
    proj = rng.standard_normal((80, 512)).astype(np.float32) / 9.0
    for item in json.loads((data / INDEX).read_text())["utterances"]:
        mel = np.load(data / f"{item['id']}.npz")["mel"].astype(np.float32)
        np.save(states / f"{item['id']}.npy", np.tanh(mel @ proj).astype(np.float16))  # unlike the whole-utterance ones
    work = tmp_path / "work"
    summary = train(data, work, cfg, progress=False)
    assert {r["phase"] for r in summary["history"]} == {"converter"}
    h = summary["history"]
    assert h[-1]["train_loss"] < 0.8 * h[0]["train_loss"], f"loss {h[0]['train_loss']:.3f} -> {h[-1]['train_loss']:.3f}"
    saved = torch.load(work / CHECKPOINT, weights_only=False)
    whisper = WhisperContent.of_checkpoint(saved)
    assert whisper is not None and (whisper.window, whisper.hop, whisper.lookahead) == (16000, 640, 640)
    # the affine map is the run's own projection of the streamed states
    x = np.load(states / "u0.npy").astype(np.float32)
    pcs = (x - saved["pca_mean"]) @ saved["pca_components"].T / saved["pca_scale"]
    np.testing.assert_allclose(x @ whisper.weight.T + whisper.bias, pcs, atol=1e-3)
    d = np.load(data / "u6.npz")
    enc, conv = ContentEncoder().eval(), Converter().eval()
    conv.load_state_dict(saved["converter"])
    example = np.load(states / "u6.npy").astype(np.float32) @ whisper.weight.T + whisper.bias
    errs = export_base(enc, conv, tmp_path / "_neural", d["mel"].astype(np.float32), d["f0_hz"], whisper, example)
    assert set(errs) == {"converter_max_abs"} and errs["converter_max_abs"] < 1e-3, errs
    m = json.loads((tmp_path / "_neural" / "manifest.json").read_text())
    assert set(m["files"]) == {"content_projection.npz", "converter.onnx"} and set(m["onnx"]) == {"converter.onnx"}
    s = m["settings"]
    assert s["content"] == "whisper-windowed" and s["encoder_lookahead_frames"] == whisper.delay_frames() == 5


def test_the_realtime_base_exports_and_streams_like_one_call(features: Path, tmp_path: Path) -> None:
    """A content-encoder run becomes models/_neural_rt (source-filter vocoder calibrated on held-out
    speech); a voice on it streams the same samples for blocks of 1, 65 and 8193 as in one call."""
    from vc_core.config import VoiceParams
    from vc_core.neural.bundles import REALTIME_BASE_NAME, write_voice_bundle
    from vc_core.train.export import export_realtime, load_checkpoint
    from vc_core.voices.library import VoiceLibrary

    work = tmp_path / "work"
    cfg = replace(TINY, encoder_channels=32, encoder_dilations=(1, 2), encoder_lookahead=1, content_steps=20)
    train(features, work, replace(cfg, converter_steps=20), progress=False)
    enc, conv, saved = load_checkpoint(work)
    models = tmp_path / "models"
    assert export_realtime(enc, conv, saved, [features], models / REALTIME_BASE_NAME) == 0
    m = json.loads((models / REALTIME_BASE_NAME / "manifest.json").read_text())
    assert m["settings"]["vocoder"] == "source-filter" and m["settings"]["encoder_lookahead_frames"] == 1
    write_voice_bundle(models / "toy", "toy", "Toy", "test voice", saved["speaker_dvectors"]["a"], 120.0, "test", 2)
    voice = VoiceLibrary([models]).load("toy", REALTIME_BASE_NAME)
    wav, rate = sf.read(librivox_clip(), dtype="float32")
    x = _to_22k(wav, rate)[:VOCODER_RATE_HZ]
    stage = voice.make_stage(VoiceParams())
    # stage latency: mel look-ahead + hop + 2 frames of model delay + half a hop of synthesis (58 ms)
    assert stage.latency_samples == 384 + 255 + 2 * 256 + 128

    def run(block: int) -> np.ndarray:
        stage.reset()
        out = [stage.push(x[i : i + block]) for i in range(0, len(x), block)]
        return np.concatenate([*out, stage.flush()])

    whole = run(len(x))
    assert whole.shape == x.shape and np.abs(whole).max() > 1e-3
    for block in (1, 65, 8193):
        assert np.max(np.abs(run(block) - whole)) < 1e-4, block
