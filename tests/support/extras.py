"""Skips for tests that need a package of one of pyproject.toml's optional extras.

The dev extra installs these too, so under `make test` they run; the reason names the extra for
an environment set up another way.
"""

from __future__ import annotations

from typing import Any

import pytest


def import_extra(module: str, package: str, extra: str) -> Any:
    """``pytest.importorskip(module)``, with a reason that names ``package`` and the extra that installs it."""
    return pytest.importorskip(
        module,
        reason=f"needs {package} from the {extra} extra: pip install -e '.[{extra}]' (make test installs it with dev)",
    )
