"""Clicks on one object, accumulated: what a reviewer does with the SAM tool.

Every click is sent together with the earlier ones, and the low-resolution logits of the
candidate the user kept last time go in as ``mask_input``, so the model refines its previous
answer rather than starting again (tools that zero the previous logits on each click lose that).
All candidates come back with their scores; the session starts on the best-ranked one (score
discounted by stability) and the user may :meth:`choose` another, which is then the one refined
by the next click.

Only a single click with no box is ambiguous (part or whole?), so only then are SAM's three
alternatives asked for; with more prompts its single-mask output is the better answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annotator.core.errors import InputError
from annotator.proposers.segmenter import Candidate, PreparedImage, Segmentation, Segmenter


@dataclass(frozen=True)
class _Step:
    points: tuple[tuple[float, float], ...]
    labels: tuple[int, ...]
    box: tuple[float, float, float, float] | None
    answer: Segmentation
    chosen: int


class ClickSession:
    """Not thread-safe: one session belongs to one tool on one thread."""

    def __init__(self, segmenter: Segmenter, handle: PreparedImage, *, refine: bool = True) -> None:
        self.segmenter = segmenter
        self.handle = handle
        self.refine = refine  # feed the chosen candidate's logits back on the next click
        self._steps: list[_Step] = []

    # -- state ---------------------------------------------------------------------------
    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        return self._steps[-1].points if self._steps else ()

    @property
    def labels(self) -> tuple[int, ...]:
        return self._steps[-1].labels if self._steps else ()

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        return self._steps[-1].box if self._steps else None

    @property
    def steps(self) -> int:
        """Clicks and boxes that stand (undone ones do not count)."""
        return len(self._steps)

    @property
    def answer(self) -> Segmentation | None:
        return self._steps[-1].answer if self._steps else None

    @property
    def chosen_index(self) -> int | None:
        return self._steps[-1].chosen if self._steps else None

    @property
    def current(self) -> Candidate | None:
        """The candidate the user has now (the best-scored unless they chose another)."""
        if not self._steps:
            return None
        step = self._steps[-1]
        return step.answer.candidates[step.chosen]

    # -- actions -------------------------------------------------------------------------
    def click(self, x: float, y: float, positive: bool = True) -> Segmentation:
        return self._ask(
            (*self.points, (float(x), float(y))), (*self.labels, 1 if positive else 0), self.box
        )

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> Segmentation:
        return self._ask(self.points, self.labels, (float(x0), float(y0), float(x1), float(y1)))

    def choose(self, index: int) -> Candidate:
        if not self._steps:
            raise InputError("nothing to choose from yet: click first")
        step = self._steps[-1]
        if not 0 <= index < len(step.answer.candidates):
            raise InputError(
                f"candidate {index} does not exist (there are {len(step.answer.candidates)})"
            )
        self._steps[-1] = _Step(step.points, step.labels, step.box, step.answer, index)
        return step.answer.candidates[index]

    def ready_next_click(self) -> None:
        """Make now what the next click will feed back (the current candidate's whole
        low-resolution logits: part of them is made on first use), so that the next click does
        not wait for it. For idle moments, such as right after an answer is shown."""
        current = self.current
        if self.refine and current is not None:
            current.low_res_logits  # noqa: B018 - made on first access, then kept

    def undo(self) -> Segmentation | None:
        """Forget the last click or box; returns the answer now current (None when empty)."""
        if self._steps:
            self._steps.pop()
        return self.answer

    def reset(self) -> None:
        self._steps.clear()

    # -- internals -----------------------------------------------------------------------
    def _ask(
        self,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        box: tuple[float, float, float, float] | None,
    ) -> Segmentation:
        previous = self.current
        mask_input = previous.low_res_logits if (self.refine and previous is not None) else None
        ambiguous = len(points) == 1 and box is None
        answer = self.segmenter.segment(
            self.handle,
            list(points) or None,
            list(labels) or None,
            box=box,
            mask_input=mask_input,
            multimask=ambiguous,
        )
        self._steps.append(_Step(tuple(points), tuple(labels), box, answer, answer.best_index))
        return answer
