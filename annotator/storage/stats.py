"""Counts over the whole database for ``annotator stats`` and the dashboard."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.review_rules import JUDGING
from annotator.core.status import Status
from annotator.storage import tables as t


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def status_counts(conn: Connection) -> dict[str, int]:
    """Conversations per status value, every status (zeros included)."""
    by_status = {s.value: 0 for s in Status}
    for status, n in conn.execute(
        sa.select(t.conversations.c.status, sa.func.count())
        .where(t.LIVE)
        .group_by(t.conversations.c.status)
    ):
        by_status[status] = int(n)
    return by_status


def collect(conn: Connection) -> dict[str, Any]:
    """conversations, turns, images, masks; by_status (:func:`status_counts`); by_reviewer
    (conversations each person has judged; comments and requests excluded); flagged
    (conversations with at least one flag) and flags_by_code; deleted (soft-deleted
    conversations, counted nowhere else)."""
    by_status = status_counts(conn)
    by_reviewer = {
        name: int(n)
        for name, n in conn.execute(
            sa.select(t.reviews.c.reviewer, sa.func.count(sa.distinct(t.reviews.c.conversation_id)))
            .where(t.reviews.c.decision.in_([d.value for d in JUDGING]))
            .group_by(t.reviews.c.reviewer)
            .order_by(t.reviews.c.reviewer)
        )
    }
    flags_by_code = {
        code: int(n)
        for code, n in conn.execute(
            sa.select(t.flags.c.code, sa.func.count())
            .join_from(t.flags, t.conversations, t.conversations.c.id == t.flags.c.conversation_id)
            .where(t.LIVE)
            .group_by(t.flags.c.code)
            .order_by(t.flags.c.code)
        )
    }
    flagged = conn.execute(
        sa.select(sa.func.count())
        .select_from(t.conversations)
        .where(t.conversations.c.flag_count > 0, t.LIVE)
    ).scalar_one()
    deleted = conn.execute(
        sa.select(sa.func.count()).select_from(t.conversations).where(t.DELETED)
    ).scalar_one()
    return {
        "conversations": sum(by_status.values()),
        "deleted": int(deleted),
        "turns": _count(conn, t.turns),
        "images": _count(conn, t.images),
        "masks": _count(conn, t.masks),
        "by_status": by_status,
        "by_reviewer": by_reviewer,
        "flagged": int(flagged),
        "flags_by_code": flags_by_code,
    }
