"""Claims: which batch worker is proposing for which conversation, so workers never overlap.

A claim expires after its time to live, so the conversations of a worker that died return to
the pool. A batch holds only conversations nobody holds, the asking worker included: a worker
loop that cannot finish a conversation does not get it back again and again (``claim_one``
renews a claim on purpose). On PostgreSQL the candidates are locked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers pick different rows without waiting on each
other; on SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises them. Either
way the insert only takes rows that are unclaimed or expired, so a race can make a worker get
fewer rows, never the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.listing import ListQuery
from annotator.core.model import utcnow
from annotator.storage import listing, proposals
from annotator.storage import tables as t

c = t.conversations.c
k = t.claims.c


def claim_batch(
    conn: Connection,
    proposer: str,
    version: str,
    query: ListQuery,
    worker: str,
    limit: int,
    ttl: timedelta,
    shard: tuple[int, int] | None = None,
) -> list[int]:
    now = utcnow()
    held = sa.exists().where(
        k.conversation_id == c.id,
        k.proposer == proposer,
        k.proposer_version == version,
        k.expires_at > now,
    )
    stmt = (
        listing.filtered(sa.select(c.id), query, conn.dialect.name)
        .where(
            *proposals.shard_filter(shard),
            proposals.needing_filter(proposer, version),
            ~held,
        )
        .order_by(c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=t.conversations)
    candidates = list(conn.execute(stmt).scalars())
    return _take(conn, candidates, proposer, version, worker, now + ttl, now)


def claim_one(
    conn: Connection, conv_id: int, proposer: str, version: str, worker: str, ttl: timedelta
) -> bool:
    now = utcnow()
    return bool(_take(conn, [conv_id], proposer, version, worker, now + ttl, now))


def _take(
    conn: Connection,
    ids: Sequence[int],
    proposer: str,
    version: str,
    worker: str,
    expires: datetime,
    now: datetime,
) -> list[int]:
    """Insert or renew claims on ``ids``; returns the ids actually taken."""
    if not ids:
        return []
    rows = [
        {
            "conversation_id": cid,
            "proposer": proposer,
            "proposer_version": version,
            "worker": worker,
            "expires_at": expires,
        }
        for cid in ids
    ]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(t.claims)
    stmt = stmt.on_conflict_do_update(
        index_elements=[k.conversation_id, k.proposer, k.proposer_version],
        set_={"worker": stmt.excluded.worker, "expires_at": stmt.excluded.expires_at},
        where=sa.or_(t.claims.c.expires_at <= now, t.claims.c.worker == worker),
    ).returning(t.claims.c.conversation_id)
    taken: list[int] = []
    for row in rows:  # RETURNING of a multi-row upsert is not reliable on every SQLite version
        taken.extend(conn.execute(stmt, row).scalars())
    return sorted(taken)


def release(conn: Connection, ids: Sequence[int], proposer: str, version: str, worker: str) -> int:
    if not ids:
        return 0
    result = conn.execute(
        sa.delete(t.claims).where(
            k.conversation_id.in_(list(ids)),
            k.proposer == proposer,
            k.proposer_version == version,
            k.worker == worker,
        )
    )
    return int(result.rowcount)
