"""Whether a model-drafted dialogue may be stored: the PRIST rules (``core.prist_rules``), the
number of reasoning rounds asked for, and a focus the image does not have yet.

Only mechanical repairs are made, and each is named: runs of white space become one space, and
a dialogue whose answers hold no ``[SEG]`` at all gets the segmentation turn it was asked to end
with appended. Anything else that breaks a rule keeps the draft out, with the rule named.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from annotator.core.model import SEG_TOKEN
from annotator.core.prist_rules import RuleBreach, check_texts

# The rules a draft keeps besides the PRIST ones (``core.prist_rules.RULES``).
DRAFT_RULES = {
    "shape": "the dialogue is a focus and a list of question/answer turns",
    "rounds": "the dialogue has the number of reasoning rounds asked for",
    "focus_new": "the focus is not one the image has already",
}

APPENDED_SEG_TURN = "appended the segmentation turn"
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def focus_key(focus: str) -> str:
    """What makes two foci the same target: case, punctuation, spacing and a leading article
    aside ("The red mug." is "red mug"); "mug" and "red mug" stay different, as PRIST has both
    on one image."""
    text = unicodedata.normalize("NFKC", focus).casefold()
    text = _SPACE.sub(" ", _NOT_WORD.sub(" ", text)).strip()
    return _ARTICLE.sub("", text)


@dataclass(frozen=True)
class Vetted:
    focus: str
    turns: tuple[tuple[str, str], ...]  # (question, answer), repaired
    repairs: tuple[str, ...] = ()
    breaches: tuple[RuleBreach, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.breaches


def vet_dialogue(
    focus: str,
    turns: Sequence[tuple[str, str]],
    *,
    rounds: tuple[int, int],
    final: tuple[str, str],
    taken: Collection[str],
) -> Vetted:
    """Repair what is mechanical, then check. ``rounds``: the reasoning rounds allowed (before
    the segmentation turn); ``final``: the segmentation turn to append when none was written;
    ``taken``: :func:`focus_key` of every focus the image has."""
    written = (focus, *(text for pair in turns for text in pair))
    focus = _one_line(focus)
    pairs = [(_one_line(q), _one_line(a)) for q, a in turns]
    repairs: list[str] = []
    if written != (focus, *(text for pair in pairs for text in pair)):
        repairs.append("collapsed white space")
    if pairs and not any(SEG_TOKEN in a for _, a in pairs):
        pairs.append((_one_line(final[0]), _one_line(final[1])))
        repairs.append(APPENDED_SEG_TURN)
    breaches = list(check_texts(focus, pairs))
    lo, hi = rounds
    reasoning = len(pairs) - 1
    if pairs and not lo <= reasoning <= hi:
        wanted = f"{lo}" if lo == hi else f"{lo}-{hi}"
        breaches.append(RuleBreach("rounds", None, f"{reasoning} reasoning rounds, not {wanted}"))
    if focus and focus_key(focus) in taken:
        breaches.append(RuleBreach("focus_new", None, f"the image has the focus {focus!r} already"))
    return Vetted(focus, tuple(pairs), tuple(repairs), tuple(breaches))


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
