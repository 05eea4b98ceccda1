"""Two versions of one text split into runs that are the same on both sides or not, word by
word, so a view can highlight what differs (the save-conflict dialog shows mine beside theirs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

# Words, runs of spaces and single punctuation marks: a changed comma does not mark the word.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# SequenceMatcher is quadratic in the worst case: past this many tokens a side is marked
# changed whole rather than make the dialog wait (PRIST texts are a few hundred tokens).
MAX_TOKENS = 4000


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool


Segments = tuple[Segment, ...]


def _join(parts: list[tuple[str, bool]]) -> Segments:
    """Adjacent tokens with the same flag as one segment."""
    out: list[Segment] = []
    for text, changed in parts:
        if not text:
            continue
        if out and out[-1].changed == changed:
            out[-1] = Segment(out[-1].text + text, changed)
        else:
            out.append(Segment(text, changed))
    return tuple(out)


def word_diff(mine: str, theirs: str) -> tuple[Segments, Segments]:
    """``mine`` and ``theirs`` as segments; a segment is ``changed`` when the other side does
    not have it at that place. Equal texts give one unchanged segment each."""
    if mine == theirs:
        same = (Segment(mine, False),) if mine else ()
        return same, same
    a, b = _TOKEN.findall(mine), _TOKEN.findall(theirs)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return _join([(mine, True)]), _join([(theirs, True)])
    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = op != "equal"
        left.append(("".join(a[i1:i2]), changed))
        right.append(("".join(b[j1:j2]), changed))
    return _join(left), _join(right)
