"""How well the teacher's content generalises from the synthetic corpus to real speech.

A linear CTC phone classifier (64 -> 44 labels, per frame) is trained on the teacher's features
of the training utterances: the top 64 principal components of Whisper-base states of the whole
utterance, in a training checkpoint's own projection (``--checkpoint``). Its best-path phone error
rate is then measured on held-out synthetic utterances and on the real clips of ``vc eval``
(phones of their transcripts from :mod:`vc_core.train.phones`).

Compare with ``benchmarks/content_retention.py --encoder-only``, which measures a content
encoder trained with ``--phone-weight`` the same way: a small gap between the two columns means
the features carry the same phones on both kinds of speech.

``--windowed W,H,L`` probes the streamed Whisper states instead (window, hop and look-ahead in
16 kHz samples; ``python -m vc_core.train.dataset --windowed`` computes them for the corpus, and
the real clips are streamed the same way), projected by the checkpoint's own PCA.

Usage::

    .venv-train/bin/python benchmarks/research/probe_phones.py --checkpoint .cache/train-phones
    .venv-train/bin/python benchmarks/research/probe_phones.py --checkpoint .cache/train-whisper \
        --windowed 16000,640,640 --json benchmarks/results/probe_phones_windowed.json

Needs the train extra; about 5 minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vc_core.dsp.mel import VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.eval.clips import find_eval_clips  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.voice import CONTENT_DIM  # noqa: E402
from vc_core.neural.whisper import StreamedContent, WhisperBase, WindowedWhisper, windowed_states  # noqa: E402
from vc_core.train.dataset import whisper_on_frames, windowed_dir  # noqa: E402
from vc_core.train.features import WhisperEncoder  # noqa: E402
from vc_core.train.models import phone_head  # noqa: E402
from vc_core.train.phones import BLANK, best_path_errors, phone_ids  # noqa: E402
from vc_core.train.train import CHECKPOINT, Utt, load_features  # noqa: E402


def padded(feats: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """(B, 64, longest) zero-padded, and the lengths."""
    n = max(len(f) for f in feats)
    x = np.zeros((len(feats), CONTENT_DIM, n), np.float32)
    for i, f in enumerate(feats):
        x[i, :, : len(f)] = f.T
    return torch.from_numpy(x), [len(f) for f in feats]


def error_rate(head: torch.nn.Module, feats: list[np.ndarray], refs: list[list[int]]) -> tuple[int, int]:
    """(phone edits, reference phones) of best-path decoding."""
    x, lengths = padded(feats)
    with torch.no_grad():
        best = head(x).argmax(dim=1)
    edits = sum(best_path_errors(best[i, :n].tolist(), r) for i, (n, r) in enumerate(zip(lengths, refs, strict=True)))
    return edits, sum(len(r) for r in refs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True, help="training work folder (its teacher projection)")
    ap.add_argument("--features", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "probe_phones.json")
    ap.add_argument("--windowed", metavar="W,H,L", help="probe the streamed Whisper states of these windows")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    saved = torch.load(args.checkpoint / CHECKPOINT, weights_only=False)
    pca = (saved["pca_mean"], saved["pca_components"], float(saved["pca_scale"]))
    window = tuple(int(v) for v in args.windowed.split(",")) if args.windowed else None
    states = windowed_dir(args.features, *window) if window else None
    utts, _ = load_features(args.features, 0, pca, phones=True, states=states)
    train: list[Utt] = [u for u in utts if not u.held_out]
    held = [u for u in utts if u.held_out]
    head = phone_head()
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for step in range(args.steps):
        batch = [train[int(k)] for k in rng.choice(len(train), 32)]
        x, lengths = padded([u.teacher for u in batch])
        loss = F.ctc_loss(
            F.log_softmax(head(x), dim=1).permute(2, 0, 1),
            torch.tensor([p for u in batch for p in u.phones]),
            torch.tensor(lengths),
            torch.tensor([len(u.phones) for u in batch]),
            blank=BLANK,
            zero_infinity=True,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 1000 == 0:
            print(f"step {step + 1}: CTC {float(loss.detach()):.3f}", flush=True)
    synthetic = error_rate(head, [u.teacher for u in held], [u.phones for u in held])
    teacher = WhisperEncoder(args.cache)
    streamed = StreamedContent(WindowedWhisper(WhisperBase(args.cache), *window)) if window else None
    mel_fn = VocoderMel()
    feats, refs = [], []
    for clip in find_eval_clips(args.clips):
        wav, rate = read_audio(clip.path)
        wav22 = resample_clip(wav, rate, VOCODER_RATE_HZ)
        n = len(mel_fn(wav22))
        if streamed is not None:
            states = windowed_states(wav22, streamed, n)
        else:
            states = whisper_on_frames(teacher.encode(resample_clip(wav, rate, 16000)), n)
        feats.append(((states - pca[0]) @ pca[1].T / pca[2]).astype(np.float32))
        refs.append(phone_ids(clip.text))
    real = error_rate(head, feats, refs)
    result = {
        "checkpoint": str(args.checkpoint),
        "features": f"streamed, window/hop/look-ahead {args.windowed}" if window else "whole utterance",
        "steps": args.steps,
        "phone_error_rate": {
            "synthetic_held_out": round(synthetic[0] / synthetic[1], 4),
            "real_clips": round(real[0] / real[1], 4),
        },
        "phones": {"synthetic_held_out": synthetic[1], "real_clips": real[1]},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result["phone_error_rate"]))
    write_json_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
