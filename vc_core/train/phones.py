"""Phone transcripts of corpus text, for the content encoder's CTC loss (training only).

Text -> American English phones with the G2P that ships in ``hibari-tts`` (Apache-2.0; the same
one the corpus feeds Kokoro, :mod:`vc_core.train.sources`), one symbol per phone in its alphabet
(diphthongs and affricates are single letters: ``A`` = /eɪ/, ``ʧ`` = /tʃ/ ...). Stress marks,
spaces and punctuation are dropped: the labels are the 43 phones of :data:`PHONES`, ``0`` is the
CTC blank.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

PHONES = "əɹnstldɪkipmɛæbzɑfIʌOAɔvwðᵊɡuThŋʃʤʧWjɜᵻθʊɐYʒ"
BLANK = 0
N_LABELS = len(PHONES) + 1  # with the blank
_INDEX = {p: i + 1 for i, p in enumerate(PHONES)}


@lru_cache(maxsize=1)
def _g2p() -> Callable[[str], str]:
    from hibari.g2p import G2P

    g2p: Callable[[str], str] = G2P(british=False)
    return g2p


def phone_ids(text: str) -> list[int]:
    """``text`` -> CTC labels (1 .. len(PHONES)); symbols outside :data:`PHONES` are skipped."""
    return [_INDEX[c] for c in _g2p()(text) if c in _INDEX]


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two label sequences (for phone error rates)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def best_path_errors(frame_labels: list[int], ref: list[int]) -> int:
    """Phone edits between the best-path decoding of per-frame argmax labels and ``ref``."""
    return edit_distance(greedy_decode(frame_labels), ref)


def greedy_decode(labels: list[int]) -> list[int]:
    """Best-path CTC decoding of per-frame argmax labels: merge repeats, drop blanks."""
    out: list[int] = []
    last = BLANK
    for k in labels:
        if k != last and k != BLANK:
            out.append(k)
        last = k
    return out
