"""Several items of a batch job in flight at once, the same way in every job (propose, draft,
judge): threads only when more than one lane is asked for, and on any failure or cancel the
items in flight are told to stop at their next step before the pool is shut down."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from annotator.core.progress import Task


@contextmanager
def work_lanes(lanes: int, task: Task, name: str) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of ``lanes`` threads, or None for one item at a time in the caller's thread."""
    pool = ThreadPoolExecutor(lanes, thread_name_prefix=name) if lanes > 1 else None
    try:
        yield pool
    except BaseException:
        if pool is not None:  # what is in flight stores nothing more
            task.token.cancel()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
