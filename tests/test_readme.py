"""The README's CLI examples run as written (from the repository root, outputs under out/)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Using the CLI", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's 'Using the CLI' section lost its example block"
    return [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip().startswith("vc ")]


def test_readme_cli_examples_run(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copytree(REPO / "assets", work / "assets")
    (work / "out").mkdir()
    vc = str(Path(sys.executable).parent / "vc")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}  # `vc new-voice` writes the user's voices
    examples = readme_examples()
    assert len(examples) >= 5
    for line in examples:
        argv = shlex.split(line)
        r = subprocess.run([vc, *argv[1:]], cwd=work, capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, f"{line}\n{r.stderr}"
    assert (work / "out" / "deep.wav").is_file() and (work / "out" / "batch").is_dir()
