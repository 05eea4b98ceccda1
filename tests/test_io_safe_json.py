"""The safe JSON parser: caps, refusals and line numbers."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.errors import InputError
from annotator.io import safe_json
from annotator.io.safe_json import JsonLimits


def test_lines_of_values() -> None:
    text = '[\n {"a": 1,\n  "b": [true,\n   null]},\n "x"\n]'
    doc = safe_json.loads(text, file="t.json")
    assert doc.value == [{"a": 1, "b": [True, None]}, "x"]
    assert doc.line_of(0) == 2
    assert doc.line_of(0, "b") == 3
    assert doc.line_of(0, "b", 1) == 4
    assert doc.line_of(1) == 5
    assert doc.line_of(0, "b", 1, "deeper") == 4  # nearest recorded ancestor
    err = doc.error("bad", 0, "b", 1)
    assert (err.file, err.line, err.record) == ("t.json", 4, 0)
    assert str(err) == "t.json:4 record 0: bad"


def test_first_line_offsets_lines() -> None:
    doc = safe_json.loads('{"a":\n 1}', first_line=10)
    assert doc.line_of("a") == 11
    with pytest.raises(InputError) as err:
        safe_json.loads('{"a":\n }', first_line=10)
    assert err.value.line == 11


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('{"a": NaN}', 1, "NaN"),
        ("[1,\n Infinity]", 2, "Infinity"),
        ("[1,\n -Infinity]", 2, "Infinity"),
        ('{"a": 1,\n "a": 2}', 2, "duplicate key 'a'"),
        ('{"a": 1,\n "\\u0061": 2}', 2, "duplicate key 'a'"),
        ('[{"a": {"b": 1,\n "b": 1}}]', 2, "duplicate key 'b'"),
        ('{"a": "x\n', 1, "unterminated"),
        ('{"a" 1}', 1, "invalid JSON"),
        ("[1, 2,]", 1, "invalid JSON"),
        ("", 1, "invalid JSON"),
        ('"\\ud800', 1, "unterminated"),
    ],
)
def test_refusals(text: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as err:
        safe_json.loads(text, file="f.json")
    assert err.value.line == line
    assert words in err.value.reason


def test_nan_inside_a_string_is_fine() -> None:
    assert safe_json.loads('["NaN", "Infinity", "{[", "\\"]"]').value == [
        "NaN",
        "Infinity",
        "{[",
        '"]',
    ]


def test_depth_limit_is_checked_before_parsing() -> None:
    deep = "[" * 1_000_000 + "]" * 1_000_000
    with pytest.raises(InputError, match="nesting deeper than 64"):
        safe_json.loads(deep)
    ok = "[" * 64 + "]" * 64
    assert safe_json.loads(ok).value is not None
    with pytest.raises(InputError):
        safe_json.loads("[" * 65 + "]" * 65)
    assert safe_json.loads("[" * 65 + "]" * 65, limits=JsonLimits(max_depth=100)).value


def test_string_and_size_caps() -> None:
    limits = JsonLimits(max_string=10, max_bytes=100)
    assert safe_json.loads('["0123456789"]', limits=limits).value == ["0123456789"]
    with pytest.raises(InputError, match="longer than 10"):
        safe_json.loads('["01234567890"]', limits=limits)
    with pytest.raises(InputError, match="larger than 100"):
        safe_json.loads(b"[" + b"1," * 60 + b"1]", limits=limits)


def test_bom_is_accepted_and_bad_utf8_names_its_line() -> None:
    assert safe_json.loads('\ufeff{"a": 1}'.encode()).value == {"a": 1}
    with pytest.raises(InputError) as err:
        safe_json.loads(b'{"a":\n\n "\xff"}')
    assert err.value.line == 3


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        safe_json.load(tmp_path / "nope.json")
    with pytest.raises(InputError, match="directory"):
        safe_json.load(tmp_path)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-safe_json.MAX_INT, max_value=safe_json.MAX_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.sampled_from([None, 1, 2]))
def test_agrees_with_json_on_valid_documents(value, indent) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    doc = safe_json.loads(text)
    assert doc.value == value or (value != value)
    for path, line in doc.lines.items():
        assert 1 <= line <= text.count("\n") + 1
        assert len(path) <= 4


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}:,"\\ \n0123456789aeflnrstuNIy.-+ab\x00\ud7ff', max_size=60))
def test_random_text_raises_only_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        safe_json.loads(text)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"scores": [0.5,\n 1e999]}', 2, "1e999 is too large"),
        ('{"elapsed_s": -1E400}', 1, "-1E400 is too large"),
        ("[\n\n 99999999999999999999]", 3, "is beyond 9223372036854775807"),
    ],
)
def test_numbers_no_later_step_survives_are_refused_with_their_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(InputError, match=message) as info:
        safe_json.loads(text, file="in.jsonl")
    assert info.value.line == line and "in.jsonl" in str(info.value)
