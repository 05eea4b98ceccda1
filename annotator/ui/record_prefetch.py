"""Reads the next records of the review queue ahead of the reviewer: the stored conversation,
its proposals and reviews, and the decoded image, on a background thread. Opening a prefetched
record then costs no database round trip and no image decode.

A bundle is used once and only while fresh: it is dropped when the record is saved from this
app, and it expires after ``ttl_s`` so that edits by other reviewers on a shared database are
seen (a stale revision would only make the next save report a conflict, never overwrite).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from annotator.core.model import Image
from annotator.core.progress import Task
from annotator.services.catalog import RecordStore
from annotator.services.record_bundle import RecordBundle, load_bundle
from annotator.ui.task_runner import TaskRunner


class RecordPrefetcher(QObject):
    ready = Signal(int)  # a bundle for this conversation id is waiting

    def __init__(
        self,
        store: RecordStore,
        locate: Callable[[Image], str],
        *,
        ttl_s: float = 20.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._locate = locate
        self.ttl_s = ttl_s
        self._runner = TaskRunner(threads=1, parent=self)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(lambda request, _message: self._requests.pop(request, None))
        self._runner.cancelled.connect(lambda request: self._requests.pop(request, None))
        self._requests: dict[int, int] = {}  # request -> conversation id
        self._bundles: OrderedDict[int, RecordBundle] = OrderedDict()
        self._wanted: list[int] = []
        self._dropped: set[int] = set()  # saved while being read: the result is stale

    def prefetch(self, ids: list[int]) -> None:
        """Read these records ahead, in order; replaces the previous list."""
        self._wanted = list(ids)
        for request, conv_id in list(self._requests.items()):
            if conv_id not in self._wanted:
                self._runner.cancel(request)
        for conv_id in list(self._bundles):
            if conv_id not in self._wanted:
                del self._bundles[conv_id]
        queued = set(self._requests.values())
        for conv_id in self._wanted:
            if conv_id in self._bundles and self._fresh(self._bundles[conv_id]):
                continue
            if conv_id in queued:
                continue
            self._dropped.discard(conv_id)
            self._requests[self._runner.submit(self._reader(conv_id))] = conv_id

    def _reader(self, conv_id: int) -> Callable[[Task], RecordBundle]:
        store, locate = self._store, self._locate

        def work(task: Task) -> RecordBundle:
            task.check()  # dropped from the queue before it started
            return load_bundle(store, conv_id, locate)

        return work

    def take(self, conv_id: int) -> RecordBundle | None:
        """The prefetched record, if fresh (each bundle is handed out once)."""
        bundle = self._bundles.pop(conv_id, None)
        return bundle if bundle is not None and self._fresh(bundle) else None

    def ready_bundles(self) -> list[RecordBundle]:
        """Bundles waiting, in queue order."""
        return [self._bundles[i] for i in self._wanted if i in self._bundles]

    def invalidate(self, conv_id: int | None = None) -> None:
        """Forget what was read of ``conv_id`` (every record when None): it changed."""
        ids = list(self._bundles) if conv_id is None else [conv_id]
        for i in ids:
            self._bundles.pop(i, None)
        running = set(self._requests.values())
        self._dropped.update(i for i in ids if i in running)
        if conv_id is None:
            self._dropped.update(running)

    def shutdown(self) -> None:
        self._runner.cancel_all()
        self._runner.wait(3000)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _fresh(self, bundle: RecordBundle) -> bool:
        return time.monotonic() - bundle.loaded_at <= self.ttl_s

    def _finished(self, request: int, result: object) -> None:
        conv_id = self._requests.pop(request, None)
        if conv_id is None or not isinstance(result, RecordBundle):
            return
        if conv_id in self._dropped:
            self._dropped.discard(conv_id)
            return
        if conv_id in self._wanted:
            self._bundles[conv_id] = result
            self.ready.emit(conv_id)
