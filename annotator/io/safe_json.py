"""JSON from untrusted files: size, depth and string caps, no NaN/Infinity, no duplicate keys,
and a line number for every value near the top of the document.

A pure-Python pre-scan walks the text once before :mod:`json` parses it. It enforces the caps
(so deep nesting is refused before any recursive parser runs), refuses what :mod:`json` would
silently accept (duplicate keys, ``NaN``), and records the line where each value up to
``index_depth`` levels deep starts, so readers can name ``file:line`` for a bad record or field.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.errors import InputError

PathKey = tuple[str | int, ...]

# A complete string, a structural character, an unterminated string (a lone quote, tried only
# after a complete string failed), or a non-standard constant outside any string.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|"|-?Infinity|NaN', re.DOTALL)
_NON_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class JsonLimits:
    max_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    max_string: int = 16 * 1024 * 1024  # characters; LabelMe files may embed the image as base64
    index_depth: int = 4  # how deep line numbers are recorded (record/field/item/field)


DEFAULT_LIMITS = JsonLimits()


@dataclass(frozen=True)
class JsonDocument:
    """A parsed document with the line of each shallow value (``path -> line``)."""

    value: Any
    file: str
    lines: Mapping[PathKey, int] = field(default_factory=dict)

    def line_of(self, *path: str | int) -> int | None:
        """Line where the value at ``path`` starts, or of its nearest recorded ancestor."""
        key: PathKey = tuple(path)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]

    def error(self, message: str, *path: str | int, record: int | str | None = None) -> InputError:
        """An :class:`InputError` naming this file, the line of ``path`` and the record
        (by default the index of the top-level array element the path is in)."""
        if record is None and path and isinstance(path[0], int):
            record = path[0]
        return InputError(message, file=self.file, line=self.line_of(*path), record=record)


class _Frame:
    __slots__ = ("expect_key", "is_object", "key", "keys", "pending", "pending_pos")

    def __init__(self, is_object: bool, pos: int) -> None:
        self.is_object = is_object
        self.key: str | int = 0
        self.keys: set[str] = set()
        self.expect_key = is_object
        self.pending = not is_object  # an array's first element may follow at once
        self.pending_pos = pos


class _LineCounter:
    """Line of increasing positions without re-counting from the start each time."""

    def __init__(self, text: str, first_line: int) -> None:
        self.text = text
        self.pos = 0
        self.line = first_line

    def at(self, pos: int) -> int:
        if pos > self.pos:
            self.line += self.text.count("\n", self.pos, pos)
            self.pos = pos
        return self.line


def _scan(text: str, *, file: str, limits: JsonLimits, first_line: int) -> dict[PathKey, int]:
    lines: dict[PathKey, int] = {}
    stack: list[_Frame] = []
    counter = _LineCounter(text, first_line)
    top_pending = True

    def path() -> PathKey:
        return tuple(f.key for f in stack)

    def fail(message: str, pos: int) -> InputError:
        record = stack[0].key if stack and not stack[0].is_object else None
        return InputError(message, file=file, line=counter.at(pos), record=record)

    def record_value(pos: int) -> None:
        if len(stack) <= limits.index_depth:
            lines[path()] = counter.at(pos)

    def close_scalar(end: int) -> None:
        # A number/true/false/null sits between the pending position and this token.
        frame = stack[-1]
        if frame.pending:
            m = _NON_SPACE.search(text, frame.pending_pos, end)
            if m is not None:
                record_value(m.start())
            frame.pending = False

    for m in _TOKEN.finditer(text):
        tok = m.group()
        pos = m.start()
        c = tok[0]
        if c == '"':
            if len(tok) == 1:
                raise fail("unterminated string", pos)
            if len(tok) - 2 > limits.max_string:
                raise fail(f"a string is longer than {limits.max_string} characters", pos)
            frame = stack[-1] if stack else None
            if frame is not None and frame.is_object and frame.expect_key:
                key = tok[1:-1] if "\\" not in tok else _decode_key(tok, fail, pos)
                if key in frame.keys:
                    raise fail(f"duplicate key {key!r}", pos)
                frame.keys.add(key)
                frame.key = key
                frame.expect_key = False
            elif frame is None:
                if top_pending:
                    lines[()] = counter.at(pos)
                    top_pending = False
            elif frame.pending:
                record_value(pos)
                frame.pending = False
        elif c in "{[":
            if stack:
                frame = stack[-1]
                if frame.pending:
                    record_value(pos)
                    frame.pending = False
            elif top_pending:
                lines[()] = counter.at(pos)
                top_pending = False
            stack.append(_Frame(c == "{", m.end()))
            if len(stack) > limits.max_depth:
                raise fail(f"nesting deeper than {limits.max_depth} levels", pos)
        elif c in "}]":
            if not stack:
                continue  # unbalanced: left for the parser to report with its own position
            close_scalar(pos)
            stack.pop()
        elif c == ",":
            if not stack:
                continue
            close_scalar(pos)
            frame = stack[-1]
            if frame.is_object:
                frame.expect_key = True
            else:
                frame.key = int(frame.key) + 1
                frame.pending = True
                frame.pending_pos = m.end()
        elif c == ":":
            if stack and stack[-1].is_object:
                frame = stack[-1]
                frame.pending = True
                frame.pending_pos = m.end()
        else:
            raise fail(f"{tok} is not allowed in JSON", pos)
    return lines


def _decode_key(tok: str, fail: Any, pos: int) -> str:
    try:
        return str(json.loads(tok))
    except ValueError as exc:
        raise fail(f"invalid string: {exc}", pos) from exc


# Integers a database column holds (SQLite and PostgreSQL BIGINT): larger ones are refused here
# rather than failing half-way through a write.
MAX_INT = 2**63 - 1


class _NumberOutOfRange(ValueError):
    def __init__(self, literal: str, why: str) -> None:
        super().__init__(f"{literal} {why}")
        self.literal = literal
        self.why = why


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 parses to infinity, which no later step survives
        raise _NumberOutOfRange(literal, "is too large (not a finite number)")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal) > 20 or abs(value := int(literal)) > MAX_INT:
        raise _NumberOutOfRange(literal, f"is beyond {MAX_INT} (the database's integer range)")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _record_at(lines: Mapping[PathKey, int], line: int) -> int | None:
    """Index of the top-level array element that starts at or before ``line``."""
    best: int | None = None
    for key, start in lines.items():
        if (
            len(key) == 1
            and isinstance(key[0], int)
            and start <= line
            and (best is None or key[0] > best)
        ):
            best = key[0]
    return best


def loads(
    text: str | bytes,
    *,
    file: str = "<string>",
    limits: JsonLimits = DEFAULT_LIMITS,
    first_line: int = 1,
) -> JsonDocument:
    """Parse ``text`` under ``limits``; every refusal is an :class:`InputError` with file:line."""
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise InputError(f"larger than {limits.max_bytes} bytes", file=file)
        text = _decode_utf8(text, file=file, first_line=first_line)
    elif len(text) > limits.max_bytes:
        raise InputError(f"larger than {limits.max_bytes} characters", file=file)
    lines = _scan(text, file=file, limits=limits, first_line=first_line)
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_no_duplicates,
        )
    except _NumberOutOfRange as exc:
        at = text.find(exc.literal)
        line = text.count("\n", 0, at) + first_line if at >= 0 else None
        raise InputError(
            f"number {exc.literal[:40]} {exc.why}",
            file=file,
            line=line,
            record=_record_at(lines, line) if line is not None else None,
        ) from None
    except json.JSONDecodeError as exc:
        line = exc.lineno + first_line - 1
        raise InputError(
            f"invalid JSON: {exc.msg} (column {exc.colno})",
            file=file,
            line=line,
            record=_record_at(lines, line),
        ) from exc
    except (ValueError, RecursionError) as exc:  # the scan catches these first; kept as a guard
        raise InputError(f"invalid JSON: {exc}", file=file) from exc
    return JsonDocument(value=value, file=file, lines=lines)


def _decode_utf8(data: bytes, *, file: str, first_line: int) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + first_line
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=file, line=line) from exc


def read_bytes_capped(path: str | Path, max_bytes: int) -> bytes:
    """Read a whole file, refusing it (before reading) when it is larger than ``max_bytes``."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise InputError(
                    f"file is {size} bytes, more than the limit {max_bytes}", file=name
                )
            data = fh.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise InputError("file not found", file=name) from exc
    except IsADirectoryError as exc:
        raise InputError("is a directory, not a file", file=name) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=name) from exc
    if len(data) > max_bytes:  # grew while reading, or a special file without a size
        raise InputError(f"file is larger than the limit {max_bytes}", file=name)
    return data


def load(
    path: str | Path, *, limits: JsonLimits = DEFAULT_LIMITS, name: str | None = None
) -> JsonDocument:
    """Read and parse a JSON file. ``name`` is how errors call the file (default: the path)."""
    data = read_bytes_capped(path, limits.max_bytes)
    return loads(data, file=name or str(path), limits=limits)
