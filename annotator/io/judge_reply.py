"""A reasoning judge's reply, read strictly.

The judge is asked for one JSON object: ``{"scores": {criterion: 1-3, ...}, "rationale": ...}``
for direct scoring, ``{"preferences": {criterion: "1" | "2" | "tie", ...}, "rationale": ...}``
for a pairwise comparison. Models wrap it in a code fence or write around it, so the first
object that parses is taken (fenced blocks first); the criteria may also sit at the top level.

A reply is untrusted input: JSON goes through :func:`annotator.io.safe_json.loads` (no NaN, no
duplicate keys, bounded size and depth). Anything that does not give every criterion a value the
scale allows -- no JSON, a score outside the scale or not a whole number, a missing, doubled or
unknown criterion -- raises :class:`JudgeReplyError` with a one-line reason; it is recorded as a
failed judgement, never as a score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from annotator.core.errors import InputError
from annotator.core.judge_criteria import (
    PAIRWISE_KEYS,
    SCALE_MAX,
    SCALE_MIN,
    SCORE_KEYS,
    Choice,
)
from annotator.io.safe_json import JsonLimits, loads

MAX_REPLY_CHARS = 32 * 1024  # a longer reply is cut before it is searched
MAX_RATIONALE = 1000
SOURCE = "<judge reply>"
_LIMITS = JsonLimits(max_bytes=MAX_REPLY_CHARS * 4, max_depth=8, max_string=MAX_REPLY_CHARS)
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_TRIES = 64  # brace positions tried as the start of a JSON object
_CHOICE = re.compile(r"(?:response\s*)?([12])", re.IGNORECASE)


class JudgeReplyError(InputError):
    """The judge's reply gives no usable verdict; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, file=SOURCE)


@dataclass(frozen=True)
class ScoreReply:
    scores: dict[str, int]  # every criterion, in the order asked
    rationale: str


@dataclass(frozen=True)
class PreferenceReply:
    choices: dict[str, Choice]  # by shown position: "1" (first), "2" or "tie"
    rationale: str


def parse_scores(
    text: str,
    criteria: Sequence[str] = SCORE_KEYS,
    *,
    low: int = SCALE_MIN,
    high: int = SCALE_MAX,
) -> ScoreReply:
    doc = _object(text)
    values = _criteria_values(doc, "scores", criteria)
    scores: dict[str, int] = {}
    for key in criteria:
        scores[key] = _score(key, values[key], low, high)
    return ScoreReply(scores, _rationale(doc))


def parse_preferences(text: str, criteria: Sequence[str] = PAIRWISE_KEYS) -> PreferenceReply:
    doc = _object(text)
    values = _criteria_values(doc, "preferences", criteria)
    return PreferenceReply({key: _choice(key, values[key]) for key in criteria}, _rationale(doc))


# -- the verdict's fields ----------------------------------------------------------------------
def _criteria_values(doc: dict[str, Any], field: str, criteria: Sequence[str]) -> dict[str, Any]:
    """Criterion -> raw value, from ``doc[field]`` or (without that field) the top level."""
    nested = field in doc
    source = doc[field] if nested else doc
    if not isinstance(source, dict):
        raise JudgeReplyError(f'"{field}" is not a JSON object')
    wanted = set(criteria)
    found: dict[str, Any] = {}
    for raw_key, value in source.items():
        key = raw_key.strip().lower()
        if key not in wanted:
            if nested:  # inside the verdict object every key must be a criterion
                raise JudgeReplyError(f"unknown criterion {raw_key[:40]!r}")
            continue
        if key in found:
            raise JudgeReplyError(f"criterion {key!r} is given twice")
        found[key] = value
    missing = [k for k in criteria if k not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise JudgeReplyError(f"missing criterion {missing[0]!r}{more}")
    return found


def _score(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JudgeReplyError(f"score for {key!r} is {_show(value)}, not a number")
    if isinstance(value, float) and not value.is_integer():
        raise JudgeReplyError(f"score for {key!r} is {value:g}, not a whole number")
    score = int(value)
    if not low <= score <= high:
        raise JudgeReplyError(f"score for {key!r} is {score}, outside the scale {low}-{high}")
    return score


def _choice(key: str, value: Any) -> Choice:
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        return "1" if value == 1 else "2"
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "tie":
            return "tie"
        m = _CHOICE.fullmatch(text)
        if m is not None:
            return "1" if m.group(1) == "1" else "2"
    raise JudgeReplyError(f"preference for {key!r} is {_show(value)}, not 1, 2 or tie")


def _rationale(doc: dict[str, Any]) -> str:
    value = doc.get("rationale")
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:MAX_RATIONALE]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if value is not None else "null"
    return text if len(text) <= 40 else text[:37] + "..."


# -- finding the JSON object ------------------------------------------------------------------
def _object(text: str) -> dict[str, Any]:
    """The first JSON object of the reply that the strict reader accepts (fenced ones first);
    when candidates exist but none is clean, the first refusal is the reason."""
    text = text[:MAX_REPLY_CHARS]
    refusal: str | None = None
    for snippet in _candidates(text):
        try:
            value = loads(snippet, file=SOURCE, limits=_LIMITS).value
        except InputError as exc:
            refusal = refusal or exc.reason
            continue
        if isinstance(value, dict):
            return value
    if refusal is not None:
        raise JudgeReplyError(f"the reply's JSON is malformed: {refusal}")
    raise JudgeReplyError("no JSON object in the reply")


def _candidates(text: str) -> Iterator[str]:
    """Fenced blocks, then brace-delimited spans that decode as JSON, left to right. A decoded
    span is not searched again, and the tries are capped, so a hostile reply (thousands of
    unclosed braces) costs linear time."""
    for m in _FENCE.finditer(text):
        yield m.group(1).strip()
    decoder = json.JSONDecoder()
    pos = tries = 0
    while tries < _MAX_TRIES:
        start = text.find("{", pos)
        if start < 0:
            return
        tries += 1
        try:
            _, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        yield text[start:end]
        pos = end
