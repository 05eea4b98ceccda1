"""A :class:`Task` shown as a tqdm bar on stderr; Ctrl-C cancels the work cleanly."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from annotator.core.progress import Task


@contextmanager
def progress_task(description: str) -> Iterator[Task]:
    """Yield a Task whose progress drives a tqdm bar. The first Ctrl-C asks the work to stop at
    its next step (so transactions roll back cleanly); a second one interrupts at once."""
    from tqdm import tqdm  # tqdm costs tens of ms; every command module imports this one

    bar = tqdm(desc=description, unit="rec", leave=False, dynamic_ncols=True, disable=None)
    task = Task()
    shown = {"message": description}

    def on_progress(done: int, total: int | None, message: str) -> None:
        if total is not None and bar.total != total:
            bar.reset(total=total)
        if message and message != shown["message"]:
            shown["message"] = message
            bar.set_description(message, refresh=False)
        bar.update(done - bar.n)

    task.on_progress = on_progress
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if task.token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        task.token.cancel()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield task
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
