"""The evaluation's real speech: which clips, in which order, decoded to what.

The Debian packages (pocketsphinx-testdata, asterisk-core-sounds-en[-g722]) are installed by
scripts/sysdeps.sh; G.722 decoding needs ``g722`` from PyPI (dev and eval extras).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vc_core.errors import AudioFileError
from vc_core.eval.clips import ALLISON_SOUNDS, allison_clips, find_eval_clips, select_prompts
from vc_core.io.audiofile import read_audio


def test_prompt_rule_keeps_plain_sentences_of_six_words_every_fifth(tmp_path: Path) -> None:
    names = [f"p{i:02d}" for i in range(12)]
    for name in [*names, "digits", "hyphen", "noise", "short"]:
        (tmp_path / f"{name}.g722").write_bytes(b"\0")
    lines = ["; a comment line: with a colon", "not a prompt line"]
    lines += [f"{n}: Please enter your number, followed by the pound key." for n in reversed(names)]
    lines += [
        "digits: Please enter 4 digits followed by pound.",  # digits are read in many ways
        "hyphen: Un-identified callers cannot be called back, sorry.",  # splits into other words
        "noise: [a long beep tone followed by silence, twice]",  # a sound, not words
        "short: Thank you for calling.",  # under 6 words
        "absent: This prompt has no audio file on disk.",
    ]
    chosen = select_prompts(lines, tmp_path)
    assert [name for name, _ in chosen] == ["p00", "p05", "p10"]  # name order, every 5th
    assert chosen[0][1] == "Please enter your number, followed by the pound key."


def test_first_ten_clips_are_the_pocketsphinx_sets_and_need_no_prompts(tmp_path: Path) -> None:
    clips = find_eval_clips(10, cache_dir=tmp_path)
    assert [c.name.split("/")[0] for c in clips] == ["librivox"] * 5 + ["cards"] * 5
    assert not (tmp_path / "eval-clips").exists()  # the Allison set is decoded only when asked for


def test_a_partial_set_decodes_only_the_prompts_it_takes(tmp_path: Path) -> None:
    clips = find_eval_clips(13, cache_dir=tmp_path)
    assert [c.name.split("/")[0] for c in clips] == ["librivox"] * 5 + ["cards"] * 5 + ["allison"] * 3
    decoded = sorted(p.stem for p in (tmp_path / "eval-clips" / "allison").glob("*.wav"))
    assert decoded == sorted(c.name.split("/")[1] for c in clips[10:])


def test_allison_prompts_decode_to_16k_speech_once(tmp_path: Path) -> None:
    clips = allison_clips(tmp_path)
    assert len(clips) == 24
    assert sum(len(c.text.split()) for c in clips) == 249
    first = clips[0]
    assert first.name == "allison/agent-alreadyon"
    audio, rate = read_audio(first.path)
    g722_bytes = (ALLISON_SOUNDS / "agent-alreadyon.g722").stat().st_size
    assert rate == 16000
    assert len(audio) == 2 * g722_bytes  # 64 kbit/s G.722: 4 bits per 16 kHz sample
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    assert level_db.max() > -30  # speech at a normal level ...
    assert level_db.min() < level_db.max() - 40  # ... and silence around it
    power = np.abs(np.fft.rfft(audio)) ** 2
    high = power[np.fft.rfftfreq(len(audio), 1 / rate) >= 4000].sum() / power.sum()
    assert high > 1e-4  # wideband: an 8 kHz telephone recording would have nothing above 4 kHz
    stamp = first.path.stat().st_mtime_ns
    again = find_eval_clips(cache_dir=tmp_path)
    assert [c.name for c in again[10:]] == [c.name for c in clips]
    assert first.path.stat().st_mtime_ns == stamp  # decoded once, then read from the cache
    assert not list((tmp_path / "eval-clips" / "allison").glob("*.partial"))


def test_missing_packages_are_named(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="asterisk-core-sounds-en-g722"):
        allison_clips(tmp_path, sounds_dir=tmp_path / "absent")
    with pytest.raises(AudioFileError, match="install Debian's asterisk-core-sounds-en "):
        allison_clips(tmp_path, sounds_dir=tmp_path, text_file=tmp_path / "absent.txt.gz")
    with pytest.raises(AudioFileError, match="pocketsphinx-testdata"):
        find_eval_clips(data_dir=tmp_path / "absent", cache_dir=tmp_path)
