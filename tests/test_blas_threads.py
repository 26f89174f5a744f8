"""import vc_core caps numpy's OpenBLAS at one thread, unless OPENBLAS_NUM_THREADS says otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = (
    "import numpy, vc_core, scipy.linalg, json; from threadpoolctl import threadpool_info; "
    "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas']))"
)


def openblas_threads(env_value: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    threads: list[int] = json.loads(out.stdout)
    return threads


def test_one_thread_by_default_even_when_numpy_came_first() -> None:
    threads = openblas_threads(None)
    assert threads, "numpy's OpenBLAS not found"
    assert threads == [1] * len(threads)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to tell 2 threads from 1")
def test_the_environment_wins() -> None:
    assert 2 in openblas_threads("2")
