"""What ``annotator serve`` holds at once, whatever its clients send (docs/adr/0018).

* :class:`ServeLimits`: requests in flight, decode memory, connections, time-outs.
* :class:`MemoryBudget`: bytes reserved by requests being read, decoded or parsed; a request
  reserves its worst case *before* it allocates, from the PNG header's dimensions.
* :class:`InFlight`: a non-blocking gate; past it the server answers 503 at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeLimits:
    """``None`` in a field means unbounded (only :meth:`unbounded`, the benchmark's baseline)."""

    max_in_flight: int | None = 16  # uploads and propose requests at once; 503 past it
    # Bodies and decodes of requests at once; one upload at the caps needs 748 MB (decode_cost).
    decode_budget_bytes: int | None = 768 * MIB
    # An admitted request short of decode memory is refused at once (503): a waiting one would
    # hold a slot of max_in_flight that everyday requests need (measured: annotator bench serve).
    budget_wait_s: float = 0.0
    idle_timeout_s: float | None = 30.0  # per socket read or write; idle clients are dropped
    max_connections: int | None = 256  # one thread each; 503 and close past it
    listen_backlog: int = 128  # connections the kernel queues before the server accepts them
    min_upload_rate: float = 256 * 1024  # bytes/s; a slower body is cut (408), see body_deadline
    retry_after_s: int = 1  # the Retry-After of a 503
    discard_limit: int = 64 * 1024  # an unread body up to this is read and dropped (keep-alive)
    # A larger one is drained after the answer (for as long as it would have had to arrive,
    # body_deadline), then the connection is closed.

    @classmethod
    def unbounded(cls) -> ServeLimits:
        """The server before these limits: the benchmark's naive baseline, never a default."""
        return cls(
            max_in_flight=None,
            decode_budget_bytes=None,
            idle_timeout_s=None,
            max_connections=None,
            listen_backlog=5,  # the standard library's default
            min_upload_rate=0.0,
        )

    def body_deadline(self, length: int) -> float | None:
        """Seconds allowed for reading a body of ``length`` bytes (None: no deadline).

        A per-read time-out alone lets a client hold a slot and its reserved memory for ever by
        sending a byte at a time; this caps the whole body."""
        if self.idle_timeout_s is None or self.min_upload_rate <= 0:
            return None
        return self.idle_timeout_s + length / self.min_upload_rate


def decode_cost(body_bytes: int, width: int, height: int) -> int:
    """Peak bytes of receiving and decoding a PNG of ``width`` x ``height`` pixels.

    While OpenCV decodes, the body and two pixel buffers live together (its own, copied into
    the returned array; see ``remote_protocol.decode_png``). The body is dropped before the
    content hash, which copies the pixels once more: two buffers again. So the peak is the
    body and twice the pixels; at the 80-megapixel cap with the largest body, 748 MB."""
    return body_bytes + 2 * width * height * 3


class BudgetExceeded(Exception):
    """One request needs more than the whole budget: waiting would never help."""


class MemoryBudget:
    """A counting budget of bytes; :meth:`hold` reserves and releases around a block."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0  # the most ever reserved at once (tests and the benchmark read it)
        self._cond = threading.Condition()

    def try_reserve(self, nbytes: int, wait_s: float) -> bool:
        """Reserve ``nbytes``, waiting up to ``wait_s`` for others to release; False if not."""
        if self.capacity is None:
            with self._cond:
                self.in_use += nbytes
                self.peak = max(self.peak, self.in_use)
            return True
        if nbytes > self.capacity:
            raise BudgetExceeded(nbytes)
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self.in_use + nbytes > self.capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
            return True

    def release(self, nbytes: int) -> None:
        with self._cond:
            self.in_use -= nbytes
            self._cond.notify_all()

    @contextmanager
    def held(self, nbytes: int) -> Iterator[None]:
        """Release ``nbytes`` (already reserved) when the block ends, however it ends."""
        try:
            yield
        finally:
            self.release(nbytes)


class InFlight:
    """At most ``limit`` holders; :meth:`try_enter` never waits (the caller answers 503)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self.limit is not None and self.current >= self.limit:
                return False
            self.current += 1
            self.peak = max(self.peak, self.current)
            return True

    def leave(self) -> None:
        with self._lock:
            self.current -= 1
