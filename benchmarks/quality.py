"""Voice quality of every library voice on real speech: the ``vc eval`` report with defaults.

Converts real recordings (``vc_core/eval/clips.py``: LibriVox, cards, then Asterisk prompts) into
each voice and prints a markdown table: Resemblyzer similarity to a target reference and to the
source, Whisper-base WER beside the source's, DNSMOS OVRL/SIG/BAK, log-F0 correlation with the
source, and RTF. Writes
the full report (per clip, per stage) to ``benchmarks/results/quality.json``.

Needs the ``eval`` extra (``pip install -e ".[eval]"``, torch for Resemblyzer) and Debian's
``pocketsphinx-testdata`` (plus ``asterisk-core-sounds-en-g722`` beyond the first 10 clips).
Run: ``.venv-train/bin/python benchmarks/quality.py --voices deep,robot --clips 2``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vc_core.errors import VcError  # noqa: E402
from vc_core.eval.cli import add_eval_args, run_eval  # noqa: E402

OUT_JSON = ROOT / "benchmarks" / "results" / "quality.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_eval_args(ap, default_json=OUT_JSON)
    refs = ROOT / "benchmarks" / "references"  # held-out speech of each voice (written by make train)
    ap.set_defaults(cache=ROOT / ".cache", references=refs if refs.is_dir() else None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_eval(args)
    except VcError as e:
        print(f"quality: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
