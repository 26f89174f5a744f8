"""More text for the corpus: seeded word sequences that cover far more of English than a sentence list.

The hand-written ``sentences.txt`` has 333 sentences. A content encoder trained on a few hundred
sentences learns them (training error falls, held-out error stalls), so the corpus adds *mixed
word sequences*: 4-11 words each, half drawn from the sentence list's own vocabulary (common
words, natural rhythm), half from the US English lexicon that ships with ``hibari-tts``
(Apache-2.0; 90 k words, so rare phoneme sequences occur too). They are not grammatical; the
content encoder only needs the sounds of English in many contexts.

CLI: ``python -m vc_core.train.text --count 3000 --out .cache/sentences-mixed.txt``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vc_core.errors import VcError
from vc_core.train.corpus import load_sentences

WORD = re.compile(r"^[a-z]{2,12}$")
LEXICON = "assets/lexicon_us_gold.json.gz"  # inside the hibari package
MIN_WORDS, MAX_WORDS = 4, 11
LEXICON_SHARE = 0.5


def sentence_vocabulary(sentences: Sequence[str]) -> list[str]:
    """Distinct lower-case words of ``sentences``, in first-seen order."""
    seen: dict[str, None] = {}
    for s in sentences:
        for w in re.findall(r"[a-z]+", s.lower()):
            if len(w) >= 1:
                seen.setdefault(w, None)
    return list(seen)


def lexicon_words() -> list[str]:
    """Lower-case alphabetic words (2-12 letters) of hibari's US lexicon, sorted."""
    spec = importlib.util.find_spec("hibari")
    if spec is None or spec.origin is None:
        raise VcError("the hibari-tts package is not installed (pip install '.[train]')")
    path = Path(spec.origin).parent / LEXICON
    with gzip.open(path, "rt", encoding="utf-8") as f:
        words = json.load(f)
    return sorted({w for w in words if WORD.match(w)})


def mixed_sentences(count: int, seed: int, common: Sequence[str], rare: Sequence[str]) -> list[str]:
    """``count`` seeded word sequences; each word is from ``rare`` with probability LEXICON_SHARE."""
    if count < 1 or not common or not rare:
        raise VcError("mixed_sentences: need count >= 1 and two non-empty word lists")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(MIN_WORDS, MAX_WORDS + 1))
        words = []
        for _ in range(n):
            pool = rare if rng.random() < LEXICON_SHARE else common
            words.append(pool[int(rng.integers(len(pool)))])
        if n > 6 and rng.random() < 0.5:
            words[int(rng.integers(2, n - 2))] += ","
        end = "?" if rng.random() < 0.2 else "."
        out.append(" ".join(words).capitalize() + end)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.text", description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        lines = mixed_sentences(args.count, args.seed, sentence_vocabulary(load_sentences()), lexicon_words())
    except VcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part")
    header = f"# mixed word sequences (vc_core.train.text), seed {args.seed}\n"
    tmp.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"{len(lines)} lines -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
