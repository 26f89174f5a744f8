"""Speaker leakage of the shipped content encoder, beside its teacher and its input.

A linear speaker probe (logistic regression on utterance mean + std, as in
``benchmarks/research/probe_content.py``) on the training features: half of each speaker's utterances
train it, the other half (other sentences) test it. Compared:

* log-mel (the encoder's input, 80 bands),
* the Whisper-base teacher (512 states of the whole utterance),
* our causal content encoder (64, run through its shipped ONNX file, frame by frame as live).

Usage: ``.venv-train/bin/python benchmarks/research/probe_encoder.py --features .cache/features``;
writes ``benchmarks/results/probe_encoder.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.research.probe_content import pooled, probe, split  # noqa: E402
from vc_core.io.reports import write_json_report  # noqa: E402
from vc_core.neural.bundles import BASE_NAME  # noqa: E402
from vc_core.neural.voice import ENCODER_INPUTS, StepModel  # noqa: E402
from vc_core.voices.bundle import read_manifest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--limit", type=int, default=1500, help="utterances to use")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "probe_encoder.json")
    args = ap.parse_args()
    index = json.loads((args.features / "index.json").read_text())
    entries = sorted(index["utterances"], key=lambda u: str(u["id"]))[: args.limit]
    encoder = StepModel(read_manifest(args.models / BASE_NAME), "content_encoder.onnx", ENCODER_INPUTS, 1)
    feats: dict[str, list[np.ndarray]] = {"log-mel": [], "whisper-base (teacher)": [], "content encoder (ours)": []}
    for u in entries:
        d = np.load(args.features / f"{u['id']}.npz")
        mel = d["mel"].astype(np.float32)
        out, _ = encoder.run({"mel": np.ascontiguousarray(mel.T[None])}, encoder.zero_caches())
        feats["log-mel"].append(mel)
        feats["whisper-base (teacher)"].append(d["whisper"].astype(np.float32))
        feats["content encoder (ours)"].append(out[0].T)
    speakers = sorted({str(u["speaker"]) for u in entries})
    y = np.array([speakers.index(str(u["speaker"])) for u in entries])
    train, test = split(entries)
    result = {
        "utterances": len(entries),
        "speakers": len(speakers),
        "chance": round(1.0 / len(speakers), 4),
        "speaker_id_accuracy": {k: round(probe(pooled(v), y, train, test), 4) for k, v in feats.items()},
    }
    print(f"{len(entries)} utterances, {len(speakers)} speakers, chance {result['chance']:.3f}")
    for k, v in result["speaker_id_accuracy"].items():
        print(f"  {k:<24} speaker-ID accuracy {v:.3f}")
    write_json_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
