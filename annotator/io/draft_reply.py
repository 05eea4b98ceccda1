"""The dialogues a vision-language model drafted (``core.draft_prompt``), read strictly.

The reply should be one JSON object ``{"description", "candidates", "dialogues": [{"focus",
"turns": [{"question", "answer"}, ...]}, ...]}`` in a code fence; chatter around it, a bare
object, or a bare list of dialogues are taken too. The JSON goes through
:func:`annotator.io.safe_json.loads` (no NaN, no duplicate keys, bounded size and depth). A reply
without such JSON is one :class:`InputError` naming the reply and the line; a dialogue that is not
a focus with a list of question/answer strings, or is over the length caps, is listed as
unreadable with the reason while the others are read. Keys the format does not name are ignored.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from annotator.core.errors import InputError
from annotator.io.safe_json import JsonDocument, JsonLimits, loads

MAX_REPLY_CHARS = 64 * 1024
MAX_DIALOGUES = 16
MAX_TURNS = 16
MAX_FOCUS = 200  # characters
MAX_TEXT = 4000  # characters of a question or an answer
MAX_UNFENCED_TRIES = 64  # brackets tried as the start of JSON when the reply has no fence
# Lines are recorded down to a turn's fields (dialogues / i / turns / t / answer).
_LIMITS = JsonLimits(
    max_bytes=MAX_REPLY_CHARS * 4, max_depth=8, max_string=MAX_REPLY_CHARS, index_depth=5
)
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
REPLY = "model reply"  # how errors name the reply (it has no file)


@dataclass(frozen=True)
class DraftedDialogue:
    position: int  # 0-based, in the reply's list
    focus: str
    turns: tuple[tuple[str, str], ...]  # (question, answer) as written


@dataclass(frozen=True)
class Unreadable:
    position: int
    focus: str  # as far as it could be read ("" otherwise)
    message: str  # one line, naming the reply's line


@dataclass(frozen=True)
class DraftReply:
    description: str
    candidates: tuple[str, ...]
    dialogues: tuple[DraftedDialogue, ...]
    unreadable: tuple[Unreadable, ...] = ()


def parse_draft_reply(text: str) -> DraftReply:
    if len(text) > MAX_REPLY_CHARS:
        raise InputError(f"longer than {MAX_REPLY_CHARS // 1024} KiB", file=REPLY)
    doc = _document(text)
    value = doc.value
    top: dict[str, Any] = value if isinstance(value, dict) else {"dialogues": value}
    items = top.get("dialogues")
    base: tuple[str | int, ...] = ("dialogues",) if isinstance(value, dict) else ()
    if not isinstance(items, list):
        raise InputError(
            'the JSON has no "dialogues" list', file=REPLY, line=doc.line_of("dialogues")
        )
    if len(items) > MAX_DIALOGUES:
        raise InputError(
            f"{len(items)} dialogues, more than {MAX_DIALOGUES}", file=REPLY, line=doc.line_of()
        )
    description = top.get("description")
    candidates = top.get("candidates")
    dialogues: list[DraftedDialogue] = []
    unreadable: list[Unreadable] = []
    for i, item in enumerate(items):
        read = _dialogue(doc, item, (*base, i), i)
        (dialogues if isinstance(read, DraftedDialogue) else unreadable).append(read)
    return DraftReply(
        description.strip() if isinstance(description, str) else "",
        tuple(
            c.strip()
            for c in (candidates if isinstance(candidates, list) else [])
            if isinstance(c, str) and c.strip()
        ),
        tuple(dialogues),
        tuple(unreadable),
    )


def _dialogue(
    doc: JsonDocument, item: Any, path: tuple[str | int, ...], position: int
) -> DraftedDialogue | Unreadable:
    def bad(message: str, *where: str | int, focus: str = "") -> Unreadable:
        line = doc.line_of(*path, *where)
        at = f"{REPLY}:{line}: " if line is not None else f"{REPLY}: "
        return Unreadable(position, focus, f"{at}dialogue {position + 1}: {message}")

    if not isinstance(item, dict):
        return bad("not an object")
    focus = item.get("focus")
    if not isinstance(focus, str):
        return bad('"focus" is not a string', "focus")
    focus = focus.strip()
    if len(focus) > MAX_FOCUS:
        return bad(f"the focus is over {MAX_FOCUS} characters", "focus", focus=focus[:80])
    turns = item.get("turns")
    if not isinstance(turns, list) or not turns:
        return bad('"turns" is not a list of turns', "turns", focus=focus)
    if len(turns) > MAX_TURNS:
        return bad(f"{len(turns)} turns, more than {MAX_TURNS}", "turns", focus=focus)
    pairs: list[tuple[str, str]] = []
    for t, turn in enumerate(turns):
        if not isinstance(turn, dict):
            return bad(f"turn {t + 1} is not an object", "turns", t, focus=focus)
        texts = [turn.get("question"), turn.get("answer")]
        for name, value in zip(("question", "answer"), texts, strict=True):
            if not isinstance(value, str):
                return bad(f'turn {t + 1} has no "{name}" string', "turns", t, name, focus=focus)
            if len(value) > MAX_TEXT:
                message = f"turn {t + 1}'s {name} is over {MAX_TEXT} characters"
                return bad(message, "turns", t, name, focus=focus)
        pairs.append((str(texts[0]), str(texts[1])))
    return DraftedDialogue(position, focus, tuple(pairs))


def _document(text: str) -> JsonDocument:
    """The reply's JSON: the first fenced block, else the first object or list in the text.
    A fenced block that is not clean JSON is reported (it is what the model meant to send)."""
    fence = _FENCE.search(text)
    if fence is not None:
        first_line = text.count("\n", 0, fence.start(1)) + 1
        return loads(fence.group(1), file=REPLY, limits=_LIMITS, first_line=first_line)
    decoder = json.JSONDecoder()
    # Each try may read far (a bracket opens a long run): a bounded number of them keeps a
    # hostile reply from costing quadratic time; nesting too deep for the decoder is no JSON.
    for m in itertools.islice(re.finditer(r"[{\[]", text), MAX_UNFENCED_TRIES):
        try:
            _, end = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        first_line = text.count("\n", 0, m.start()) + 1
        return loads(text[m.start() : end], file=REPLY, limits=_LIMITS, first_line=first_line)
    raise InputError("no JSON object in it", file=REPLY)
