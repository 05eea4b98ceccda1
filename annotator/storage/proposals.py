"""Model proposals per turn, and which conversations still need them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from annotator.core.errors import MaskError, NotFoundError
from annotator.core.listing import ListQuery
from annotator.core.mask import Mask
from annotator.core.model import HistoryEvent, Proposal, utcnow
from annotator.core.status import Status
from annotator.storage import correction, history, listing
from annotator.storage import tables as t
from annotator.storage.convert import (
    proposal_from_row,
    proposal_mask_values,
    proposal_values,
    unpack_mask,
)

c = t.conversations.c


def add(conn: Connection, conv_id: int, items: Sequence[Proposal]) -> list[int]:
    """Store proposals; a draft conversation becomes proposed (with its history event)."""
    row = conn.execute(
        sa.select(c.status, c.turn_count, t.images.c.width, t.images.c.height)
        .join_from(t.conversations, t.images, t.images.c.id == c.image_id)
        .where(c.id == conv_id)
    ).first()
    if row is None:
        raise NotFoundError(f"conversation {conv_id} does not exist")
    for p in items:
        if not 0 <= p.turn_index < row.turn_count:
            raise NotFoundError(
                f"proposal for turn {p.turn_index}, but conversation {conv_id} has "
                f"{row.turn_count} turns"
            )
        for m in p.masks:
            if m.size != (row.height, row.width):
                raise MaskError(
                    f"proposed mask {m.height}x{m.width} does not fit image "
                    f"{row.height}x{row.width}",
                    record=conv_id,
                )
    if not items:
        return []
    ids = list(
        conn.execute(
            sa.insert(t.proposals).returning(t.proposals.c.id, sort_by_parameter_order=True),
            [proposal_values(conv_id, p) for p in items],
        ).scalars()
    )
    mask_rows = [
        proposal_mask_values(pid, pos, m)
        for pid, p in zip(ids, items, strict=True)
        for pos, m in enumerate(p.masks)
    ]
    if mask_rows:
        conn.execute(sa.insert(t.proposal_masks), mask_rows)
    actor = f"{items[0].proposer}@{items[0].proposer_version}"
    events = [
        HistoryEvent(
            actor=actor,
            action="proposal",
            detail={"proposal_ids": ids, "turns": sorted({p.turn_index for p in items})},
        )
    ]
    if Status(row.status) == Status.DRAFT:
        now = utcnow()
        conn.execute(
            sa.update(t.conversations)
            .where(c.id == conv_id)
            .values(status=Status.PROPOSED.value, revision=c.revision + 1, updated_at=now)
        )
        events.append(
            HistoryEvent(
                actor=actor,
                action="status",
                detail={"from": Status.DRAFT.value, "to": Status.PROPOSED.value},
                created_at=now,
            )
        )
    history.record(conn, conv_id, events)
    correction.refresh(conn, conv_id)
    return ids


def load(
    conn: Connection, conv_id: int, turn_index: int | None, proposer: str | None
) -> list[Proposal]:
    stmt = sa.select(t.proposals).where(t.proposals.c.conversation_id == conv_id)
    if turn_index is not None:
        stmt = stmt.where(t.proposals.c.turn_index == turn_index)
    if proposer is not None:
        stmt = stmt.where(t.proposals.c.proposer == proposer)
    rows = list(conn.execute(stmt.order_by(t.proposals.c.id)).mappings())
    masks: dict[int, list[Mask]] = defaultdict(list)
    if rows:
        for r in conn.execute(
            sa.select(t.proposal_masks)
            .where(t.proposal_masks.c.proposal_id.in_([r["id"] for r in rows]))
            .order_by(t.proposal_masks.c.proposal_id, t.proposal_masks.c.position)
        ).mappings():
            masks[r["proposal_id"]].append(unpack_mask(r))
    return [proposal_from_row(r, masks[r["id"]]) for r in rows]


def needing_filter(proposer: str, version: str) -> ColumnElement[bool]:
    """Conversations with fewer turns answered by this proposer version than they have turns."""
    answered = (
        sa.select(sa.func.count(sa.distinct(t.proposals.c.turn_index)))
        .where(
            t.proposals.c.conversation_id == c.id,
            t.proposals.c.proposer == proposer,
            t.proposals.c.proposer_version == version,
        )
        .scalar_subquery()
    )
    return answered < c.turn_count


def shard_filter(shard: tuple[int, int] | None) -> list[ColumnElement[bool]]:
    if shard is None:
        return []
    k, n = shard
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"shard must be (k, n) with 0 <= k < n, got {shard}")
    return [c.id % n == k]


def needing(
    conn: Connection,
    proposer: str,
    version: str,
    query: ListQuery,
    shard: tuple[int, int] | None,
    limit: int | None,
) -> list[int]:
    stmt = (
        listing.filtered(sa.select(c.id), query, conn.dialect.name)
        .where(*shard_filter(shard), needing_filter(proposer, version))
        .order_by(c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(conn.execute(stmt).scalars())
