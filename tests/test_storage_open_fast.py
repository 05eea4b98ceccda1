"""Opening a database already at the shipped schema reads the version with plain SQL and leaves
Alembic unimported; new, older and unknown databases still go through Alembic as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from annotator.core.errors import StorageError
from annotator.storage import ListQuery, open_store
from annotator.storage.engine import make_engine
from annotator.storage.migrate import (
    MIGRATIONS_DIR,
    SHIPPED_HEAD,
    current_revision,
    head_revision,
    stored_revisions,
    upgrade,
)

DATA = Path(__file__).parent / "data"

# A migration after the shipped head, for a database that is older than its scripts.
NEXT_MIGRATION = """
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("conversations", sa.Column("note", sa.Text, nullable=True))


def downgrade():
    pass
"""

# Opens the database named in argv[1] in a fresh interpreter and reports what that loaded.
OPEN_SNIPPET = """
import json, sys
from annotator.storage import ListQuery, open_store
store = open_store(sys.argv[1])
try:
    count = store.count(ListQuery())
finally:
    store.close()
print(json.dumps({"count": count, "alembic": "alembic" in sys.modules}))
"""


def _open_in_subprocess(db: str | Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_SNIPPET, str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.splitlines()[-1]))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "a.sqlite3")


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, read with plain sqlite3."""
    con = sqlite3.connect(path)
    try:
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return {
            name: con.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
            for (name,) in names.fetchall()
        }
    finally:
        con.close()


def _scripts_with_newer_head(tmp_path: Path) -> Path:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_note.py").write_text(
        NEXT_MIGRATION.format(head=SHIPPED_HEAD), encoding="utf-8"
    )
    return location


def _set_version(db: str, revision: str) -> None:
    engine = make_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        engine.dispose()


def test_shipped_head_is_the_head_of_the_migration_scripts() -> None:
    assert head_revision() == SHIPPED_HEAD, (
        "a migration was added: set SHIPPED_HEAD in annotator/storage/migrate.py to its revision"
    )


def test_up_to_date_database_opens_without_alembic(db: str) -> None:
    first = _open_in_subprocess(db)  # a new database: Alembic creates the schema
    assert first == {"count": 0, "alembic": True}
    again = _open_in_subprocess(db)
    assert again == {"count": 0, "alembic": False}
    engine = make_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        assert stored_revisions(engine) == [SHIPPED_HEAD]
        assert current_revision(engine) == SHIPPED_HEAD
    finally:
        engine.dispose()


def test_golden_database_opens_with_every_row(tmp_path: Path) -> None:
    db = tmp_path / "golden_v1.sqlite3"
    shutil.copy(DATA / "golden_v1.sqlite3", db)
    with sqlite3.connect(db) as con:
        (version,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    before = dump(db)
    opened = _open_in_subprocess(db)
    assert opened["count"] == len(before["conversations"])
    # Alembic is needed exactly when the golden file is older than the shipped scripts.
    assert opened["alembic"] == (version != SHIPPED_HEAD)
    after = dump(db)
    assert after["alembic_version"] == [(SHIPPED_HEAD,)]
    # Columns later schemas add come last; the golden file's own are unchanged.
    width = len(before["conversations"][0])
    assert [row[:width] for row in after["conversations"]] == before["conversations"]


def test_database_older_than_its_scripts_still_migrates(tmp_path: Path) -> None:
    db = tmp_path / "work.sqlite3"
    shutil.copy(DATA / "golden_v1.sqlite3", db)
    open_store(db).close()
    before = dump(db)
    engine = make_engine(f"sqlite:///{db}")
    try:
        backup = upgrade(engine, _scripts_with_newer_head(tmp_path))
        assert stored_revisions(engine) == ["9001"]
    finally:
        engine.dispose()
    assert backup is not None and dump(backup) == before
    with sqlite3.connect(db) as con:
        assert "note" in [r[1] for r in con.execute("PRAGMA table_info(conversations)")]


@pytest.mark.parametrize("revision", ["ffff", "9001"], ids=["unknown", "newer"])
def test_unknown_or_newer_version_is_refused_without_a_backup(
    db: str, revision: str, tmp_path: Path
) -> None:
    open_store(db).close()
    _set_version(db, revision)
    before = dump(Path(db)) if "://" not in db else None
    with pytest.raises(StorageError) as info:
        open_store(db)
    message = str(info.value)
    # Refused for what it is, before any copy is made (one was written at every start).
    assert f"has schema {revision}, newer than this version of the tool knows" in message
    assert f"(up to {SHIPPED_HEAD})" in message
    if before is not None:
        assert dump(Path(db)) == before
        assert not [p for p in Path(db).parent.iterdir() if ".bak" in p.name]
    engine = make_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        assert stored_revisions(engine) == [revision]
    finally:
        engine.dispose()


def test_empty_version_table_is_refused_as_before(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    open_store(db).close()
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM alembic_version")
    with pytest.raises(StorageError, match="did not create"):
        open_store(db)


def test_new_database_gets_the_schema(tmp_path: Path) -> None:
    store = open_store(tmp_path / "new.sqlite3")
    try:
        assert store.count(ListQuery()) == 0
        assert stored_revisions(store.engine) == [SHIPPED_HEAD]
    finally:
        store.close()
    assert not list(tmp_path.glob("*.bak"))
