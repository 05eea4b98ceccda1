"""Our prompt for drafting PRIST conversations with a vision-language model.

It follows the stages of the paper's pipeline (arXiv 2502.09447, sec. 3): look at the image and
list candidate targets, write for each chosen target a dialogue that narrows from the whole scene
to that one object, and end it with the segmentation request. The model answers every stage in
one JSON reply (``annotator.io.draft_reply`` reads it). The wording is ours; what it asks for
(single, outlinable objects; nothing abstract such as light or mood; one object per target;
visible evidence in every step) is what the authors' generation script asks of its model.

``PROMPT_VERSION`` is stored with every drafted conversation: change it whenever the text or
the reply format changes, so an audit can tell which prompt made a draft.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from annotator.core.model import SEG_TOKEN

PROMPT_VERSION = "draft-1"

# Foci the prompt names as already taken: enough for any real image, bounded for the prompt.
MAX_AVOID = 40
FOCUS_WORDS = 8  # the focus is a label, as short as a segmentation tool's

REPLY_SHAPE = (
    '{"description": "<two or three sentences>", "candidates": ["<target>", ...], '
    '"dialogues": [{"focus": "<target>", "turns": [{"question": "...", "answer": "..."}, ...]}]}'
)

SYSTEM_PROMPT = (
    "You write training data for pixel-level reasoning segmentation: conversations about one "
    "image that reason, turn by turn, from the whole scene down to a single object that is then "
    "segmented. Ground every statement in what is visible in the image. You work in three "
    "stages and reply with JSON only."
)


@dataclass(frozen=True)
class DialogueSlot:
    """One dialogue the model is asked for: its reasoning rounds and the segmentation turn
    (a PRIST wording, see ``core.seg_templates``) that must end it."""

    rounds: int
    request: str
    answer: str  # holds SEG_TOKEN exactly once


@dataclass(frozen=True)
class DraftRequest:
    slots: tuple[DialogueSlot, ...]
    avoid: tuple[str, ...] = ()  # foci the image has already: never to be drafted again


def user_prompt(request: DraftRequest) -> str:
    """The instructions sent with the image."""
    n = len(request.slots)
    avoid = [f for f in request.avoid if f.strip()][:MAX_AVOID]
    # Stored foci come from files and people: quoted as JSON strings, so they stay data.
    taken = (
        " The image already has conversations about these targets; choose others: "
        + json.dumps(avoid, ensure_ascii=False)
        + "."
        if avoid
        else ""
    )
    plural = "s" if n != 1 else ""
    lines = [
        "Stage 1 - look. Describe the image in two or three sentences. Then list the candidate "
        "targets: single, clearly visible objects or regions with a definite outline (one sign, "
        "one person, one cup, one word of text). Leave out what cannot be outlined (lighting, "
        "shadows, mood, colour schemes, style, the image as a whole) and never join two objects "
        "into one target.",
        "",
        f"Stage 2 - write. Choose {n} different target{plural} from your list.{taken} For each "
        "target write a dialogue that narrows from coarse to fine: the first question is about "
        "the scene as a whole, every later question builds on the answer before it and narrows "
        "the candidates using visible evidence (text, position, shape, what a thing is for), "
        "and the last reasoning answer leaves only the target. Questions are short and direct; "
        "answers are one to three concrete sentences that give the reasoning from what can be "
        "seen. Never mention anything that is not in the image.",
        "",
        f"Stage 3 - ask for the mask. End every dialogue with the segmentation turn given for "
        f"it below, word for word. {SEG_TOKEN} appears in that final answer only.",
        "",
        f"Dialogue{plural} to write:",
    ]
    for i, slot in enumerate(request.slots, start=1):
        lines.append(
            f"{i}. {slot.rounds} reasoning round{'s' if slot.rounds != 1 else ''}, then the "
            f"question {json.dumps(slot.request, ensure_ascii=False)} answered "
            f"{json.dumps(slot.answer, ensure_ascii=False)}."
        )
    lines += [
        "",
        f'Each "focus" is a short noun phrase (at most {FOCUS_WORDS} words) naming the target '
        "as one would label it in a segmentation tool, different from every other focus. Each "
        '"turns" list holds the reasoning rounds followed by the segmentation turn.',
        "",
        "Reply with one JSON object in a ```json fence and nothing else, shaped like this:",
        REPLY_SHAPE,
    ]
    return "\n".join(lines)
