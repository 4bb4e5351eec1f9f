"""Bounded memory for decoding untrusted pictures: a per-worker budget of decoded bytes, and an
allocator that gives large buffers back to the system.

A blank 40-megapixel PNG is ~120 KB on the wire and 160 MB once Pillow holds it (4 bytes a pixel
for RGB). Without a budget, 8 such uploads at once cost a worker 1.3 GB; with it, decodes wait
for each other once the budget is taken, and a single picture over the budget is refused (413).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# glibc's mallopt(M_MMAP_THRESHOLD): -3. Left dynamic, the threshold climbs to 32 MB after the
# first large free, so Pillow's 16 MB image blocks then come from the heap and stay resident
# after the picture is gone (measured: 150 MB kept after one 40 MP RGB PNG). Fixed at 1 MB,
# every large block is mmapped and returned on free.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


class DecodeBudget:
    """At most `capacity` bytes of decoded pictures alive at once in this worker.

    Held by worker threads around decode and framing; a thread waits (bounded by the thread
    pool) until enough is free. Tiny pictures prepared on the event loop never take it.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._cond = threading.Condition()
        self.peak_held = 0

    @property
    def held(self) -> int:
        return self.capacity - self._free

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        cost = max(0, cost)
        if cost > self.capacity:
            raise ValueError(f"{cost} bytes is over the whole budget of {self.capacity}")
        with self._cond:
            self._cond.wait_for(lambda: self._free >= cost)
            self._free -= cost
            self.peak_held = max(self.peak_held, self.held)
        try:
            yield
        finally:
            with self._cond:
                self._free += cost
                self._cond.notify_all()
