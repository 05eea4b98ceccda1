"""Damaged and foreign database files (issue 23, point 2): every driver error is one line naming
the file, and nothing is written into a damaged file (``PRAGMA quick_check`` before the first
write of a store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixtures_storage import make_conversation

from annotator.cli import main
from annotator.core.errors import StorageError
from annotator.storage import ListQuery, open_store


def _damaged(tmp_path: Path) -> Path:
    db = tmp_path / "damaged.sqlite3"
    store = open_store(db)
    try:
        store.add_conversations([make_conversation(n) for n in range(300)], actor="a")
    finally:
        store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    with open(db, "r+b") as fh:  # a run of pages in the middle overwritten, as a bad sector
        fh.seek(page * (pages // 2))
        fh.write(b"\xa5" * page * 4)
    return db


def test_nothing_is_written_into_a_damaged_file(tmp_path: Path) -> None:
    db = _damaged(tmp_path)
    before = db.read_bytes()
    store = open_store(db)
    try:
        with pytest.raises(StorageError, match=r"damaged\.sqlite3 is damaged .*nothing is written"):
            store.verify()
        with pytest.raises(StorageError, match="is damaged"):
            store.add_conversations([make_conversation(999)], actor="a")
    finally:
        store.close()
    assert db.read_bytes() == before


def test_damaged_and_foreign_files_are_one_line_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.sqlite3"
    text.write_text("these are my notes, not a database\n")
    capsys.readouterr()
    assert main(["--db", str(text), "stats"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "notes.sqlite3" in err and "not a SQLite database" in err
    db = _damaged(tmp_path)
    before = db.read_bytes()
    assert main(["--db", str(db), "review", "1", "--comment", "hello", "--as", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is damaged" in err
    assert db.read_bytes() == before


def test_a_sound_file_is_checked_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ok.sqlite3")
    try:
        store.verify()
        store.add_conversations([make_conversation(1)], actor="a")
        assert store.count(ListQuery()) == 1
    finally:
        store.close()


def test_the_app_says_so_right_after_start(tmp_path: Path, qtbot: Any) -> None:
    from annotator.app import build_app

    db = _damaged(tmp_path)
    before = db.read_bytes()
    parts = build_app(db, offer_sample=False, segmenter=None)
    qtbot.addWidget(parts.window)
    try:
        parts.window.show()
        jobs = parts.window.jobs
        qtbot.waitUntil(
            lambda: jobs.last_message is not None and "is damaged" in jobs.last_message.text(),
            timeout=10_000,
        )
    finally:
        parts.window.close()
        parts.store.close()
    assert db.read_bytes() == before
