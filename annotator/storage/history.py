"""The history of each conversation: every recorded change, oldest first."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.model import HistoryEvent
from annotator.storage import tables as t
from annotator.storage.convert import history_from_row, history_values


def record(conn: Connection, conv_id: int, events: Sequence[HistoryEvent]) -> None:
    if events:
        conn.execute(sa.insert(t.history), [history_values(conv_id, e) for e in events])


def record_many(conn: Connection, rows: Sequence[tuple[int, HistoryEvent]]) -> None:
    if rows:
        conn.execute(sa.insert(t.history), [history_values(cid, e) for cid, e in rows])


def load(conn: Connection, conv_id: int) -> list[HistoryEvent]:
    rows = conn.execute(
        sa.select(t.history).where(t.history.c.conversation_id == conv_id).order_by(t.history.c.id)
    ).mappings()
    return [history_from_row(r) for r in rows]
