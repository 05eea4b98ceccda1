"""Bring a database to the current schema."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from annotator.storage import tables as t
from annotator.storage.engine import write_transaction


def upgrade(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        t.metadata.create_all(conn)
