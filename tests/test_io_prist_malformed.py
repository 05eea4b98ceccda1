"""Malformed PRIST files are refused whole, naming file:line and the record."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures_io import PRIST_TEST

from annotator.core.errors import InputError
from annotator.io.prist_reader import read_prist
from annotator.io.safe_json import JsonLimits

Records = list[dict[str, Any]]


@pytest.fixture(scope="module")
def records() -> Records:
    return json.loads(PRIST_TEST.read_text(encoding="utf-8"))


def dump(recs: Records) -> str:
    return json.dumps(recs, indent=4, ensure_ascii=False)


def record_line(text: str, index: int) -> int:
    """1-based line of the index-th top-level record in an indent=4 dump."""
    starts = [n for n, line in enumerate(text.split("\n"), 1) if line == "    {"]
    return starts[index]


def field_line(text: str, index: int, needle: str, occurrence: int = 0) -> int:
    lines = text.split("\n")
    start = record_line(text, index)
    seen = 0
    for n in range(start, len(lines) + 1):
        if needle in lines[n - 1]:
            if seen == occurrence:
                return n
            seen += 1
    raise AssertionError(f"{needle} not found")


def refuse(tmp_path: Path, text: str | bytes, **kw: Any) -> InputError:
    path = tmp_path / "bad.json"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    with pytest.raises(InputError) as err:
        read_prist(path, images_dir=tmp_path, **kw)
    assert err.value.file == str(path)
    where = f"{path}:{err.value.line}" if err.value.line is not None else f"{path}:"
    assert str(err.value).startswith(where)
    return err.value


def mutate(records: Records, change: Callable[[Records], None]) -> str:
    recs = copy.deepcopy(records)
    change(recs)
    return dump(recs)


def test_truncated_file(tmp_path: Path, records: Records) -> None:
    text = dump(records)
    cut = text[: len(text) // 2]
    err = refuse(tmp_path, cut)
    assert err.line == cut.count("\n") + 1
    assert err.record == sum(1 for line in cut.split("\n") if line == "    {") - 1


def test_dialogue_broken_at_record_37(tmp_path: Path, records: Records) -> None:
    def change(r: Records) -> None:
        r[37]["dialogue"][2]["from"] = "gpt"

    text = mutate(records, change)
    err = refuse(tmp_path, text)
    assert err.record == 37
    assert err.line == field_line(text, 37, '"from"', occurrence=2)
    assert "alternate" in err.reason


def test_nan(tmp_path: Path, records: Records) -> None:
    text = mutate(
        records, lambda r: r[5]["dialogue"].__setitem__(1, {"from": "gpt", "value": float("nan")})
    )
    err = refuse(tmp_path, text)
    assert (err.record, err.line) == (5, field_line(text, 5, "NaN"))


def test_infinity(tmp_path: Path, records: Records) -> None:
    text = dump(records).replace('"focus": "Apple logo"', '"focus": -Infinity', 1)
    err = refuse(tmp_path, text)
    assert err.line == next(n for n, line in enumerate(text.split("\n"), 1) if "-Infinity" in line)


def test_duplicate_key(tmp_path: Path, records: Records) -> None:
    text = dump(records)
    line = field_line(text, 9, '"focus"')
    lines = text.split("\n")
    lines[line - 1] = lines[line - 1].replace('"focus":', '"focus": "x", "focus":')
    err = refuse(tmp_path, "\n".join(lines))
    assert (err.record, err.line) == (9, line)
    assert "duplicate key 'focus'" in err.reason


def test_deep_nesting(tmp_path: Path, records: Records) -> None:
    text = dump(records)
    line = field_line(text, 3, '"focus"')
    lines = text.split("\n")
    lines[line - 1] = '        "focus": ' + "[" * 200_000 + "]" * 200_000
    err = refuse(tmp_path, "\n".join(lines))
    assert (err.record, err.line) == (3, line)
    assert "nesting" in err.reason


def test_fifty_megabyte_string(tmp_path: Path, records: Records) -> None:
    text = mutate(records, lambda r: r[2]["dialogue"][0].__setitem__("value", "x" * 50_000_000))
    err = refuse(tmp_path, text)
    assert err.record == 2
    assert err.line == field_line(text, 2, '"value"')
    assert "longer than" in err.reason


def test_file_size_cap(tmp_path: Path, records: Records) -> None:
    err = refuse(tmp_path, dump(records), limits=JsonLimits(max_bytes=10_000))
    assert "limit 10000" in err.reason


@pytest.mark.parametrize(
    ("index", "change", "needle", "words"),
    [
        (12, lambda r: r.pop("focus"), None, "lacks ['focus']"),
        (20, lambda r: r.__setitem__("focus", 5), '"focus"', "focus must be"),
        (21, lambda r: r.__setitem__("focus", "   "), '"focus"', "focus must be"),
        (22, lambda r: r.__setitem__("dialogue", "hi"), '"dialogue"', "list of messages"),
        (23, lambda r: r.__setitem__("img_id", ["a.jpg"]), '"img_id"', "img_id must be text"),
        (24, lambda r: r.__setitem__("img_id", "../x.jpg"), '"img_id"', "'..'"),
        (25, lambda r: r.__setitem__("img_id", "/etc/passwd"), '"img_id"', "absolute"),
        (26, lambda r: r.__setitem__("img_id", "C:\\x.jpg"), '"img_id"', "drive"),
        (
            40,
            lambda r: r["dialogue"][1].__setitem__("value", "Yes [SEG]."),
            '"Yes [SEG]."',
            "only in the last",
        ),
        (41, lambda r: r["dialogue"][-1].__setitem__("value", "Sure."), None, "exactly once"),
        (42, lambda r: r["dialogue"][-1].__setitem__("value", "[SEG] [SEG]"), None, "exactly once"),
        (
            43,
            lambda r: r["dialogue"][0].__setitem__("value", "Show [SEG]"),
            '"Show [SEG]"',
            "only in the last",
        ),
        (50, lambda r: r.__setitem__("extra", 1), '"extra"', "unknown key 'extra'"),
        (51, lambda r: r["dialogue"].pop(), '"dialogue"', "pairs"),
        (52, lambda r: r["dialogue"][0].__setitem__("from", "gpt"), '"from"', "expected 'human'"),
        (
            53,
            lambda r: r["dialogue"][0].__setitem__("role", "x"),
            "            {",
            "exactly 'from' and 'value'",
        ),
        (54, lambda r: r["dialogue"][0].__setitem__("value", 3), '"value"', "must be text"),
        (55, lambda r: r["dialogue"][0].__setitem__("value", " "), '"value"', "empty"),
        (56, lambda r: r["dialogue"].__setitem__(0, "hello"), '"hello"', "must be an object"),
        (57, lambda r: r["dialogue"].clear(), '"dialogue"', "pairs"),
        (58, lambda r: r.__setitem__("focus", "x [SEG]"), '"focus"', "focus contains"),
    ],
)
def test_malformed_record(
    tmp_path: Path, records: Records, index: int, change: Any, needle: str | None, words: str
) -> None:
    def apply(r: Records) -> None:
        change(r[index])

    text = mutate(records, apply)
    err = refuse(tmp_path, text)
    assert err.record == index
    assert words in err.reason
    if needle is None:
        assert record_line(text, index) <= err.line < record_line(text, index + 1)
    else:
        assert err.line == field_line(text, index, needle)


def test_a_record_that_is_not_an_object(tmp_path: Path, records: Records) -> None:
    recs = copy.deepcopy(records)
    recs[7] = "not a record"
    text = dump(recs)
    err = refuse(tmp_path, text)
    assert err.record == 7
    assert '"not a record"' in text.split("\n")[err.line - 1]


def test_not_an_array(tmp_path: Path) -> None:
    err = refuse(tmp_path, '{"img_id": "a.jpg"}')
    assert err.line == 1 and "array" in err.reason


def test_invalid_utf8(tmp_path: Path, records: Records) -> None:
    text = dump(records)
    line = field_line(text, 7, '"focus"')
    data = text.encode("utf-8").split(b"\n")
    data[line - 1] = data[line - 1].replace(b'"focus": "', b'"focus": "\xff\xfe', 1)
    err = refuse(tmp_path, b"\n".join(data))
    assert err.line == line
    assert "UTF-8" in err.reason


def test_empty_file(tmp_path: Path) -> None:
    err = refuse(tmp_path, "")
    assert err.line == 1


def test_trailing_garbage(tmp_path: Path, records: Records) -> None:
    text = dump(records) + "\n]"
    err = refuse(tmp_path, text)
    assert err.line == text.count("\n") + 1
