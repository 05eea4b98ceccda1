"""The ``Proposer`` protocol (one answer and zero or more masks per conversation turn) and the
discovery of proposers through the ``annotator.proposers`` entry-point group.

A proposer is asked one turn at a time: it gets the image, the conversation so far (earlier
questions with the answers the caller chose as history) and the new question. Whether the history
holds the draft answers or the proposer's own earlier answers is the caller's choice (see
:func:`history_for`), so the same proposer serves both ways of running a conversation.

This module is torch-free: proposers import their heavy dependencies inside their own methods.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import NotFoundError, ProposerError
from annotator.core.mask import Mask
from annotator.core.progress import Task

ENTRY_POINT_GROUP = "annotator.proposers"

RgbImage = NDArray[np.uint8]  # H x W x 3, RGB


class HistorySource(StrEnum):
    DRAFT = "draft"  # the conversation's own (draft or verified) answers
    MODEL = "model"  # the proposer's answers to the earlier turns


@dataclass(frozen=True)
class Exchange:
    """One earlier round of the conversation as the proposer will see it."""

    question: str
    answer: str


@dataclass(frozen=True)
class TurnRequest:
    image: RgbImage
    history: tuple[Exchange, ...]
    question: str
    image_key: str = ""  # identifies the pixels; "" means "compute it" (see image_key())
    focus: str = ""  # the conversation's target, where the caller knows it
    final: bool = False  # the segmentation turn (its answer carries [SEG])

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ProposerError(
                f"a proposer takes an H x W x 3 uint8 RGB image, got {self.image.shape} "
                f"{self.image.dtype}"
            )
        if not self.image_key:
            object.__setattr__(self, "image_key", image_key(self.image))


@dataclass(frozen=True)
class TurnOutput:
    """What a proposer answers for one turn. Masks have the image's full size."""

    answer: str
    masks: tuple[Mask, ...] = ()
    scores: tuple[float, ...] = ()
    timing: Mapping[str, float] = field(default_factory=dict)  # seconds per stage, "total_s"
    detail: Mapping[str, Any] = field(default_factory=dict)  # e.g. token counts


@dataclass(frozen=True)
class ProposerInfo:
    name: str
    version: str  # changes whenever the same input could give a different output
    description: str = ""
    device: str = "cpu"
    proposes_noise: bool = False  # random weights (a test model): its output means nothing
    concurrency: int = 1  # turns it may be asked for at once (a server batches them)


@runtime_checkable
class Proposer(Protocol):
    def info(self) -> ProposerInfo: ...

    def propose(self, request: TurnRequest, task: Task | None = None) -> TurnOutput: ...

    def close(self) -> None: ...


def image_key(image: RgbImage) -> str:
    """A content hash of the pixels (shape included), shared by client, server and caches."""
    digest = hashlib.sha256(f"{image.shape[0]}x{image.shape[1]}x{image.shape[2]}:".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def history_for(
    questions: Sequence[str],
    answers: Sequence[str],
    upto: int,
) -> tuple[Exchange, ...]:
    """The exchanges before turn ``upto`` from parallel question and answer lists."""
    if upto > len(questions) or upto > len(answers):
        raise ProposerError(f"history for turn {upto} needs {upto} answered turns")
    return tuple(Exchange(questions[i], answers[i]) for i in range(upto))


# -- discovery ------------------------------------------------------------------------------
def proposer_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def proposer_names() -> list[str]:
    return sorted(proposer_entry_points())


def load_proposer(name: str, **options: Any) -> Proposer:
    """Build the proposer registered as ``name`` with the options its factory takes.

    Options left at ``None`` are not passed. An option the factory does not take is refused
    rather than ignored, so a mistyped command line is never silently run with defaults.
    """
    eps = proposer_entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise NotFoundError(f"no proposer named {name!r} (known: {known})")
    try:
        factory = eps[name].load()
    except Exception as exc:  # a broken plug-in must not take the app down
        raise ProposerError(f"proposer {name!r} could not be loaded: {exc}") from exc
    given = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise ProposerError(
                f"proposer {name!r} does not take option(s) {', '.join(unknown)} "
                f"(it takes: {', '.join(p for p in params if p != 'self') or 'nothing'})"
            )
        missing = [
            p.name
            for p in params.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and p.name not in given
        ]
        if missing:
            raise ProposerError(f"proposer {name!r} needs option(s) {', '.join(missing)}")
    proposer = factory(**given)
    if not isinstance(proposer, Proposer):
        raise ProposerError(f"{eps[name].value} did not build a Proposer")
    return proposer
