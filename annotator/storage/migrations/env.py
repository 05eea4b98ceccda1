"""Alembic environment for the annotator schema.

The application runs migrations on a connection it has already opened inside one transaction
(``config.attributes["connection"]``), so a failing step rolls back every step before it. The
developer command line (``alembic -c db/alembic.ini ...``) builds the engine through the same
engine setup, so SQLite gets the same pragmas and transactional DDL.
"""

from __future__ import annotations

from alembic import context

from annotator.storage.engine import make_engine, resolve_url, write_transaction
from annotator.storage.tables import metadata

config = context.config


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them; batch mode writes migrations that way.
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = resolve_url(config.get_main_option("sqlalchemy.url") or None)
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; use db/make_schema.py")
run_migrations_online()
