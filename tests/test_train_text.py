"""The corpus's extra text: seeded mixed word sequences (needs hibari-tts, the [train] extra)."""

from __future__ import annotations

import pytest

from tests.support.extras import import_extra
from vc_core.errors import VcError
from vc_core.train.corpus import load_sentences
from vc_core.train.text import MAX_WORDS, MIN_WORDS, mixed_sentences, sentence_vocabulary


def test_mixed_sentences_are_seeded_and_draw_from_both_lists() -> None:
    common, rare = ["the", "a", "of"], ["zebra", "quixotic", "mauve"]
    a = mixed_sentences(200, 5, common, rare)
    assert a == mixed_sentences(200, 5, common, rare) and a != mixed_sentences(200, 6, common, rare)
    words = [w.strip(",.?").lower() for s in a for w in s.split()]
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in a)
    assert set(words) == set(common) | set(rare)
    share = sum(w in rare for w in words) / len(words)
    assert 0.4 < share < 0.6


def test_vocabulary_of_the_packaged_sentences() -> None:
    vocab = sentence_vocabulary(load_sentences())
    assert len(vocab) > 500 and len(set(vocab)) == len(vocab) and all(w.isalpha() and w.islower() for w in vocab)


def test_empty_word_lists_are_refused() -> None:
    with pytest.raises(VcError, match="word lists"):
        mixed_sentences(3, 0, [], ["x"])


def test_lexicon_words_when_hibari_is_installed() -> None:
    import_extra("hibari", "hibari-tts", "train")
    from vc_core.train.text import lexicon_words

    words = lexicon_words()
    assert len(words) > 50_000 and "zebra" in words
