"""Numbers and dates no later step survives (issue 23, point 1): an infinite score or elapsed
time, an integer beyond the database's range, a time at the calendar's edge. Each is refused
when the file is read, in one line naming the file and line, and nothing is stored; before, the
infinity was stored and every later export crashed, and the date crashed half-way through an
import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_storage import make_conversation

from annotator.cli import main
from annotator.core.model import Proposal
from annotator.storage import ListQuery, open_store


def _exported(tmp_path: Path) -> list[dict]:
    db = tmp_path / "src.sqlite3"
    store = open_store(db)
    try:
        (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
        store.add_proposals(cid, [Proposal(0, "m", "1", "an answer", scores=(0.5,))])
    finally:
        store.close()
    out = tmp_path / "out.jsonl"
    assert (
        main(["--db", str(db), "export", "jsonl", str(out), "--status", "all", "--mask", "draft"])
        == 0
    )
    return [json.loads(line) for line in out.read_text().splitlines()]


def _spoil(record: dict, how: str) -> str:
    text = json.dumps(record)
    if how == "infinite elapsed time":
        return text.replace('"elapsed_s": 0.0', '"elapsed_s": 1e999')
    if how == "huge integer":
        return text.replace('"turn_index": 0', '"turn_index": 123456789012345678901234')
    if how == "date at the calendar's edge":
        first = record["proposals"][0]["created_at"]
        return text.replace(first, "9999-12-31T23:59:59-05:00")
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("infinite elapsed time", "number 1e999 is too large"),
        ("huge integer", "is beyond 9223372036854775807"),
        ("date at the calendar's edge", "is out of range"),
    ],
)
def test_refused_in_one_line_and_nothing_stored(
    tmp_path: Path, how: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (record,) = _exported(tmp_path)
    spoilt = tmp_path / "spoilt.jsonl"
    spoilt.write_text(_spoil(record, how) + "\n")
    assert _spoil(record, how) != json.dumps(record)
    capsys.readouterr()
    db = tmp_path / "dst.sqlite3"
    assert main(["--db", str(db), "import", "jsonl", str(spoilt)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "spoilt.jsonl:1" in err and "\n" not in err
    store = open_store(db)
    try:
        assert store.count(ListQuery()) == 0
    finally:
        store.close()
