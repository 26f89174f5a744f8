"""``vc eval``: the voice-quality report on the command line (wired into :mod:`vc_core.cli`).

    vc eval [--voices a,b] [--clips N] [--json OUT] [--references DIR] [--base quality|realtime]

The source clips are real speech from Debian packages, in a fixed order (``vc_core/eval/clips.py``):
5 LibriVox sentences, 5 "cards" phrases, then 24 Asterisk telephone prompts; ``--clips 10`` is
the first two sets only. ``--references DIR`` holds one held-out recording per target voice,
``DIR/<voice>.wav`` or ``.flac``; voices without one get no similarity-to-target. Needs the
``eval`` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vc_core.errors import ConfigError
from vc_core.io.reports import write_json_report

REFERENCE_SUFFIXES = (".wav", ".flac")


def add_eval_args(p: argparse.ArgumentParser, default_json: Path | None = None) -> None:
    """The options of ``vc eval`` (shared with ``benchmarks/quality.py``)."""
    p.add_argument("--voices", default=None, help="comma-separated voice names (default: every voice in the library)")
    p.add_argument("--clips", type=int, default=None, metavar="N", help="use the first N source clips (default all)")
    p.add_argument("--json", type=Path, default=default_json, metavar="OUT", help="write the full report here")
    p.add_argument(
        "--references", type=Path, default=None, metavar="DIR", help="folder of <voice>.wav|flac target references"
    )
    p.add_argument("--models-dir", type=Path, default=None, help="extra folder of voice bundles")
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(".cache"),
        help="where Whisper-base is unpacked and the G.722 prompts decoded",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads per metric model (default 1)")
    p.add_argument(
        "--base",
        choices=["quality", "realtime"],
        default="quality",
        help="neural base the neural voices run on (default quality: Whisper + HiFi-GAN)",
    )


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` command to ``vc``'s subparsers; returns its parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "eval", help="voice quality: speaker similarity, WER, DNSMOS, F0 correlation on real speech"
    )
    add_eval_args(p)
    return p


def find_references(folder: Path, voices: list[str]) -> dict[str, Path]:
    """``folder/<voice>.wav`` or ``.flac`` for each voice that has one."""
    if not folder.is_dir():
        raise ConfigError(f"--references {folder} is not a folder")
    refs = {}
    for name in voices:
        for suffix in REFERENCE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                refs[name] = path
                break
    return refs


def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation from parsed ``vc eval`` options; prints the table, writes JSON if asked."""
    from vc_core.eval.clips import find_eval_clips
    from vc_core.eval.quality import EvalModels, evaluate, format_table
    from vc_core.voices.library import VoiceLibrary

    if args.clips is not None and args.clips < 1:
        raise ConfigError(f"--clips {args.clips}: must be at least 1")
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: must be at least 1")
    library = VoiceLibrary.default()
    if args.models_dir is not None:
        if not args.models_dir.is_dir():
            raise ConfigError(f"--models-dir {args.models_dir} is not a folder")
        library.roots.insert(0, args.models_dir)
    available = library.names()
    voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else available
    unknown = [v for v in voices if v not in available]
    if unknown:
        raise ConfigError(f"--voices: unknown {', '.join(unknown)}; available: {', '.join(available) or 'none'}")
    references = find_references(args.references, voices) if args.references is not None else {}
    clips = find_eval_clips(args.clips, cache_dir=args.cache)
    models = EvalModels(args.cache, threads=args.threads)
    from vc_core.neural.choice import BASE_FOLDERS

    report = evaluate(voices, references, clips=clips, models=models, library=library, base=BASE_FOLDERS[args.base])
    print(format_table(report))
    if args.json is not None:
        write_json_report(args.json, report)
        print(f"\nwritten {args.json}")
    return 0
