"""Migrations: the shipped schema matches the tables, golden databases upgrade with every row,
a failing migration leaves the database untouched, and a backup is made before migrating."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from annotator.core.errors import StorageError
from annotator.storage import ListQuery, open_store
from annotator.storage.engine import make_engine
from annotator.storage.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from annotator.storage.tables import metadata

DATA = Path(__file__).parent / "data"
GOLDEN = sorted(DATA.glob("golden_v*.sqlite3"))


def dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as dicts (sorted), read with plain sqlite3."""
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: sorted((dict(r) for r in con.execute(f'SELECT * FROM "{table}"')), key=repr)
            for table in tables
        }
    finally:
        con.close()


def columns(path: Path, table: str) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
    finally:
        con.close()


def test_migrations_create_exactly_the_tables(tmp_path: Path) -> None:
    store = open_store(tmp_path / "fresh.sqlite3")
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"tables.py and the migrations disagree: {diff}"
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()
    assert not list(tmp_path.glob("*.bak")), "a new database needs no backup"


def test_golden_databases_exist() -> None:
    assert (DATA / "golden_v1.sqlite3").is_file()


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_golden_database_upgrades_with_every_row(golden: Path, tmp_path: Path) -> None:
    db = tmp_path / golden.name
    shutil.copy(golden, db)
    before = dump(db)
    assert sum(len(rows) for rows in before.values()) > 20
    store = open_store(db)
    try:
        assert current_revision(store.engine) == head_revision()
        stats = store.stats()
        convs = list(store.iter_conversations())
    finally:
        store.close()
    after = dump(db)
    for table, rows in before.items():
        if table == "alembic_version" or not rows:
            continue
        assert table in after, f"table {table} disappeared"
        old_cols = list(rows[0])
        projected = sorted(({c: r[c] for c in old_cols} for r in after[table]), key=repr)
        assert projected == rows, f"rows of {table} changed"
    live = [r for r in before["conversations"] if r.get("deleted_at") is None]
    assert stats["conversations"] == len(live) == len(convs)  # soft-deleted ones are counted apart
    assert stats["conversations"] + stats["deleted"] == len(before["conversations"])
    assert stats["masks"] == len(before["masks"])
    turn_counts = {r["id"]: r["turn_count"] for r in before["conversations"]}
    for conv in convs:
        assert len(conv.turns) == turn_counts[conv.id]
        for turn in conv.turns:
            for ann in turn.masks:
                assert ann.mask.area > 0 and ann.mask.size == (conv.image.height, conv.image.width)


FAILING = """
from alembic import op
import sqlalchemy as sa

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("scratch", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("conversations", sa.Column("note", sa.Text, nullable=True))
    op.execute("UPDATE conversations SET focus = 'overwritten', note = 'x'")
    op.execute("DELETE FROM flags")
    {tail}


def downgrade():
    pass
"""


def _migrations_with(tmp_path: Path, tail: str) -> Path:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_extra.py").write_text(
        FAILING.format(head=head_revision(), tail=tail), encoding="utf-8"
    )
    return location


def test_failing_migration_rolls_back_completely(tmp_path: Path) -> None:
    db = tmp_path / "work.sqlite3"
    shutil.copy(DATA / "golden_v1.sqlite3", db)
    open_store(db).close()  # at the current head, in WAL mode like a database in use
    earlier = set(tmp_path.glob("work.sqlite3.before-*.bak"))  # from reaching the head
    before = dump(db)
    location = _migrations_with(tmp_path, 'raise RuntimeError("step three went wrong")')
    engine = make_engine(f"sqlite:///{db}")
    try:
        with pytest.raises(StorageError, match="step three went wrong") as info:
            upgrade(engine, location)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert "rolled back" in str(info.value)
    assert dump(db) == before, "the failed migration left changes behind"
    assert "note" not in columns(db, "conversations")
    backups = list(set(tmp_path.glob("work.sqlite3.before-*.bak")) - earlier)
    assert len(backups) == 1 and dump(backups[0]) == before
    store = open_store(db)  # still usable with the shipped migrations
    try:
        assert store.count(ListQuery()) == len(before["conversations"])
    finally:
        store.close()


def test_successful_migration_backs_up_first(tmp_path: Path) -> None:
    db = tmp_path / "work.sqlite3"
    shutil.copy(DATA / "golden_v1.sqlite3", db)
    open_store(db).close()
    earlier = set(tmp_path.glob("*.bak"))  # from reaching the head
    before = dump(db)
    location = _migrations_with(tmp_path, "")
    engine = make_engine(f"sqlite:///{db}")
    try:
        backup = upgrade(engine, location)
        assert current_revision(engine) == "9001"
        assert upgrade(engine, location) is None  # nothing pending: no second backup
    finally:
        engine.dispose()
    assert backup is not None and dump(backup) == before
    assert "note" in columns(db, "conversations")
    assert dump(db)["scratch"] == []
    assert all(r["focus"] == "overwritten" for r in dump(db)["conversations"])
    assert len(set(tmp_path.glob("*.bak")) - earlier) == 1


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.execute("INSERT INTO notes (text) VALUES ('keep me')")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="did not create"):
        open_store(db)
    assert dump(db)["notes"] == [{"id": 1, "text": "keep me"}]


def test_committed_schema_files_are_current(tmp_path: Path) -> None:
    import importlib.util

    script = Path(__file__).parent.parent / "db" / "make_schema.py"
    spec = importlib.util.spec_from_file_location("make_schema", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for generated in module.main(tmp_path):
        committed = script.parent / generated.name
        assert committed.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), (
            f"{committed} is stale: run python db/make_schema.py"
        )


def test_an_empty_file_is_not_made_a_new_database(tmp_path: Path) -> None:
    db = tmp_path / "truncated.sqlite3"
    db.write_bytes(b"")
    with pytest.raises(StorageError, match=r"is an empty file \(0 bytes\), not a database"):
        open_store(db)
    assert db.stat().st_size == 0
