"""SAM on worker threads: encode the open image (cancellable, cached by the engine), answer
clicks and boxes with candidate masks, and hand the next records of the review queue to the
engine's own prefetch (its encoder always serves the open image first and interrupts a
prefetch for it). Results carry a request id; answers for an image or prompt that is no longer
the current one are dropped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from annotator.core.progress import Task
from annotator.ui.task_runner import TaskRunner


class ClickEngine(Protocol):
    """What the app needs of a SAM engine (``annotator.proposers.sam.SamEngine``): the
    ``Segmenter`` protocol plus background prefetch and shutdown."""

    def prepare(
        self, image: NDArray[np.uint8], key: str | None = None, task: Task | None = None
    ) -> Any: ...

    def segment(
        self,
        handle: Any,
        points: Any,
        labels: Any,
        box: Any = None,
        mask_input: Any = None,
        multimask: bool = True,
    ) -> Any: ...

    def prefetch(self, items: Any) -> Any: ...

    def close(self) -> None: ...


SegmenterFactory = Callable[[], ClickEngine]  # builds the engine on the worker thread


@dataclass(frozen=True)
class Candidates:
    masks: tuple[NDArray[np.bool_], ...]
    scores: tuple[float, ...]
    prompt: dict[str, Any]


def candidate_arrays(result: Any) -> tuple[list[NDArray[np.bool_]], list[float]]:
    """The candidates of a ``Segmentation`` as full-size boolean masks, best score first."""
    masks = [np.asarray(m, dtype=bool) for m in result.masks]
    scores = [float(s) for s in result.scores]
    order = sorted(range(len(masks)), key=lambda i: -scores[i])
    return [masks[i] for i in order], [scores[i] for i in order]


class SamController(QObject):
    stateChanged = Signal(str)
    progress = Signal(int, object, str)  # done, total, message
    candidatesReady = Signal(object)
    failed = Signal(str)

    def __init__(self, factory: SegmenterFactory | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._engine: ClickEngine | None = None  # created on a worker thread
        # Two threads: a prepare still waiting for a cancelled encode never delays the next one.
        self._runner = TaskRunner(threads=2, parent=self)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(self._failed)
        self._runner.progress.connect(self._progress)
        self._prepare_request = 0
        self._segment_request = 0
        self._current_key: int | None = None
        self._handle: Any = None
        self.state = "off" if factory is None else "idle"

    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def engine(self) -> ClickEngine | None:
        """The engine, once a worker has built it."""
        return self._engine

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
    def open_image(self, record: int, rgb: NDArray[np.uint8], key: str) -> None:
        """Start preparing the image of ``record`` whose pixels ``key`` identifies (dropping any
        older request); a cached embedding makes it ready at once."""
        if self._factory is None:
            return
        if self._prepare_request:
            self._runner.cancel(self._prepare_request)
        self._current_key = record
        self._handle = None

        def work(task: Task) -> Any:
            engine = self._engine_now()
            task.start(None, "encoding image")
            return engine.prepare(rgb, key=key, task=task)

        self._set_state("encoding" if self._engine is not None else "loading")
        self._prepare_request = self._runner.submit(work)

    def prefetch(self, items: list[tuple[str, NDArray[np.uint8]]]) -> None:
        """Embeddings to prepare ahead, in review-queue order, as (pixel key, RGB); replaces the
        previous list. Results stay in the engine's cache; nothing is shown."""
        engine = self._engine
        if engine is not None:
            engine.prefetch(items)  # thread-safe and non-blocking: the engine's worker encodes

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
        if request == self._prepare_request:
            self._prepare_request = 0
            self._handle = result
            self._set_state("ready")
        elif request == self._segment_request and isinstance(result, Candidates):
            self.candidatesReady.emit(result)

    def _failed(self, request: int, message: str) -> None:
        if request == self._prepare_request:
            self._prepare_request = 0
            self._set_state(f"error: {message}")
            self.failed.emit(message)
        elif request == self._segment_request:
            self.failed.emit(message)

    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        if request == self._prepare_request:
            if self.state == "loading" and self._engine is not None:
                self._set_state("encoding")
            self.progress.emit(done, total, message)

    def shutdown(self) -> None:
        self._runner.cancel_all()
        self._runner.wait(3000)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
