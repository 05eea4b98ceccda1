"""Bring a database to the current schema with the Alembic migrations shipped in the package.

Before any pending migration of an existing SQLite database, a consistent copy of the file is
written next to it (SQLite's online backup, so WAL content is included). All pending migrations
then run in ONE transaction: SQLite DDL is transactional with the engine's BEGIN recipe, as is
PostgreSQL's, so a migration that fails half-way leaves the database exactly as it was.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from annotator.core.errors import StorageError
from annotator.storage.engine import read_transaction, sqlite_path, write_transaction

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(script_location: Path | str = MIGRATIONS_DIR) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def head_revision(script_location: Path | str = MIGRATIONS_DIR) -> str:
    head = ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()
    if head is None:
        raise StorageError(f"no migrations found in {script_location}")
    return head


def current_revision(engine: Engine) -> str | None:
    with read_transaction(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def backup_sqlite(path: Path, label: str) -> Path:
    """Copy the database to ``<name>.before-<label>-<utc time>.bak`` and return that path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.before-{label}-{stamp}.bak")
    src = sqlite3.connect(path)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def upgrade(engine: Engine, script_location: Path | str = MIGRATIONS_DIR) -> Path | None:
    """Apply pending migrations; returns the backup file written (SQLite with data), if any."""
    head = head_revision(script_location)
    with read_transaction(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(sa.inspect(conn).get_table_names())
    if current == head:
        return None
    if current is None and tables:
        raise StorageError(
            f"{engine.url.render_as_string(hide_password=True)} holds tables "
            f"({', '.join(sorted(tables)[:5])}) but no annotator schema version; refusing to "
            "touch a database this tool did not create"
        )
    backup: Path | None = None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if current is not None and path is not None:
        backup = backup_sqlite(path, current)
    cfg = alembic_config(script_location)
    try:
        with write_transaction(engine) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except Exception as exc:
        where = f"; the copy made before it is {backup}" if backup else ""
        raise StorageError(
            f"migrating the database from {current or 'empty'} to {head} failed and was rolled "
            f"back ({type(exc).__name__}: {exc}){where}"
        ) from exc
    return backup
