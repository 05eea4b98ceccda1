"""Replies of a drafting model, for the OpenAI-compatible test server
(``annotator.bench.vlm_test_server``): dialogues as our prompt asks for them, valid or broken on
purpose, wrapped in a fence with chatter around it as models write them."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.bench.vlm_test_server import Reply, completion, last_question
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS

QA = tuple[str, str]


def reasoning(focus: str, rounds: int) -> list[QA]:
    """``rounds`` coarse-to-fine question/answer pairs ending on ``focus``."""
    steps = [
        ("What does the scene show?", f"A scene with several objects; one of them is the {focus}."),
        ("Which part of it draws the eye?", f"The area around the {focus} stands out."),
        ("What narrows it down further?", f"Its outline and position single out the {focus}."),
        ("Which single object is meant?", f"Only the {focus} fits every clue so far."),
    ]
    return [steps[i % len(steps)] for i in range(rounds)]


def dialogue(
    focus: str, rounds: int = 2, *, final: QA | None = (SEG_REQUESTS[0], SEG_ANSWERS[0])
) -> dict[str, Any]:
    """A dialogue as the model should write it (``final=None``: without the segmentation turn)."""
    turns = [*reasoning(focus, rounds), *([final] if final is not None else [])]
    return {"focus": focus, "turns": [{"question": q, "answer": a} for q, a in turns]}


def reply_text(dialogues: Sequence[Any], description: str = "A test scene.") -> str:
    body = {"description": description, "candidates": ["a", "b"], "dialogues": list(dialogues)}
    return (
        "Sure! Here are the dialogues you asked for.\n\n```json\n"
        + json.dumps(body, indent=2, ensure_ascii=False)
        + "\n```\nLet me know if you need more."
    )


def asked_count(request: dict[str, Any]) -> int:
    """How many dialogues the prompt asks for."""
    m = re.search(r"Choose (\d+) different target", last_question(request))
    assert m is not None, "not a drafting request"
    return int(m.group(1))


def avoided(request: dict[str, Any]) -> list[str]:
    """The foci the prompt names as taken."""
    m = re.search(r"choose others: (\[.*?\])\.", last_question(request))
    return json.loads(m.group(1)) if m else []


@dataclass
class DraftScript:
    """Answers each drafting request with ``replies(n)`` for the n-th request (0-based), as a
    chat completion; ``gate`` (when set) holds request ``hold_at`` until it is released."""

    replies: Callable[[int, dict[str, Any]], Reply]
    hold_at: int | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    answer_signal_at: int | None = None
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            n = self.count
            self.count += 1
        if n == self.hold_at:
            self.arrived.set()
            self.release.wait(60)
        reply = self.replies(n, request)
        if n == self.answer_signal_at:
            self.answered.set()
        return reply


def same_foci(foci: Sequence[str], rounds: int = 2) -> Callable[[int, dict[str, Any]], Reply]:
    """Every request answered with valid dialogues on ``foci`` (whatever was asked)."""

    def replies(_n: int, _request: dict[str, Any]) -> Reply:
        return completion(reply_text([dialogue(f, rounds) for f in foci]))

    return replies
