"""What a grounding vision-language model writes back, read strictly.

Models answer in prose and, when asked for the target, add a box as JSON: an object or a list of
objects, inside a code fence or not, with chatter around it. The box sits under ``bbox_2d``
(Qwen2.5-VL), ``box_2d`` (Gemini), ``bbox`` or ``box``, with an optional ``label``; with several
objects the one whose label matches the focus is taken, else the first. The answer is the
object's ``answer`` field where there is one, else the reply without its JSON block.

A reply is untrusted input: JSON goes through :func:`annotator.io.safe_json.loads` (no NaN, no
duplicate keys, bounded depth), and a box that is missing, not four finite numbers, out of range,
inverted or degenerate gives the answer without a box and a one-line note, never a wrong box.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from annotator.core.errors import InputError
from annotator.io.safe_json import JsonLimits, loads

BOX_FORMATS = ("pixels", "norm1000", "norm1000-yx")
BOX_KEYS = ("bbox_2d", "box_2d", "bbox", "box")
MAX_REPLY_CHARS = 64 * 1024  # a longer reply is cut before it is searched
_LIMITS = JsonLimits(max_bytes=MAX_REPLY_CHARS * 4, max_depth=16, max_string=MAX_REPLY_CHARS)
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels


@dataclass(frozen=True)
class ParsedReply:
    answer: str
    box: Box | None  # in image pixels; None when the reply has no usable box
    label: str | None = None
    note: str = ""  # why a box the reply tried to give was not used ("" otherwise)


def parse_reply(
    text: str, *, box_format: str, width: int, height: int, focus: str = ""
) -> ParsedReply:
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box format must be one of {', '.join(BOX_FORMATS)}, not {box_format!r}")
    text = text[:MAX_REPLY_CHARS]
    found = _json_block(text)
    if found is None:
        return ParsedReply(_clean(text), None)
    value, (start, end) = found
    prose = _clean(text[:start] + text[end:])
    objects = [o for o in (value if isinstance(value, list) else [value]) if isinstance(o, dict)]
    boxed = [o for o in objects if any(k in o for k in BOX_KEYS)]
    chosen = _choose(boxed, focus) if boxed else (objects[0] if objects else None)
    answer = prose
    if chosen is not None and isinstance(chosen.get("answer"), str) and chosen["answer"].strip():
        answer = chosen["answer"].strip()
    if chosen is None or not boxed:
        return ParsedReply(answer, None, note="the reply's JSON holds no box")
    label = chosen.get("label") if isinstance(chosen.get("label"), str) else None
    key = next(k for k in BOX_KEYS if k in chosen)
    try:
        box = to_pixels(chosen[key], box_format, width, height)
    except ValueError as exc:
        return ParsedReply(answer, None, label, f"{key}: {exc}")
    return ParsedReply(answer, box, label)


def to_pixels(raw: Any, box_format: str, width: int, height: int) -> Box:
    """The box ``raw`` in ``box_format`` as image pixels; ValueError saying what is wrong."""
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        raise ValueError("a box is 4 numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        raise ValueError("a box is 4 numbers")
    nums = [float(v) for v in raw]
    if not all(math.isfinite(v) for v in nums):
        raise ValueError("the box has a non-finite number")
    if box_format == "pixels":
        x0, y0, x1, y1 = nums
        limit_x, limit_y, sx, sy = float(width), float(height), 1.0, 1.0
    else:
        if box_format == "norm1000":
            x0, y0, x1, y1 = nums
        else:  # norm1000-yx: ymin, xmin, ymax, xmax
            y0, x0, y1, x1 = nums
        limit_x = limit_y = 1000.0
        sx, sy = width / 1000.0, height / 1000.0
    if min(x0, y0, x1, y1) < 0 or max(x0, x1) > limit_x or max(y0, y1) > limit_y:
        raise ValueError(f"the box {nums} is outside the image ({box_format})")
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the box {nums} is inverted ({box_format})")
    box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
    if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
        raise ValueError(f"the box {nums} is under one pixel")
    return box


def _choose(objects: list[dict[str, Any]], focus: str) -> dict[str, Any]:
    wanted = focus.strip().lower()
    if wanted:
        for o in objects:
            label = o.get("label")
            if isinstance(label, str) and label.strip().lower() == wanted:
                return o
        for o in objects:
            label = o.get("label")
            if (
                isinstance(label, str)
                and label.strip()
                and (wanted in label.lower() or label.strip().lower() in wanted)
            ):
                return o
    return objects[0]


def _json_block(text: str) -> tuple[Any, tuple[int, int]] | None:
    """The first JSON object or array in ``text`` (fenced first) and the span it takes."""
    for m in _FENCE.finditer(text):
        value = _strict(m.group(1).strip())
        if value is not None:
            return value, m.span()
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            _, end = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        value = _strict(text[m.start() : end])
        if value is not None and isinstance(value, dict | list):
            return value, (m.start(), end)
    return None


def _strict(snippet: str) -> Any:
    """``snippet`` parsed by the strict reader, or None when it is not clean JSON."""
    try:
        return loads(snippet, file="<model reply>", limits=_LIMITS).value
    except InputError:
        return None


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
