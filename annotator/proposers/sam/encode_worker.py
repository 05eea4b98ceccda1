"""One background thread that encodes images: requests first, prefetches when idle.

- A request (someone waits for the image) goes before every prefetch, and a prefetch that is
  running when a request arrives is interrupted at its next encoder block and queued again.
- Jobs are shared by image key: asking for an image that is queued or being encoded waits for
  that job instead of starting another.
- A job runs only while someone still wants it: a request whose cancel token fires stops waiting
  at once, and the encode itself stops when no waiter and no prefetch wants it any more.
- ``prefetch`` replaces the list of images to prepare ahead (bounded): images the user moved
  away from are dropped from the queue.
- ``hold_prefetch`` keeps the cores for clicks: a running prefetch is interrupted like for a
  request, and none starts until the hold ends. Clicks and encodes each use every core but one,
  so running both at once would put more compute threads than cores on the machine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from annotator.core.errors import Cancelled
from annotator.core.progress import CancelToken, ProgressCallback, Task
from annotator.proposers.segmenter import ImageLoader, PreparedImage

log = logging.getLogger(__name__)

# (key, load, task) -> prepared image; checks task while it runs.
PrepareFunction = Callable[[str, ImageLoader, Task], PreparedImage]


@dataclass(eq=False)
class _Job:
    key: str
    load: ImageLoader
    future: Future[PreparedImage] = field(default_factory=Future)
    waiters: list[CancelToken] = field(default_factory=list)
    listeners: list[ProgressCallback] = field(default_factory=list)
    prefetch: CancelToken | None = None  # set while a prefetch list includes this image
    preempted: bool = False
    closing: bool = False

    def wanted(self) -> bool:
        if any(not t.cancelled for t in self.waiters):
            return True
        return self.prefetch is not None and not self.prefetch.cancelled

    def has_waiters(self) -> bool:
        return any(not t.cancelled for t in self.waiters)

    def progress(self, done: int, total: int | None, message: str) -> None:
        for listener in list(self.listeners):
            listener(done, total, message)


class _JobToken(CancelToken):
    """Cancelled when the job should stop: nobody wants it, it was preempted, or shutdown."""

    def __init__(self, job: _Job) -> None:
        super().__init__()
        self._job = job

    @property
    def cancelled(self) -> bool:
        job = self._job
        return job.closing or job.preempted or not job.wanted()


class EncodeWorker:
    def __init__(self, prepare: PrepareFunction, *, prefetch_limit: int = 4) -> None:
        self._prepare = prepare
        self.prefetch_limit = max(0, prefetch_limit)
        self._cond = threading.Condition()
        self._requests: deque[_Job] = deque()
        self._prefetches: deque[_Job] = deque()
        self._jobs: dict[str, _Job] = {}  # queued or running, by key
        self._running: _Job | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._hold_until = 0.0  # time.monotonic() before which no prefetch runs

    # -- API -----------------------------------------------------------------------------
    def submit(
        self, key: str, load: ImageLoader, token: CancelToken, on_progress: ProgressCallback | None
    ) -> Future[PreparedImage]:
        """Ask for ``key`` now; the future fails with :class:`Cancelled` if the job stops."""
        with self._cond:
            self._ensure_running()
            job = self._jobs.get(key)
            if job is None:
                job = _Job(key, load)
                self._jobs[key] = job
                self._requests.append(job)
            elif job in self._prefetches:  # promote a queued prefetch
                self._prefetches.remove(job)
                self._requests.append(job)
            job.waiters.append(token)
            if on_progress is not None:
                job.listeners.append(on_progress)
            running = self._running
            if running is not None and running is not job and not running.has_waiters():
                running.preempted = True  # the encoder stops at its next block
            self._cond.notify_all()
            return job.future

    def prefetch(
        self, items: Iterable[tuple[str, ImageLoader]], skip: Callable[[str], bool]
    ) -> list[Future[PreparedImage]]:
        """Prepare these images ahead, in order, up to ``prefetch_limit``; replaces the previous
        list. ``skip(key)`` says an image needs no work (already cached)."""
        token = CancelToken()
        with self._cond:
            self._ensure_running()
            wanted: dict[str, ImageLoader] = {}
            for key, load in items:
                if len(wanted) >= self.prefetch_limit:
                    break
                if key not in wanted and (key in self._jobs or not skip(key)):
                    wanted[key] = load
            for job in self._jobs.values():
                if job.key not in wanted and job.prefetch is not None:
                    job.prefetch.cancel()
                    job.prefetch = None
            for job in list(self._prefetches):
                if not job.wanted():
                    self._prefetches.remove(job)
                    self._finish(job, error=Cancelled("prefetch dropped"))
            futures = []
            for key, load in wanted.items():
                job = self._jobs.get(key)
                if job is None:
                    job = _Job(key, load)
                    self._jobs[key] = job
                    self._prefetches.append(job)
                job.prefetch = token
                futures.append(job.future)
            self._cond.notify_all()
            return futures

    def hold_prefetch(self, seconds: float) -> None:
        """No prefetch runs for the next ``seconds`` (extending any hold); a running one stops
        at its next checkpoint and is queued again. Requests are not held."""
        with self._cond:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)
            running = self._running
            if running is not None and not running.has_waiters():
                running.preempted = True
            self._cond.notify_all()

    def pending(self) -> list[str]:
        """Keys queued or running, running first."""
        with self._cond:
            keys = [self._running.key] if self._running is not None else []
            keys += [j.key for j in (*self._requests, *self._prefetches) if j.key not in keys]
            return keys

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            for job in self._jobs.values():
                job.closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the thread ----------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._closed:
            raise RuntimeError("the encoder worker was closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sam-encoder", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
                if job is None:
                    return
                self._running = job
            task = Task(on_progress=job.progress, token=_JobToken(job))
            try:
                if not job.wanted():
                    raise Cancelled("nobody waits for this image any more")
                result = self._prepare(job.key, job.load, task)
            except Cancelled as exc:
                with self._cond:
                    self._running = None
                    if job.wanted() and not job.closing:
                        job.preempted = False  # run it again later, where it was
                        queue = self._requests if job.has_waiters() else self._prefetches
                        queue.appendleft(job)
                        continue
                    self._finish(job, error=exc)
            except BaseException as exc:  # delivered to whoever waits; the thread lives on
                with self._cond:
                    self._running = None
                    self._finish(job, error=exc)
            else:
                with self._cond:
                    self._running = None
                    self._finish(job, result=result)

    def _next_job(self) -> _Job | None:
        while True:
            if self._closed:
                for job in (*self._requests, *self._prefetches):
                    self._finish(job, error=Cancelled("the engine was closed"))
                self._requests.clear()
                self._prefetches.clear()
                return None
            if self._requests:
                return self._requests.popleft()
            held = self._hold_until - time.monotonic()
            if self._prefetches and held <= 0:
                return self._prefetches.popleft()
            self._cond.wait(held if self._prefetches else None)

    def _finish(
        self,
        job: _Job,
        *,
        result: PreparedImage | None = None,
        error: BaseException | None = None,
    ) -> None:
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]
