"""The messages the reasoning judge is sent: our wording of ``core.judge_criteria``.

The judge reads text only: the conversation's target, the turns before (with their reference
answers), the question, the reference answer -- written or checked by people, it stands in for
the picture -- and the answer(s) to judge. It answers with one JSON object, read strictly by
``annotator.io.judge_reply``. Any change to these words, or to the criteria they list, is a new
prompt version: stored verdicts name the version they were made with, and a run resumes only
over verdicts of its own version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annotator.core.judge_criteria import (
    PAIRWISE_CRITERIA,
    SCALE_MAX,
    SCALE_MIN,
    SCORE_CRITERIA,
    Criterion,
)
from annotator.proposers.openai_client import Message

SCORE_PROMPT_VERSION = "judge-score-1"
PAIRWISE_PROMPT_VERSION = "judge-pair-1"


@dataclass(frozen=True)
class TurnContext:
    """What the judge is told about the turn an answer belongs to."""

    focus: str  # the conversation's target
    history: tuple[tuple[str, str], ...]  # earlier (question, reference answer) pairs
    question: str
    reference: str


def score_messages(context: TurnContext, answer: str) -> list[Message]:
    rubric = "\n".join(_scored(c) for c in SCORE_CRITERIA)
    keys = ", ".join(f'"{c.key}": <{SCALE_MIN}-{SCALE_MAX}>' for c in SCORE_CRITERIA)
    system = (
        "You are a strict, impartial grader of one answer in a conversation about an image. "
        "The conversation narrows, turn by turn, onto one target in the image. You do not see "
        "the image: the reference answer was written or checked by people and tells what is "
        "true in it. Grade the candidate answer on each criterion below with a whole number "
        f"from {SCALE_MIN} to {SCALE_MAX}. Judge the candidate on its own merits; it need not "
        "repeat the reference word for word.\n\n"
        f"Criteria:\n{rubric}\n\n"
        f'Reply with one JSON object and nothing else: {{"scores": {{{keys}}}, '
        '"rationale": "<one or two sentences>"}'
    )
    user = f"{_context(context)}\nCandidate answer: {answer.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def pairwise_messages(context: TurnContext, first: str, second: str) -> list[Message]:
    rubric = "\n".join(f"- {c.key}: {c.question}" for c in PAIRWISE_CRITERIA)
    keys = ", ".join(f'"{c.key}": "1" | "2" | "tie"' for c in PAIRWISE_CRITERIA)
    system = (
        "You compare two assistants' answers to the same turn of a conversation about an "
        "image. The conversation narrows, turn by turn, onto one target in the image. You do "
        "not see the image: the reference answer was written or checked by people and tells "
        "what is true in it. For each criterion below say which response is better, 1 or 2, "
        "or tie when neither is. The order the responses are shown in was drawn at random: it "
        "says nothing about their quality, so do not let it sway you.\n\n"
        f"Criteria:\n{rubric}\n\n"
        f'Reply with one JSON object and nothing else: {{"preferences": {{{keys}}}, '
        '"rationale": "<one or two sentences>"}'
    )
    user = f"{_context(context)}\nResponse 1: {first.strip()}\nResponse 2: {second.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _scored(c: Criterion) -> str:
    levels = "; ".join(f"{SCALE_MIN + i} = {text}" for i, text in enumerate(c.levels))
    return f"- {c.key}: {c.question} {levels}."


def _context(context: TurnContext) -> str:
    lines = [f"Target of the conversation: {context.focus.strip() or '(not given)'}"]
    if context.history:
        lines.append("Conversation so far:")
        lines.extend(_exchanges(context.history))
    lines.append(f"Question: {context.question.strip()}")
    lines.append(f"Reference answer: {context.reference.strip()}")
    return "\n".join(lines)


def _exchanges(history: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    for n, (question, answer) in enumerate(history, start=1):
        out.append(f"Q{n}: {question.strip()}")
        out.append(f"A{n}: {answer.strip()}")
    return out
