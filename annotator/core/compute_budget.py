"""How many CPU threads each compute library may use: cores − 1 (at least 1), leaving a core to
the UI (docs/adr/0009). Read by the proposers, which apply it, and by the About box."""

from __future__ import annotations

import os

from annotator.core.errors import ProposerError

THREADS_ENV = "ANNOTATOR_TORCH_THREADS"


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def wanted_torch_threads() -> int:
    """``$ANNOTATOR_TORCH_THREADS`` when set, else cores − 1, at least 1."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ProposerError(f"{THREADS_ENV} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ProposerError(f"{THREADS_ENV} must be at least 1, got {value}")
        return value
    return max(1, available_cores() - 1)
