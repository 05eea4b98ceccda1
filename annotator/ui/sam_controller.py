"""SAM on worker threads: encode the open image (cancellable, cached by the engine), answer
clicks and boxes with candidate masks, and hand the next records of the review queue to the
engine's own prefetch (its encoder always serves the open image first and interrupts a
prefetch for it).

Clicks on one object go to a :class:`ClickSession`: every further click or box is sent with the
earlier prompts and the chosen candidate's low-resolution logits, so SAM refines the answer the
user kept instead of starting again. "One object" lasts until :meth:`SamController.new_object`
(accept, Escape, another turn, record or tool). Results carry a request id; answers for an image,
object or prompt that is no longer the current one are dropped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from annotator.core.progress import Task
from annotator.proposers.click_session import ClickSession
from annotator.proposers.segmenter import ClickEngine, Segmentation
from annotator.ui.task_runner import TaskRunner

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


SegmenterFactory = Callable[[], ClickEngine]  # builds the engine on the worker thread


class CandidateMasks(Sequence[NDArray[np.bool_]]):
    """The full-size masks of an answer's candidates, in shown order, each made when first
    read: making one is an upsampling to the whole image (13 ms on a camera photo), and the
    user looks at one candidate at a time."""

    def __init__(self, answer: Segmentation | None = None, order: Sequence[int] = ()) -> None:
        self._answer = answer
        self._order = tuple(order)

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> NDArray[np.bool_]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[NDArray[np.bool_]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        assert self._answer is not None  # an empty sequence has no valid index
        return np.asarray(self._answer.candidates[self._order[index]].mask, dtype=bool)


@dataclass(frozen=True)
class Candidates:
    """The answer now current for the object being segmented, as shown: candidates best first
    (score discounted by stability). ``prompt`` is what produced it (points, labels, box, steps,
    refined, model)."""

    masks: Sequence[NDArray[np.bool_]]
    scores: tuple[float, ...]
    prompt: dict[str, Any]
    outputs: tuple[int, ...] = ()  # the model's output index of each shown candidate
    chosen: int = 0  # shown index of the candidate the next prompt refines
    object_id: int = 0
    answer: Segmentation | None = field(default=None, repr=False, compare=False)
    size: tuple[int, int] = (0, 0)  # (height, width) of the image the masks are of

    @property
    def steps(self) -> int:
        return int(self.prompt.get("steps", 0))

    @property
    def stabilities(self) -> tuple[float, ...]:
        """Each shown candidate's ``Candidate.stability``."""
        if self.answer is None:
            return ()
        return tuple(self.answer.candidates[i].stability for i in self.outputs)


def shown_candidates(
    answer: Segmentation, chosen: int
) -> tuple[CandidateMasks, list[float], list[int], int]:
    """Masks, scores and output indices of ``answer`` best first (``Segmentation.ranked_indices``),
    and where the chosen output (``chosen``) now stands. Only the chosen mask is made here (on
    the caller's thread, a worker); the others when they are first shown."""
    order = answer.ranked_indices()
    masks = CandidateMasks(answer, order)
    scores = [float(answer.candidates[i].score) for i in order]
    shown = order.index(chosen)
    masks[shown]  # made now, off the UI thread
    return masks, scores, order, shown


class _ObjectPrompts:
    """The click session of the object being segmented. Only jobs of the prompt runner touch
    it; that runner has one thread and runs its jobs in order, and the lock says so in code."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: ClickSession | None = None
        self.object_id = -1

    def session_for(self, engine: Any, handle: Any, object_id: int) -> ClickSession:
        s = self.session
        if s is None or self.object_id != object_id or s.handle is not handle:
            s = self.session = ClickSession(engine, handle)
            self.object_id = object_id
        return s

    def current(self, object_id: int) -> ClickSession | None:
        return self.session if self.object_id == object_id else None


def candidates_of(s: ClickSession, object_id: int) -> Candidates:
    """The session's current answer as the editor shows it."""
    answer = s.answer
    prompt: dict[str, Any] = {
        "points": [list(p) for p in s.points],
        "labels": list(s.labels),
        "box": None if s.box is None else list(s.box),
        "steps": s.steps,
        "refined": s.refine and s.steps > 1,  # this answer had the last one's logits
        "model": getattr(s.handle, "model_id", None),
    }
    size = s.handle.original_size
    if answer is None or s.chosen_index is None:
        return Candidates(CandidateMasks(), (), prompt, object_id=object_id, size=size)
    masks, scores, outputs, chosen = shown_candidates(answer, s.chosen_index)
    return Candidates(masks, tuple(scores), prompt, tuple(outputs), chosen, object_id, answer, size)


class SamController(QObject):
    stateChanged = Signal(str)
    progress = Signal(int, object, str)  # done, total, message
    candidatesReady = Signal(object)  # Candidates (no masks: every prompt was undone)
    failed = Signal(str)
    promptFailed = Signal(str)  # a prompt of the current object failed: it has to start over

    def __init__(self, factory: SegmenterFactory | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._engine: ClickEngine | None = None  # created on a worker thread
        # Two threads: a prepare still waiting for a cancelled encode never delays the next one.
        self._runner = TaskRunner(threads=2, parent=self)
        self._runner.finished.connect(self._finished)
        self._runner.failed.connect(self._failed)
        self._runner.progress.connect(self._progress)
        # Prompts get their own single thread: a click session is not thread-safe, and its
        # steps must happen in the order the user made them.
        self._prompts = TaskRunner(threads=1, parent=self)
        self._prompts.finished.connect(self._prompt_finished)
        self._prompts.failed.connect(self._prompt_failed)
        self._object_prompts = _ObjectPrompts()
        self._prepare_request = 0
        self._segment_request = 0  # the prompt whose answer is shown when it comes
        self._prompt_objects: dict[int, int] = {}  # prompt request -> object it belongs to
        self._object_id = 0
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

    @property
    def handle(self) -> Any:
        """The open image as the engine prepared it; None until it is encoded."""
        return self._handle

    @property
    def object_id(self) -> int:
        """Which object prompts now go to (a new one after :meth:`new_object`)."""
        return self._object_id

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
        self.new_object()
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
    def new_object(self) -> None:
        """Prompts from now on start a new object; answers still coming for the old one are
        dropped. (The worker replaces its session when the next prompt arrives.)"""
        self._object_id += 1
        self._segment_request = 0

    def click(self, x: float, y: float, positive: bool = True) -> bool:
        """Add a click to the current object; False when the image is not encoded yet."""
        return self._ask(lambda s: s.click(x, y, positive))

    def set_box(self, box: Box) -> bool:
        """Give the current object a box (replacing its box, keeping its clicks)."""
        return self._ask(lambda s: s.set_box(*box))

    def undo(self) -> bool:
        """Take back the current object's last click or box; the answer before it comes back
        (one with no masks when nothing is left)."""
        return self._ask(None)

    def _ask(self, step: Callable[[ClickSession], object] | None) -> bool:
        handle = self._handle
        if handle is None:
            return False
        engine = self._engine
        state = self._object_prompts
        object_id = self._object_id

        def work(task: Task) -> Candidates:
            with state.lock:
                s = state.session_for(engine, handle, object_id)
                if step is None:
                    s.undo()
                else:
                    step(s)
                return candidates_of(s, object_id)

        request = self._prompts.submit(work)
        self._prompt_objects[request] = object_id
        self._segment_request = request
        self._ready_next_click(object_id)
        return True

    def choose(self, candidates: Candidates, index: int) -> None:
        """The user prefers the shown candidate ``index`` of ``candidates``: the next prompt on
        this object refines it. Ignored once that answer is no longer the session's latest (a
        newer click already went out)."""
        if not 0 <= index < len(candidates.outputs) or candidates.answer is None:
            return
        output = candidates.outputs[index]
        answer = candidates.answer
        object_id = candidates.object_id
        state = self._object_prompts

        def work(task: Task) -> None:
            with state.lock:
                s = state.current(object_id)
                if s is not None and s.answer is answer:
                    s.choose(output)

        self._prompt_objects[self._prompts.submit(work)] = object_id

    def _ready_next_click(self, object_id: int) -> None:
        """Queued behind a prompt: while its answer is painted and looked at, the worker makes
        what the next click of the object feeds back, so that click does not wait for it."""
        state = self._object_prompts

        def work(task: Task) -> None:
            if object_id != self._object_id:
                return  # the user went on to a new object: no click will refine this one
            with state.lock:
                s = state.current(object_id)
                if s is not None:
                    s.ready_next_click()

        self._prompts.submit(work)

    # -- results ------------------------------------------------------------------------
    def _finished(self, request: int, result: object) -> None:
        if request == self._prepare_request:
            self._prepare_request = 0
            self._handle = result
            self._set_state("ready")

    def _failed(self, request: int, message: str) -> None:
        if request == self._prepare_request:
            self._prepare_request = 0
            self._set_state(f"error: {message}")
            self.failed.emit(message)

    def _prompt_finished(self, request: int, result: object) -> None:
        self._prompt_objects.pop(request, None)
        if request == self._segment_request and isinstance(result, Candidates):
            self.candidatesReady.emit(result)

    def _prompt_failed(self, request: int, message: str) -> None:
        object_id = self._prompt_objects.pop(request, None)
        if object_id == self._object_id:
            self.failed.emit(message)
            self.promptFailed.emit(message)

    def _progress(self, request: int, done: int, total: object, message: str) -> None:
        if request == self._prepare_request:
            if self.state == "loading" and self._engine is not None:
                self._set_state("encoding")
            self.progress.emit(done, total, message)

    def shutdown(self) -> None:
        self._runner.cancel_all()
        self._prompts.cancel_all()
        self._runner.wait(3000)
        self._prompts.wait(3000)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
