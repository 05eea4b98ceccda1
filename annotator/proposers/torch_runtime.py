"""How many CPU threads torch may use: cores − 1 (at least 1), leaving a core to the UI.

torch's intra-op thread count is kept per OS thread by OpenMP, so a worker thread started after the
main thread set it would still run with the default; :func:`ensure_torch_threads` is therefore
called at the start of every model call on whichever thread makes it, and only changes the setting
when it differs (a cheap check).
"""

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


def ensure_torch_threads() -> int:
    """Apply :func:`wanted_torch_threads` to the calling thread; return the count in effect."""
    import torch

    wanted = wanted_torch_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted
