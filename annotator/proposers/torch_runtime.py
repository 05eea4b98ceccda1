"""torch's CPU threads: ``annotator.core.compute_budget`` applied to the calling thread.

torch's intra-op thread count is kept per OS thread by OpenMP, so a worker thread started after the
main thread set it would still run with the default; :func:`ensure_torch_threads` is therefore
called at the start of every model call on whichever thread makes it, and only changes the setting
when it differs (a cheap check).
"""

from __future__ import annotations

from annotator.core.compute_budget import wanted_torch_threads


def ensure_torch_threads() -> int:
    """Apply :func:`wanted_torch_threads` to the calling thread; return the count in effect."""
    import torch

    wanted = wanted_torch_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted
