"""Background work with progress and cancel. Workers run plain functions taking a ``Task``;
they never touch widgets or the database session. Every result carries its request id, and the
UI drops results whose request is no longer the current one."""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from annotator.core.errors import AnnotatorError, Cancelled
from annotator.core.progress import Task


class _Relay(QObject):
    """Lives on the UI thread; signals emitted from workers arrive there queued."""

    progress = Signal(int, int, object, str)  # request, done, total, message
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)


class _Job(QRunnable):
    def __init__(self, request: int, fn: Callable[[Task], Any], task: Task, relay: _Relay) -> None:
        super().__init__()
        self.request = request
        self.fn = fn
        self.task = task
        self.relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn(self.task)
        except Cancelled:
            self.relay.cancelled.emit(self.request)
        except AnnotatorError as exc:
            self.relay.failed.emit(self.request, str(exc))
        except Exception as exc:  # a worker crash must reach the user, not kill the app
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.relay.failed.emit(self.request, detail)
        else:
            self.relay.finished.emit(self.request, result)


class TaskRunner(QObject):
    """A pool of worker threads. ``submit`` returns the request id the signals carry."""

    progress = Signal(int, int, object, str)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._relay = _Relay(self)
        self._relay.progress.connect(self.progress)
        self._relay.finished.connect(self._done)
        self._relay.failed.connect(self._fail)
        self._relay.cancelled.connect(self._cancel)
        self._ids = itertools.count(1)
        self._tasks: dict[int, Task] = {}

    def submit(self, fn: Callable[[Task], Any]) -> int:
        request = next(self._ids)

        def report(done: int, total: int | None, message: str) -> None:
            self._relay.progress.emit(request, done, total, message)

        task = Task(on_progress=report)
        self._tasks[request] = task
        self._pool.start(_Job(request, fn, task, self._relay))
        return request

    def cancel(self, request: int) -> None:
        task = self._tasks.get(request)
        if task is not None:
            task.token.cancel()

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.token.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    def _done(self, request: int, result: object) -> None:
        self._tasks.pop(request, None)
        self.finished.emit(request, result)

    def _fail(self, request: int, message: str) -> None:
        self._tasks.pop(request, None)
        self.failed.emit(request, message)

    def _cancel(self, request: int) -> None:
        self._tasks.pop(request, None)
        self.cancelled.emit(request)
