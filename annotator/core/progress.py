"""Progress reporting and cancellation for long work, shared by the CLI (tqdm) and the GUI.

Long functions take a :class:`Task` and call ``task.step()`` / ``task.check()``; the caller
decides how progress is shown and when to cancel. ``Task()`` with no arguments reports nowhere
and is never cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from annotator.core.errors import Cancelled

ProgressCallback = Callable[[int, int | None, str], None]  # done, total (None: unknown), message


@dataclass
class CancelToken:
    _event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Task:
    on_progress: ProgressCallback | None = None
    token: CancelToken = field(default_factory=CancelToken)
    total: int | None = None
    done: int = 0
    message: str = ""

    def start(self, total: int | None, message: str = "") -> None:
        self.total, self.done, self.message = total, 0, message
        self._emit()

    def step(self, n: int = 1, message: str | None = None) -> None:
        """Advance, report, and raise :class:`Cancelled` if cancellation was asked for."""
        self.done += n
        if message is not None:
            self.message = message
        self._emit()
        self.check()

    def check(self) -> None:
        if self.token.cancelled:
            raise Cancelled("cancelled by the user")

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, self.message)
