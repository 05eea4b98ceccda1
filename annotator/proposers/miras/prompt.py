"""The LLaVA-1.5 (``llava_v1``) conversation prompt MIRAS was trained on, torch-free.

``SYSTEM USER: <image>\\nq1 ASSISTANT: a1</s>USER: q2 ASSISTANT:`` -- the image placeholder goes
in the first question only, every earlier answer ends with the end-of-sequence text, and the
prompt ends with the assistant role so the model writes the next answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from annotator.proposers.base import Exchange
from annotator.proposers.miras.config import MirasConfig

USER = "USER"
ASSISTANT = "ASSISTANT"
SEP = " "
SEP2 = "</s>"


def image_placeholder(config: MirasConfig) -> str:
    t = config.tokens
    return f"{t.im_start}{t.image}{t.im_end}" if config.mm_use_im_start_end else t.image


def build_prompt(config: MirasConfig, history: Sequence[Exchange], question: str) -> str:
    """The full prompt for the next answer. Placeholders in the user's text are neutralised so
    that a question cannot smuggle in a second image slot."""
    image = image_placeholder(config)
    parts = [config.system_prompt + SEP]
    rounds = [(e.question, e.answer) for e in history] + [(question, None)]
    for i, (q, a) in enumerate(rounds):
        q = _neutral(config, q)
        if i == 0:
            q = f"{image}\n{q}"
        parts.append(f"{USER}: {q}{SEP}")
        if a is None:
            parts.append(f"{ASSISTANT}:")
        else:
            parts.append(f"{ASSISTANT}: {_neutral(config, a)}{SEP2}")
    return "".join(parts)


def _neutral(config: MirasConfig, text: str) -> str:
    t = config.tokens
    for special in (t.image, t.im_start, t.im_end, SEP2):
        text = text.replace(special, special.replace("<", "&lt;"))
    return text.strip()
