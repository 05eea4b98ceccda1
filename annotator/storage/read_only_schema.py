"""A database opened read-only is read with the schema it has: one that needs an upgrade (or
holds none) is refused before the upgrade would copy it for a backup or try to change it."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from annotator.core.errors import StorageError
from annotator.storage import migrate
from annotator.storage.engine import read_only_reason, sqlite_path


def refuse_read_only_upgrade(engine: Engine) -> None:
    """Nothing for a writable database; a read-only one must be at the shipped schema."""
    why = read_only_reason(engine)
    if not why:
        return
    found = migrate.stored_revisions(engine)
    if found == [migrate.SHIPPED_HEAD]:
        return  # the usual case, decided without importing Alembic
    head = migrate.head_revision()
    if found != [head]:
        raise StorageError(
            f"the database {sqlite_path(str(engine.url))} is open for reading only because "
            f"{why}, and its schema ({', '.join(found or []) or 'none'}) is not the one this "
            f"version reads ({head}): open it once where it can be written"
        )
