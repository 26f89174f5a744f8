"""How many words the content's windowing costs: a converter on whole-utterance Whisper states vs streamed ones.

Two steps (needs the train extra):

``layout`` lays out the corpus's whole-utterance Whisper states (``whisper`` in each features
file) as if they were streamed states, so ``train --content whisper`` trains a converter on them::

    .venv-train/bin/python benchmarks/content_window.py layout --features .cache/features --out .cache/features-whole
    .venv-train/bin/python -m vc_core.train.train --features .cache/features-whole --work .cache/train-whole \
        --threads 2 --content whisper --whisper-window 16000,640,640

``wer`` converts the real clips of ``vc eval`` offline, whole clip at once (torch converter,
F0 moved to each voice's median by the utterance mean), with a checkpoint's content: the
whole-utterance states (``--states whole``, an upper bound no stream can reach) or the streamed
ones the live path computes (``--states windowed``, or other windows with ``--window W,H,L``),
and counts Whisper's word errors::

    .venv-train/bin/python benchmarks/content_window.py wer --checkpoint .cache/train-whole --states whole
    .venv-train/bin/python benchmarks/content_window.py wer --checkpoint .cache/train-whisper --states windowed

About 3 minutes per run on one core (10 clips, 2 voices).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vc_core.dsp.mel import VOCODER_RATE_HZ, VocoderMel  # noqa: E402
from vc_core.dsp.pitch import moved_f0  # noqa: E402
from vc_core.dsp.resample import resample_clip  # noqa: E402
from vc_core.eval.clips import find_eval_clips  # noqa: E402
from vc_core.eval.metrics import WhisperTranscriber, word_errors  # noqa: E402
from vc_core.io.audiofile import read_audio  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.bundles import VOCODER_NAME  # noqa: E402
from vc_core.neural.vocoder import OnnxVocoder  # noqa: E402
from vc_core.neural.whisper import StreamedContent, WhisperBase, WindowedWhisper, windowed_states  # noqa: E402
from vc_core.train.dataset import INDEX, cast_window, frame_f0, whisper_on_frames, windowed_dir  # noqa: E402
from vc_core.train.export import LIBRARY, load_checkpoint  # noqa: E402
from vc_core.train.features import WhisperEncoder  # noqa: E402
from vc_core.train.models import energy_of, pitch_features  # noqa: E402
from vc_core.train.train import TrainConfig  # noqa: E402
from vc_core.voices.bundle import read_manifest  # noqa: E402

WINDOW = TrainConfig.whisper_window  # the shipped streamed states' window, hop and look-ahead (16 kHz samples)


def layout(features: Path, out: Path) -> int:
    """``out``: links to ``features``' files, and their whole-utterance states as streamed ones."""
    states = windowed_dir(out, *WINDOW)
    states.mkdir(parents=True, exist_ok=True)
    index = json.loads((features / INDEX).read_text(encoding="utf-8"))
    if not (out / INDEX).exists():
        os.symlink((features / INDEX).resolve(), out / INDEX)
    for u in index["utterances"]:
        link = out / f"{u['id']}.npz"
        if not link.exists():
            os.symlink((features / f"{u['id']}.npz").resolve(), link)
        path = states / f"{u['id']}.npy"
        if not path.exists():
            np.save(path, np.load(features / f"{u['id']}.npz")["whisper"])
    return len(index["utterances"])


def wer(
    checkpoint: Path,
    states_kind: str,
    voices: list[str],
    clips: int,
    cache: Path,
    window: tuple[int, int, int] = WINDOW,
) -> dict[str, object]:
    _, conv, saved = load_checkpoint(checkpoint)
    mean, comp, scale = saved["pca_mean"], saved["pca_components"], float(saved["pca_scale"])
    asr = WhisperTranscriber(cache)
    vocoder = OnnxVocoder(ROOT / "models" / VOCODER_NAME, threads=1)
    # the content: Whisper on the whole clip, or as the live path streams it (one model either way)
    whole = WhisperEncoder(cache) if states_kind == "whole" else None
    streamed = None if whole is not None else StreamedContent(WindowedWhisper(WhisperBase(cache), *window))
    mel_fn = VocoderMel()
    speakers = {v.name: v.speaker for v in LIBRARY}
    targets = {  # each voice's F0 median and d-vector
        v: (
            float(read_manifest(ROOT / "models" / v).settings["f0_median_hz"]),
            saved["speaker_dvectors"][speakers[v]].astype(np.float32),
        )
        for v in voices
    }
    counts = {v: [0, 0] for v in voices}
    rows = []
    for clip in find_eval_clips(clips):
        wav, rate = read_audio(clip.path)
        w22 = resample_clip(wav, rate, VOCODER_RATE_HZ)
        mel = mel_fn(w22)
        n = len(mel)
        f0 = frame_f0(w22)[:n]
        if whole is not None:
            states = whisper_on_frames(whole.encode(resample_clip(wav, rate, 16000)), n)
        else:
            assert streamed is not None
            states = windowed_states(w22, streamed, n)
        content = ((states - mean) @ comp.T / scale).astype(np.float32)
        for v, (median, dvec) in targets.items():
            # one frame more at the end: converter output t + 1 describes frame t
            c = torch.from_numpy(np.concatenate([content, content[-1:]]).T[None].copy())
            f = torch.from_numpy(np.concatenate([moved_f0(f0, median), [0.0]]).astype(np.float32)[None])
            x = torch.from_numpy(np.concatenate([mel, mel[-1:]]).T[None].copy())
            with torch.no_grad():
                bins, cont = pitch_features(f)
                _, fine = conv(c, bins, cont, energy_of(x), torch.from_numpy(dvec[None]))
            out = fine[0, :, 1 : n + 1].numpy().T.astype(np.float32)
            hyp = asr.transcribe(vocoder.vocode(out), VOCODER_RATE_HZ)
            e, m = word_errors(clip.text, hyp)
            counts[v][0] += e
            counts[v][1] += m
            rows.append({"clip": clip.name, "voice": v, "word_errors": e, "ref_words": m, "transcript": hyp})
            print(f"{clip.name:<55} {v:<8} {e:>2}/{m:<2} {hyp}", flush=True)
    return {
        "checkpoint": str(checkpoint),
        "states": states_kind if states_kind == "whole" else f"windowed {window}",
        "word_errors": {v: {"errors": e, "words": m, "wer": round(e / max(m, 1), 4)} for v, (e, m) in counts.items()},
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("layout", help="whole-utterance states laid out as streamed ones (for train.py)")
    p.add_argument("--features", type=Path, default=ROOT / ".cache" / "features")
    p.add_argument("--out", type=Path, default=ROOT / ".cache" / "features-whole")
    p = sub.add_parser("wer", help="word errors of offline conversions with whole or streamed states")
    p.add_argument("--checkpoint", type=Path, required=True, help="training work folder")
    p.add_argument("--states", choices=["whole", "windowed"], required=True)
    p.add_argument(
        "--window",
        type=cast_window,
        default=WINDOW,
        metavar="W,H,L",
        help="with --states windowed: window, hop and look-ahead in 16 kHz samples (default: the shipped)",
    )
    p.add_argument("--voices", default="heart,kumo")
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--cache", type=Path, default=ROOT / ".cache")
    p.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cmd == "layout":
        print(f"{layout(args.features, args.out)} utterances in {args.out}")
        return 0
    result = wer(args.checkpoint, args.states, args.voices.split(","), args.clips, args.cache, args.window)
    print(json.dumps(result["word_errors"]))
    if args.json is not None:
        write_json_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
