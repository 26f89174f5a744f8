"""Content retention: where the words go, measured by Whisper on real speech, checkpoints side by side.

For each real clip (LibriVox, then the "cards" speaker, from pocketsphinx-testdata) and each
training checkpoint, the converter's mel is vocoded by the shipped HiFi-GAN and transcribed by
Whisper-base (as ``vc eval`` does). Conditions:

* ``copy`` - the clip's own mel through the vocoder (the floor every condition shares);
* ``self`` - content encoder + converter with the clip's own d-vector and F0 (reconstruction:
  what the content path loses with no change of voice);
* ``<voice>`` - conversion into a library voice (its training speaker's mean d-vector, F0 moved
  to its median, as the live stage does with a whole-utterance mean instead of a running one).

Beside the WER, ``teacher_mse`` is each content encoder's mean squared error to its teacher
(Whisper-base states of the whole clip, in the checkpoint's own principal components) on these
real clips, with ``teacher_var``, the error of predicting each component's clip mean, and
``dnsmos_ovrl`` of the source clips and of their copy synthesis (the vocoder's own ceiling).
For a checkpoint trained with the phone loss (``--phone-weight``), ``phone_error_rate`` is its
phone classifier's best-path error on these clips against the phones of their transcripts
(:mod:`vc_core.train.phones`): how much of the words the content itself keeps on real speech.
``--encoder-only`` measures just these two (seconds, no conversion, no transcripts): enough to
compare content encoders trained with ``--stop-after content``.

The models run on whole utterances in torch; the shipped stage runs the same networks frame by
frame and equals them (``tests/test_train_smoke.py``). Needs the train and eval extras.

Usage::

    .venv-train/bin/python benchmarks/content_retention.py \
        --checkpoint v1=.cache/train-v1 --checkpoint v2=.cache/train

writes ``benchmarks/results/content_retention.json`` and prints pooled WER per condition.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vc_core.dsp.mel import VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.dsp.pitch import moved_f0  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.eval.clips import find_eval_clips  # noqa: E402
from vc_core.eval.metrics import Dnsmos, WhisperTranscriber, word_errors  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.bundles import VOCODER_NAME  # noqa: E402
from vc_core.neural.vocoder import OnnxVocoder  # noqa: E402
from vc_core.train.dataset import INDEX, frame_f0, whisper_on_frames  # noqa: E402
from vc_core.train.export import LIBRARY, load_checkpoint  # noqa: E402
from vc_core.train.features import WhisperEncoder, packaged_dvector_encoder  # noqa: E402
from vc_core.train.models import ContentEncoder, Converter, energy_of, phone_head, pitch_features  # noqa: E402
from vc_core.train.phones import best_path_errors, phone_ids  # noqa: E402
from vc_core.voices.bundle import read_manifest  # noqa: E402

SILENCE = math.log(1e-5)


def content_of(enc: ContentEncoder, mel: np.ndarray) -> np.ndarray:
    """Whole-utterance content (N, 64) aligned with the mel frames (N, 80)."""
    la = enc.lookahead_frames
    x = torch.from_numpy(np.concatenate([mel, np.full((la, mel.shape[1]), SILENCE, np.float32)]).T[None].copy())
    with torch.no_grad():
        out: np.ndarray = enc(x)[0, :, la:].numpy().T
    return out


def convert(enc: ContentEncoder, conv: Converter, mel: np.ndarray, f0: np.ndarray, speaker: np.ndarray) -> np.ndarray:
    """Whole-utterance content encoder + converter: mel (N, 80), f0 (N,) Hz -> mel (N, 80)."""
    n, la = len(mel), enc.lookahead_frames
    pad = np.full((la + 1, mel.shape[1]), SILENCE, np.float32)  # silence after the end pays the delays
    x = torch.from_numpy(np.concatenate([mel, pad]).T[None].copy())
    f = torch.from_numpy(np.concatenate([f0, np.zeros(la + 1, np.float32)])[None].astype(np.float32))
    with torch.no_grad():
        content = enc(x)[:, :, la:]  # frames 0 .. n
        bins, cont = pitch_features(f[:, : n + 1])
        _, fine = conv(content, bins, cont, energy_of(x[:, :, : n + 1]), torch.from_numpy(speaker[None]))
    out: np.ndarray = fine[0, :, 1 : n + 1].numpy().T  # converter output t + 1 describes frame t
    return out


def add_phone_edits(edits: list[int], head: torch.nn.Module, content: np.ndarray, text: str) -> None:
    """Add (best-path phone edits, reference phones) of a phone classifier on ``content`` (N, 64)."""
    with torch.no_grad():
        best = head(torch.from_numpy(content.T[None].copy()))[0].argmax(dim=0).tolist()
    ref = phone_ids(text)
    edits[0] += best_path_errors(best, ref)
    edits[1] += len(ref)


def phone_heads(models: dict[str, tuple[ContentEncoder, Converter, dict[str, Any]]]) -> dict[str, torch.nn.Module]:
    """The phone classifiers of the checkpoints trained with the phone loss, by label."""
    heads = {}
    for label, (_, _, saved) in models.items():
        if "phone_head" in saved:
            heads[label] = phone_head()
            heads[label].load_state_dict(saved["phone_head"])
    return heads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--checkpoint", action="append", required=True, metavar="LABEL=WORK", help="a training work folder; repeatable"
    )
    ap.add_argument("--voices", default="heart,kumo,joe", help="library voices to convert into")
    ap.add_argument("--clips", type=int, default=10, help="first N clips (5 LibriVox, then cards)")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache")
    ap.add_argument("--features", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--held-out", type=int, default=100, help="held-out synthetic utterances for the phone error rate")
    ap.add_argument("--encoder-only", action="store_true", help="only teacher MSE and phone error rate")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "content_retention.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    asr = WhisperTranscriber(args.cache)
    vocoder = OnnxVocoder(args.models / VOCODER_NAME, threads=1)
    dvec = packaged_dvector_encoder()
    teacher = WhisperEncoder(args.cache)
    mos = Dnsmos()
    ovrl: dict[str, list[float]] = {"source": [], "copy": []}
    mel_fn = VocoderMel()
    voices = [v for v in LIBRARY if v.name in args.voices.split(",")]
    work = dict(spec.partition("=")[::2] for spec in args.checkpoint)  # label -> work folder
    models = {label: load_checkpoint(Path(path)) for label, path in work.items()}
    counts: dict[str, list[int]] = {}
    mse: dict[str, list[float]] = {label: [] for label in models}
    var: list[float] = []
    heads = phone_heads(models)
    phone_edits: dict[str, list[int]] = {}  # label -> [edits, reference phones]
    rows = []

    def score(cond: str, clip_name: str, text: str, mel: np.ndarray) -> None:
        hyp = asr.transcribe(vocoder.vocode(mel.astype(np.float32)), VOCODER_RATE_HZ)
        e, n = word_errors(text, hyp)
        counts.setdefault(cond, [0, 0])
        counts[cond][0] += e
        counts[cond][1] += n
        rows.append({"clip": clip_name, "condition": cond, "word_errors": e, "ref_words": n, "transcript": hyp})
        print(f"{clip_name:<55} {cond:<14} {e:>2}/{n:<2} {hyp}", flush=True)

    for clip in find_eval_clips(args.clips):
        wav, rate = read_audio(clip.path)
        w22 = resample_clip(wav, rate, VOCODER_RATE_HZ)
        mel = mel_fn(w22)
        f0 = frame_f0(w22)[: len(mel)]
        w16 = resample_clip(wav, rate, 16000)
        own = dvec.embed(w16, 16000).astype(np.float32)
        states = whisper_on_frames(teacher.encode(w16), len(mel))
        if not args.encoder_only:
            score("copy", clip.name, clip.text, mel)
            ovrl["source"].append(mos.score(wav, rate).ovrl)
            ovrl["copy"].append(mos.score(vocoder.vocode(mel), VOCODER_RATE_HZ).ovrl)
        for label, (enc, conv, saved) in models.items():
            target_pcs = (states - saved["pca_mean"]) @ saved["pca_components"].T / saved["pca_scale"]
            content = content_of(enc, mel)
            mse[label].append(float(np.mean((content - target_pcs) ** 2)))
            if len(var) < len(mse[label]):
                var.append(float(np.mean(target_pcs.var(axis=0))))
            if label in heads:
                add_phone_edits(phone_edits.setdefault(label, [0, 0]), heads[label], content, clip.text)
            if args.encoder_only:
                continue
            score(f"{label}:self", clip.name, clip.text, convert(enc, conv, mel, f0, own))
            for v in voices:
                target = saved["speaker_dvectors"][v.speaker].astype(np.float32)
                median = float(read_manifest(args.models / v.name).settings["f0_median_hz"])
                score(f"{label}:{v.name}", clip.name, clip.text, convert(enc, conv, mel, moved_f0(f0, median), target))
    # the same phone error rate on held-out synthetic utterances (never trained on): the domain gap
    synthetic_edits: dict[str, list[int]] = {}
    index = json.loads((args.features / INDEX).read_text(encoding="utf-8"))["utterances"]
    for item in [u for u in index if u["held_out"]][: args.held_out] if heads else []:
        mel = np.load(args.features / f"{item['id']}.npz")["mel"].astype(np.float32)
        for label, head in heads.items():
            content = content_of(models[label][0], mel)
            add_phone_edits(synthetic_edits.setdefault(label, [0, 0]), head, content, item["text"])
    wer = {c: round(e / max(n, 1), 4) for c, (e, n) in counts.items()}
    result = {
        "clips": args.clips,
        "checkpoints": work,
        "encoders": {k: m[0].config for k, m in models.items()},
        "wer": wer,
        "teacher_mse": {k: round(float(np.mean(v)), 4) for k, v in mse.items()},
        "teacher_var": round(float(np.mean(var)), 4),
        "phone_error_rate": {k: round(e / max(n, 1), 4) for k, (e, n) in phone_edits.items()},
        "phone_error_rate_synthetic_held_out": {k: round(e / max(n, 1), 4) for k, (e, n) in synthetic_edits.items()},
        "dnsmos_ovrl": {k: round(float(np.mean(v)), 3) for k, v in ovrl.items() if v},
        "ref_words": next(iter(counts.values()))[1] if counts else 0,
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    print(f"\ncontent encoder MSE to the teacher on these clips (clip-mean baseline {result['teacher_var']:.3f}):")
    for k, v in result["teacher_mse"].items():
        print(f"  {k:<16} {v:.3f}")
    for k, v in result["phone_error_rate"].items():
        synthetic = result["phone_error_rate_synthetic_held_out"][k]
        print(
            f"phone error rate of {k}'s content: {v:.3f} on these clips, {synthetic:.3f} on held-out synthetic speech"
        )
    if not args.encoder_only:
        print("DNSMOS OVRL: " + ", ".join(f"{k} {v:.2f}" for k, v in result["dnsmos_ovrl"].items()))
        print("pooled WER (all word edits / all reference words):")
        for c, w in wer.items():
            print(f"  {c:<16} {w:.3f}")
    write_json_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
