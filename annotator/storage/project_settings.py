"""Settings the whole project obeys, whoever's client reads them (e.g. blind-first review
required), stored as JSON values under fixed keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.storage import tables as t


def get(conn: Connection, key: str, default: Any = None) -> Any:
    row = conn.execute(
        sa.select(t.project_settings.c.value).where(t.project_settings.c.key == key)
    ).first()
    return default if row is None else row.value


def put(conn: Connection, key: str, value: Any) -> None:
    done = conn.execute(
        sa.update(t.project_settings).where(t.project_settings.c.key == key).values(value=value)
    )
    if done.rowcount == 0:
        conn.execute(sa.insert(t.project_settings).values(key=key, value=value))
