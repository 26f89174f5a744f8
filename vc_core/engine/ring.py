"""Single-producer / single-consumer sample ring, safe to use from the audio callback.

The buffer is allocated once. Positions only grow: ``_write`` is written by the producer alone
and ``_read`` by the consumer alone, so no lock is needed (each is one attribute store under
the GIL, done after the data copy it publishes).
"""

from __future__ import annotations

import numpy as np

from vc_core.stream import Audio


class SpscRing:
    """Fixed-capacity float32 ring; ``write`` and ``read_into`` never allocate buffers."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self._write = 0  # NB: written by the producer only
        self._read = 0  # NB: written by the consumer only

    def available(self) -> int:
        """Samples ready to read."""
        return self._write - self._read

    def free(self) -> int:
        """Samples that can be written without overwriting unread ones."""
        return self.capacity - (self._write - self._read)

    def write(self, x: Audio) -> int:
        """Producer: copy as much of ``x`` as fits; return how many samples were written."""
        n = min(len(x), self.free())
        if n <= 0:
            return 0
        start = self._write % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = x[:first]
        if n > first:
            self._buf[: n - first] = x[first:n]
        self._write += n
        return n

    def read_into(self, out: Audio, n: int) -> int:
        """Consumer: copy up to ``n`` samples into ``out[:n]``; return how many were read."""
        n = min(n, self.available())
        if n <= 0:
            return 0
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start : start + first]
        if n > first:
            out[first:n] = self._buf[: n - first]
        self._read += n
        return n

    def skip(self, n: int) -> int:
        """Consumer: drop up to ``n`` of the oldest samples; return how many were dropped."""
        n = min(n, self.available())
        if n > 0:
            self._read += n
        return max(n, 0)
