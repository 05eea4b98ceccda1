"""The PRIST rules a conversation must keep to be approved or exported (measured on the released
split, see tests/data/prist/README.md): a non-empty focus; every turn a non-empty question and
answer; ``[SEG]`` exactly once in the final answer and nowhere else. A question/answer pair per
turn makes the human/gpt alternation hold by construction (the dialogue reader checks it in
files). A draft may break them while it is being written; approving and exporting may not.

The answer a rule reads on a record is its standing answer (the verified one when there is
one, else the draft); an export checks the texts it writes (``core.export_gate``), and approval
also needs every answer verified (``core.review_rules``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annotator.core.model import SEG_TOKEN, Conversation

RULES = {
    "focus": "the focus is not empty",
    "turns": "there is at least one turn",
    "question": "every question has text",
    "answer": "every answer has text",
    "seg_final": f"the final answer holds {SEG_TOKEN} exactly once",
    "seg_early": f"no earlier answer holds {SEG_TOKEN}",
}


@dataclass(frozen=True)
class RuleBreach:
    rule: str  # a key of RULES
    turn: int | None  # 0-based; None for the conversation as a whole
    message: str  # one line, turns numbered from 1 as people count them

    def __str__(self) -> str:
        return f"rule {self.rule}: {self.message}"


def check_texts(focus: str, turns: Sequence[tuple[str, str]]) -> list[RuleBreach]:
    """Breaches of a conversation given as its focus and (question, answer) per turn."""
    out: list[RuleBreach] = []
    if not focus.strip():
        out.append(RuleBreach("focus", None, "the focus is empty"))
    if not turns:
        out.append(RuleBreach("turns", None, "the conversation has no turn"))
        return out
    last = len(turns) - 1
    for i, (question, answer) in enumerate(turns):
        if not question.strip():
            out.append(RuleBreach("question", i, f"turn {i + 1} has no question"))
        if not answer.strip():
            out.append(RuleBreach("answer", i, f"turn {i + 1} has no answer"))
        seg = answer.count(SEG_TOKEN)
        if i == last and seg != 1:
            message = f"the final answer holds {SEG_TOKEN} {seg} times, not once"
            out.append(RuleBreach("seg_final", i, message))
        elif i < last and seg:
            message = f"turn {i + 1}'s answer holds {SEG_TOKEN} before the final turn"
            out.append(RuleBreach("seg_early", i, message))
    return out


def check_conversation(conv: Conversation) -> list[RuleBreach]:
    return check_texts(
        conv.focus,
        [(t.question, t.answer) for t in conv.turns],
    )
