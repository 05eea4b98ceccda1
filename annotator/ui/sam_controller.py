"""SAM on a worker thread: encode the open image (cancellable, cached by the engine), answer
clicks and boxes with candidate masks, and prefetch embeddings for the next records of the
review queue. Results carry a request id; answers for an image or prompt that is no longer the
current one are dropped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from annotator.core.mask import Mask
from annotator.core.progress import Task
from annotator.ui.task_runner import TaskRunner

SegmenterFactory = Callable[[], Any]  # builds the engine (imports torch) on the worker thread
ImageLoader = Callable[[int], NDArray[np.uint8] | None]  # conversation id -> RGB (worker thread)


@dataclass(frozen=True)
class Candidates:
    masks: tuple[NDArray[np.bool_], ...]
    scores: tuple[float, ...]
    prompt: dict[str, Any]


def candidate_arrays(result: Any) -> tuple[list[NDArray[np.bool_]], list[float]]:
    """Normalise an engine's answer (object with ``masks``/``scores`` or a list of candidates)."""
    masks = getattr(result, "masks", None)
    scores = getattr(result, "scores", None)
    if masks is None and isinstance(result, Sequence):
        masks = [getattr(c, "mask", c) for c in result]
        scores = [float(getattr(c, "score", 0.0)) for c in result]
    out: list[NDArray[np.bool_]] = []
    for m in list(masks or []):
        if isinstance(m, Mask):
            out.append(m.to_array())
        else:
            out.append(np.asarray(m).astype(bool))
    sc = [float(s) for s in (list(scores) if scores is not None else [0.0] * len(out))]
    order = sorted(range(len(out)), key=lambda i: -sc[i] if i < len(sc) else 0.0)
    return [out[i] for i in order], [sc[i] for i in order]


class SamController(QObject):
    stateChanged = Signal(str)
    progress = Signal(int, object, str)  # done, total, message
    candidatesReady = Signal(object)
    failed = Signal(str)

    def __init__(self, factory: SegmenterFactory | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._engine: Any = None  # touched only on the worker thread after creation
        self._runner = TaskRunner(threads=1, parent=self)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(self._failed)
        self._runner.cancelled.connect(self._cancelled)
        self._runner.progress.connect(self._progress)
        self._prepare_request = 0
        self._segment_request = 0
        self._prefetch_requests: set[int] = set()
        self._current_key: int | None = None
        self._handle: Any = None
        self.state = "off" if factory is None else "idle"

    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def ready(self) -> bool:
        return self._handle is not None

    def _engine_now(self) -> Any:
        if self._engine is None:
            assert self._factory is not None
            self._engine = self._factory()
        return self._engine

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    # -- image --------------------------------------------------------------------------
    def open_image(self, key: int, rgb: NDArray[np.uint8]) -> None:
        """Start encoding the image of record ``key`` (dropping any older request)."""
        if self._factory is None:
            return
        if self._prepare_request:
            self._runner.cancel(self._prepare_request)
        self._current_key = key
        self._handle = None

        def work(task: Task) -> Any:
            engine = self._engine_now()
            task.start(None, "encoding image")
            return engine.prepare(rgb, task=task)

        self._set_state("encoding" if self._engine is not None else "loading")
        self._prepare_request = self._runner.submit(work)

    def prefetch(self, keys: list[int], load: ImageLoader) -> None:
        """Prepare embeddings for the next records of the queue; results stay in the engine's
        cache (nothing is shown)."""
        if self._factory is None:
            return
        for key in keys:

            def work(task: Task, key: int = key) -> None:
                rgb = load(key)
                if rgb is not None:
                    self._engine_now().prepare(rgb, task=task)

            self._prefetch_requests.add(self._runner.submit(work))

    def cancel_prefetch(self) -> None:
        for request in list(self._prefetch_requests):
            self._runner.cancel(request)

    # -- prompts ------------------------------------------------------------------------
    def segment(
        self,
        points: list[tuple[float, float]],
        labels: list[int],
        box: tuple[float, float, float, float] | None,
    ) -> bool:
        """Ask for candidates; False when the image is not encoded yet."""
        handle = self._handle
        if handle is None:
            return False
        prompt = {"points": [list(p) for p in points], "labels": list(labels), "box": box}

        def work(task: Task) -> Candidates:
            engine = self._engine_now()
            pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
            lab = np.asarray(labels, dtype=np.int32).reshape(-1)
            bx = None if box is None else np.asarray(box, dtype=np.float32)
            result = engine.segment(handle, pts, lab, box=bx, multimask=True)
            masks, scores = candidate_arrays(result)
            return Candidates(tuple(masks), tuple(scores), prompt)

        self._segment_request = self._runner.submit(work)
        return True

    # -- results ------------------------------------------------------------------------
    def _finished(self, request: int, result: object) -> None:
        self._prefetch_requests.discard(request)
        if request == self._prepare_request:
            self._prepare_request = 0
            self._handle = result
            self._set_state("ready")
        elif request == self._segment_request and isinstance(result, Candidates):
            self.candidatesReady.emit(result)

    def _failed(self, request: int, message: str) -> None:
        self._prefetch_requests.discard(request)
        if request == self._prepare_request:
            self._prepare_request = 0
            self._set_state(f"error: {message}")
            self.failed.emit(message)
        elif request == self._segment_request:
            self.failed.emit(message)

    def _cancelled(self, request: int) -> None:
        self._prefetch_requests.discard(request)

    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        if request == self._prepare_request:
            if self.state == "loading" and self._engine is not None:
                self._set_state("encoding")
            self.progress.emit(done, total, message)

    def shutdown(self) -> None:
        self._runner.cancel_all()
        self._runner.wait(3000)
