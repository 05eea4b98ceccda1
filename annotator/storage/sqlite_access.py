"""Whether a SQLite file can be written, and how to open it for reading when it cannot.

What SQLite needs (measured with SQLite 3.40 as a user without write permission):
- a WAL database whose file is read-only but whose folder is writable opens with ``mode=ro``;
  SQLite makes the ``-wal`` and ``-shm`` files beside it as usual;
- in a read-only folder ``mode=ro`` alone fails (SQLITE_READONLY_DIRECTORY) unless the ``-shm``
  file is already there; without it only ``immutable=1`` reads, which takes no locks and ignores
  the ``-wal`` file: right when there is none (nobody can be writing: a writer needs the
  ``-shm``), silently stale when one holds changes, so that case is refused;
- a ``-shm`` (or ``-wal``) left read-only beside a writable database, by a program run as
  another user, makes every write fail with "attempt to write a readonly database", which blames
  the wrong file: it is named instead.
A database opened this way is read-only for the whole session; writes are refused before they
start, with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from annotator.core.errors import StorageError


@dataclass(frozen=True)
class SqliteAccess:
    read_only: str = ""  # why it cannot be written ("" when it can), naming the file
    immutable: bool = False  # read with immutable=1: no -shm can be made beside it

    def uri(self, path: Path) -> str:
        """The SQLite URI that opens ``path`` for reading only."""
        flags = "mode=ro&immutable=1" if self.immutable else "mode=ro"
        return f"{path.resolve().as_uri()}?{flags}"  # "?" and "#" in the name are escaped


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def sqlite_access(path: Path) -> SqliteAccess:
    """How to open the database file ``path`` (one that does not exist yet is created)."""
    if not path.exists():
        return SqliteAccess()
    folder = path.parent
    shm, wal = Path(f"{path}-shm"), Path(f"{path}-wal")
    if not _writable(path):
        why = f"the file {path} is read-only"
    elif not _writable(folder):
        why = f"its folder {folder} is read-only"
    else:
        for side in (shm, wal):
            if side.exists() and not _writable(side):
                return SqliteAccess(
                    f"{side} is read-only while the database is writable (left by a program "
                    "run as another user?): delete it when no program has the database open"
                )
        return SqliteAccess()
    if _writable(folder) or shm.exists():
        return SqliteAccess(why)
    if wal.exists() and wal.stat().st_size > 0:
        raise StorageError(
            f"{path} cannot be read: {wal.name} beside it holds changes not yet in the file, "
            f"and as {why} SQLite cannot make the {shm.name} file it needs to read them; open "
            "it once where it can be written"
        )
    return SqliteAccess(why, immutable=True)
