"""Engine construction: which database, and how each backend is set up.

SQLite: WAL (readers never block the writer), foreign keys on, ``synchronous=FULL`` and a busy
timeout. FULL rather than NORMAL because a save is acknowledged to the user only after commit,
and in WAL mode NORMAL may drop the last commits on power loss; one fsync per user action costs
nothing a person would notice, and bulk imports are a single transaction anyway.

pysqlite's own transaction handling is switched off (``isolation_level = None``) and the engine
emits BEGIN itself, the documented SQLAlchemy recipe: without it pysqlite commits before DDL, so a
failing migration could not be rolled back. Writes use ``BEGIN IMMEDIATE`` so the single write
lock is taken up front; a deferred transaction that reads and then writes would fail with
SQLITE_BUSY when another writer committed in between, instead of waiting its turn.

A SQLite file this process may not write (or whose folder it may not write) is opened read-only
(:mod:`annotator.storage.sqlite_access`): reading works, every write transaction is refused
before it starts with one line saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError

from annotator.core.appdirs import default_db_path
from annotator.core.errors import StorageError
from annotator.storage.sqlite_access import SqliteAccess, sqlite_access
from annotator.storage.team import refusal

WRITE_OPTION = "annotator_write"
READ_ONLY_OPTION = "annotator_read_only"  # engine-wide: why the database cannot be written
BUSY_TIMEOUT_MS = 30_000


def resolve_url(db: str | Path | None) -> str:
    """``None`` -> $ANNOTATOR_DB or the default file; a path -> SQLite; ``scheme://`` -> as is."""
    if db is None or str(db) == "":
        db = os.environ.get("ANNOTATOR_DB") or default_db_path()
    text = str(db)
    if "://" in text:
        if text.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver the project ships; plain URLs would ask for psycopg2.
            text = "postgresql+psycopg://" + text.split("://", 1)[1]
        return text
    path = Path(text).expanduser().resolve()
    # Built, not formatted: a "?" or "#" in a file name must not turn into URL syntax.
    return sa.engine.URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or ``None`` (another backend, or in-memory)."""
    parsed = sa.engine.make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        access = SqliteAccess()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            access = sqlite_access(path)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False},
            execution_options={READ_ONLY_OPTION: access.read_only} if access.read_only else {},
        )
        if path is not None and access.read_only:
            _open_read_only(engine, access.uri(path))
        _setup_sqlite(engine, writable=not access.read_only)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _open_read_only(engine: Engine, uri: str) -> None:
    """Connect through a ``mode=ro`` URI; the engine's URL stays the plain file (messages and
    ``sqlite_path`` name the file, not the URI)."""

    @event.listens_for(engine, "do_connect")
    def _connect_read_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
        cargs[:] = [uri]
        cparams["uri"] = True


def read_only_reason(engine: Engine) -> str:
    """Why ``engine``'s database was opened read-only; ``""`` when it can be written."""
    return str(engine.get_execution_options().get(READ_ONLY_OPTION, ""))


def refuse_if_read_only(engine: Engine) -> None:
    """Raise the one-line refusal for a write into a database opened read-only."""
    why = read_only_reason(engine)
    if why:
        path = sqlite_path(str(engine.url))
        raise StorageError(
            f"the database {path} is open for reading only because {why}; this change was not saved"
        )


def _setup_sqlite(engine: Engine, *, writable: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if writable:  # setting the journal mode is a write; a read-only file keeps its own
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# What the person can do about the SQLite result codes a write can end with (first match wins).
SQLITE_HINTS = (
    ("SQLITE_FULL", "the disk is full"),
    ("SQLITE_IOERR_WRITE", "the disk may be full or the file has reached a size limit"),
    ("SQLITE_IOERR", "the disk or file system reported an error"),
    ("SQLITE_READONLY", "the file or its folder is read-only"),
    ("SQLITE_BUSY", "another program kept the database locked"),
    ("SQLITE_CANTOPEN", "the file or its folder cannot be opened"),
    ("SQLITE_CORRUPT", "the file is damaged: restore a backup copy"),
    ("SQLITE_NOTADB", "the file is not a SQLite database"),
)


def describe_failure(engine: Engine, exc: DatabaseError, *, writing: bool) -> str:
    """A message naming the database and what the driver reported (disk full, I/O error, locked,
    read-only file), so the person knows where to make room or what to fix."""
    path = sqlite_path(str(engine.url))
    where = str(path) if path is not None else engine.url.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None)
    reason = str(orig or exc).strip() or type(exc).__name__
    code = str(getattr(orig, "sqlite_errorname", ""))
    hint = next((text for prefix, text in SQLITE_HINTS if code.startswith(prefix)), "")
    if hint:
        reason = f"{reason} ({hint})"
    if writing:
        return f"could not write to the database {where}: {reason}; this change was not saved"
    return f"could not read the database {where}: {reason}"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One user action: commits on success, rolls everything back on any exception.

    Driver failures (full disk, file-size limit, I/O error, lock timeout) become a
    :class:`StorageError` naming the database: the transaction was rolled back, so callers can
    keep their unsaved state and offer to retry or export it. A database opened read-only is
    refused before anything starts.
    """
    refuse_if_read_only(engine)
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except DatabaseError as exc:  # a damaged or foreign file too, not only a failing disk
        refused = refusal(exc)  # the team's rules (PostgreSQL), said as rules
        if refused is not None:
            raise refused from exc
        raise StorageError(describe_failure(engine, exc, writing=True)) from exc


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent snapshot for reads that span several queries."""
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except DatabaseError as exc:
        refused = refusal(exc)
        if refused is not None:
            raise refused from exc
        raise StorageError(describe_failure(engine, exc, writing=False)) from exc
