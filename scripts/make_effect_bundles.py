"""Write the shipped effects voices into models/<name>/ (preset file + verified manifest).

Run after changing the presets or the shifter's hop/look-ahead:
    .venv/bin/python scripts/make_effect_bundles.py
"""

from __future__ import annotations

import json
from pathlib import Path

from vc_core.dsp.shifter import PitchFormantShifter, ShiftParams
from vc_core.voices.bundle import read_manifest, write_manifest

MODELS = Path(__file__).resolve().parents[1] / "models"

PRESETS: dict[str, tuple[str, str, ShiftParams]] = {
    "deep": ("Deep", "Four semitones down, formants lowered: a larger voice", ShiftParams(-4.0, 0.88)),
    "high": ("High", "Five semitones up, formants raised: a smaller voice", ShiftParams(5.0, 1.12)),
    "giant": ("Giant", "Nine semitones down, formants far lower", ShiftParams(-9.0, 0.78)),
    "chipmunk": ("Chipmunk", "Nine semitones up, formants far higher", ShiftParams(9.0, 1.3)),
    "robot": ("Robot", "Monotone at 110 Hz, formants kept", ShiftParams(0.0, 1.0, robot_hz=110.0)),
    "natural": ("Natural", "Unchanged voice through the full chain (for checks and routing)", ShiftParams()),
}


def main() -> None:
    for name, (display, description, p) in PRESETS.items():
        folder = MODELS / name
        folder.mkdir(parents=True, exist_ok=True)
        preset = {"pitch_semitones": p.pitch_semitones, "formant_ratio": p.formant_ratio, "robot_hz": p.robot_hz}
        (folder / "effect.json").write_text(json.dumps(preset, indent=2) + "\n", encoding="utf-8")
        probe = PitchFormantShifter(p)
        write_manifest(
            folder,
            {
                "name": name,
                "display_name": display,
                "kind": "effects",
                "description": description,
                "sample_rate_hz": probe.rate_in_hz,
                "hop_samples": probe.hop_samples,
                "lookahead_samples": probe.lookahead_samples,
                "files": ["effect.json"],
                "licence": "MIT",
                "provenance": "Preset written for this project; signal processing only, no model weights",
                "settings": {"effect": "effect.json"},
            },
        )
        read_manifest(folder)
        print(f"wrote {folder}")


if __name__ == "__main__":
    main()
