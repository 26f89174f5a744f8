"""vc_core: the headless voice-conversion engine (no Qt, no torch on the live path).

Importing it caps numpy's OpenBLAS at one thread (unless ``OPENBLAS_NUM_THREADS`` says
otherwise). Our matrix products are small (a 4 s log-mel is an (80, 201) x (201, 400) product),
and the engine runs them beside onnxruntime and CTranslate2, which have threads of their own:
OpenBLAS's idle threads then spin on the same two cores. Two processes building training
states took 93 ms per Whisper window with OpenBLAS's default of one thread per core and 43 ms
with one (docs/research/voice-models.md §12).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # OpenBLAS copies loaded from now on (scipy's)

import numpy  # loads numpy's OpenBLAS, so that the limit below reaches it
from threadpoolctl import threadpool_limits

__version__ = "0.1.0"


def _blas_threads() -> int | None:
    value = os.environ["OPENBLAS_NUM_THREADS"]
    return int(value) if value.isdigit() and int(value) > 0 else None


threadpool_limits(_blas_threads(), user_api="blas")  # numpy may have been imported before us
del numpy
