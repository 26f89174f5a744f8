"""Compare two quality reports (``benchmarks/quality.py --json``) voice by voice and clip by clip.

    python benchmarks/compare_quality.py OLD.json NEW.json

Prints, per voice present in both: WER, word errors, similarity to the target, DNSMOS OVRL and F0
correlation (old -> new); then the conversions paired by clip and voice: how many lost fewer
words, more, or the same. Both reports must cover the same clips (same names, same order of
words); a report from another clip set is refused rather than compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (("wer", "WER"), ("sim_target", "sim->target"), ("dnsmos_ovrl", "OVRL"), ("f0_corr", "F0 r"))


def load(path: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: not a readable quality report ({e})") from e
    if "rows" not in report or "clips" not in report:
        raise SystemExit(f"{path}: no 'rows'/'clips': not written by benchmarks/quality.py")
    return report


def word_errors(row: dict[str, Any]) -> dict[str, int]:
    """Clip name -> word errors of this voice's conversion of it."""
    return {c["clip"]: int(c["word_errors"]) for c in row["clips"]}


def fmt(v: float | None) -> str:
    return "  —  " if v is None else f"{v:.3f}"


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if [c["name"] for c in old["clips"]] != [c["name"] for c in new["clips"]]:
        raise SystemExit("the two reports cover different clips: compare reports of the same --clips")
    old_rows = {r["voice"]: r for r in old["rows"]}
    new_rows = {r["voice"]: r for r in new["rows"]}
    voices = [v for v in new_rows if v in old_rows]
    if not voices:
        raise SystemExit("no voice appears in both reports")
    lines = [f"{'voice':<8} {'errors':>11}  " + "  ".join(f"{title:>15}" for _, title in COLUMNS)]
    better = worse = equal = 0
    totals = [0, 0]
    for v in voices:
        a, b = word_errors(old_rows[v]), word_errors(new_rows[v])
        ea, eb = sum(a.values()), sum(b.values())
        if v != "source":
            totals[0] += ea
            totals[1] += eb
            for clip, n in b.items():
                better += n < a[clip]
                worse += n > a[clip]
                equal += n == a[clip]
        cells = "  ".join(f"{fmt(old_rows[v].get(k))} -> {fmt(new_rows[v].get(k))}" for k, _ in COLUMNS)
        lines.append(f"{v:<8} {ea:>4} -> {eb:<4}  {cells}")
    lines.append(f"word errors of the converted voices: {totals[0]} -> {totals[1]}")
    lines.append(f"paired by clip and voice: {better} better, {worse} worse, {equal} equal")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args(argv)
    print("\n".join(compare(load(args.old), load(args.new))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
