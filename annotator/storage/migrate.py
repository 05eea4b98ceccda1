"""Bring a database to the current schema with the Alembic migrations shipped in the package.

Before any pending migration of an existing SQLite database, a consistent copy of the file is
written next to it (SQLite's online backup, so WAL content is included). All pending migrations
then run in ONE transaction: SQLite DDL is transactional with the engine's BEGIN recipe, as is
PostgreSQL's, so a migration that fails half-way leaves the database exactly as it was.

Opening a database that is already at :data:`SHIPPED_HEAD` reads Alembic's version table with
plain SQL and imports no Alembic (a fifth of a second of imports at every start); a new database,
an older one, or one whose version is unknown goes through Alembic as before.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from annotator.core.errors import StorageError
from annotator.storage.engine import read_transaction, sqlite_path, write_transaction

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The newest revision in migrations/versions. A test asserts it equals the head Alembic finds in
# those scripts, so a new migration cannot ship while databases at the old head skip it.
SHIPPED_HEAD = "0005"

# Alembic's default version table, which migrations/env.py keeps.
VERSION_TABLE = "alembic_version"


def alembic_config(script_location: Path | str = MIGRATIONS_DIR) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def head_revision(script_location: Path | str = MIGRATIONS_DIR) -> str:
    """The head revision of the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()
    if head is None:
        raise StorageError(f"no migrations found in {script_location}")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

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


def stored_revisions(engine: Engine) -> list[str] | None:
    """The revisions in the database's version table, read with plain SQL; ``None`` when the
    table is missing (a new database, or one this tool did not create)."""
    with read_transaction(engine) as conn:
        # The same existence test Alembic makes before it reads the table.
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return [row[0] for row in rows]


def upgrade(engine: Engine, script_location: Path | str = MIGRATIONS_DIR) -> Path | None:
    """Apply pending migrations; returns the backup file written (SQLite with data), if any."""
    if Path(script_location) == MIGRATIONS_DIR and stored_revisions(engine) == [SHIPPED_HEAD]:
        return None  # up to date with the shipped scripts: Alembic has nothing to do
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    head = head_revision(script_location)
    with read_transaction(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(sa.inspect(conn).get_table_names())
    if current == head:
        return None
    if current is not None and not _known(current, script_location):
        raise StorageError(
            f"{engine.url.render_as_string(hide_password=True)} has schema {current}, newer "
            f"than this version of the tool knows (up to {head}): open it with the newer "
            "version that wrote it"
        )
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


def _known(revision: str, script_location: Path | str) -> bool:
    """``revision`` is one of the shipped migration scripts (not from a newer version)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return (
            ScriptDirectory.from_config(alembic_config(script_location)).get_revision(revision)
            is not None
        )
    except CommandError:
        return False
