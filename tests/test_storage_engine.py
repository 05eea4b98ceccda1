"""Engine setup: SQLite pragmas, BEGIN IMMEDIATE for writes, one transaction per user action."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fixtures_storage import blob_mask, make_conversation

from annotator.core.model import Flag, MaskAnnotation, MaskLayer, MaskSource, Provenance
from annotator.storage import Store, open_store
from annotator.storage.engine import resolve_url


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.sqlite3")
    try:
        with store.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        store.close()
    assert pragma["journal_mode"] == "wal"
    assert pragma["foreign_keys"] == 1
    assert pragma["synchronous"] == 2  # FULL
    assert pragma["busy_timeout"] >= 1000


def test_writes_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    store = open_store(tmp_path / "b.sqlite3")
    store.verify()  # the soundness check reads once, before the first write
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
        assert statements[0] == "BEGIN IMMEDIATE"
        statements.clear()
        store.get_conversation(cid)
        assert statements[0] == "BEGIN"
    finally:
        store.close()


def test_a_failing_save_leaves_nothing_behind(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
    before = store.get_conversation(cid)
    history_before = store.history(cid)
    extra = MaskAnnotation(
        mask=blob_mask(48, 64, 3),
        layer=MaskLayer.FINAL,
        provenance=Provenance(source=MaskSource.HUMAN, author="b"),
    )
    target = before.target_turn
    broken = replace(
        before,
        focus="changed",
        turns=(*before.turns[:-1], replace(target, masks=(extra,))),
        # Not a FlagCode: fails while writing flags, after the turns and masks were written.
        flags=(Flag("no-such-code", "x"),),  # type: ignore[arg-type]
    )
    with pytest.raises(AttributeError):
        store.save_conversation(broken, actor="b")
    assert store.get_conversation(cid) == before
    assert store.history(cid) == history_before


def test_resolve_url() -> None:
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("rel/x.sqlite3").startswith("sqlite:////")
    assert resolve_url(Path("/tmp/ab.sqlite3")) == "sqlite:////tmp/ab.sqlite3"


def test_odd_file_names_stay_file_names(tmp_path: Path) -> None:
    path = tmp_path / "we?ird #1%20.sqlite3"
    store = open_store(path)
    try:
        store.add_conversations([make_conversation(1)], actor="a")
    finally:
        store.close()
    assert path.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite3"] == [path.name]
