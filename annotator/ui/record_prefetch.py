"""Reads the next records of the review queue ahead of the reviewer: the stored conversation,
its proposals and reviews, and the decoded image, on a background thread. Opening a prefetched
record then costs no database round trip and no image decode.

A bundle is used once and only while fresh: it is dropped when the record is saved from this
app, and it expires after ``ttl_s`` so that edits by other reviewers on a shared database are
seen (a stale revision would only make the next save report a conflict, never overwrite).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from annotator.core.model import Conversation, Image, Proposal, Review
from annotator.core.progress import Task
from annotator.storage import Store
from annotator.ui.image_source import read_rgb
from annotator.ui.task_runner import TaskRunner

RgbArray = NDArray[np.uint8]


def pixel_key(image: Image, rgb: RgbArray) -> str:
    """What identifies the pixels for the SAM embedding cache: the image file's sha256 when
    the record has it, else a hash of the decoded pixels."""
    if image.sha256:
        return image.sha256
    digest = hashlib.sha256(f"{rgb.shape}|{rgb.dtype.str}|".encode("ascii"))
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class RecordBundle:
    conversation: Conversation
    proposals: list[Proposal]
    reviews: list[Review]
    rgb: RgbArray | None  # None: the image file is missing or unreadable
    key: str  # pixel key (see ``pixel_key``); "" without pixels
    loaded_at: float
    image_problem: str = ""  # why ``rgb`` is None, in one line naming the file


def load_bundle(store: Store, conv_id: int, locate: Callable[[Image], str]) -> RecordBundle:
    conv = store.get_conversation(conv_id)
    proposals = store.proposals(conv_id)
    reviews = store.reviews(conv_id)
    path = locate(conv.image)
    rgb, problem = read_rgb(path)
    if not path:  # named as the import names it, so an unchanged problem reads the same
        problem = f"image not found: {Path(conv.image.root) / conv.image.path}"
    w, h = conv.image.width, conv.image.height
    if rgb is not None and rgb.shape[:2] != (h, w):
        # Masks would not fit: the canvas shows a placeholder instead.
        problem = f"{path}: image is {rgb.shape[1]}×{rgb.shape[0]}, the record's masks {w}×{h}"
        rgb = None
    key = pixel_key(conv.image, rgb) if rgb is not None else ""
    return RecordBundle(conv, proposals, reviews, rgb, key, time.monotonic(), problem)


class RecordPrefetcher(QObject):
    ready = Signal(int)  # a bundle for this conversation id is waiting

    def __init__(
        self,
        store: Store,
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
