"""The size of a reviewer's correction (``annotator.core.correction``) on the target turn, kept
on the conversation row so the list can sort by it. The latest proposal is chosen in SQL by the
same rule as ``latest_per_turn`` (greatest created_at, then id)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.correction import mask_diff, united
from annotator.storage import tables as t
from annotator.storage.convert import unpack_mask


def refresh(conn: Connection, conv_id: int) -> int | None:
    """Recompute and store ``correction_pixels`` (None without a final mask or a proposal)."""
    value = _compute(conn, conv_id)
    conn.execute(
        sa.update(t.conversations)
        .where(t.conversations.c.id == conv_id)
        .values(correction_pixels=value)
    )
    return value


def _compute(conn: Connection, conv_id: int) -> int | None:
    target = conn.execute(
        sa.select(t.turns.c.id, t.turns.c.idx)
        .where(t.turns.c.conversation_id == conv_id)
        .order_by(t.turns.c.idx.desc())
        .limit(1)
    ).first()
    if target is None:
        return None
    finals = [
        unpack_mask(r)
        for r in conn.execute(
            sa.select(t.masks.c.height, t.masks.c.width, t.masks.c.rle).where(
                t.masks.c.turn_id == target.id, t.masks.c.layer == "final"
            )
        ).mappings()
    ]
    if not finals:
        return None
    proposal_id = conn.execute(
        sa.select(t.proposals.c.id)
        .where(t.proposals.c.conversation_id == conv_id, t.proposals.c.turn_index == target.idx)
        .order_by(t.proposals.c.created_at.desc(), t.proposals.c.id.desc())
        .limit(1)
    ).scalar()
    if proposal_id is None:
        return None
    proposed = [
        unpack_mask(r)
        for r in conn.execute(
            sa.select(
                t.proposal_masks.c.height, t.proposal_masks.c.width, t.proposal_masks.c.rle
            ).where(t.proposal_masks.c.proposal_id == proposal_id)
        ).mappings()
    ]
    height, width = finals[0].size
    final = united(finals, height, width)
    proposal = united(proposed, height, width)
    if final is None or proposal is None:
        return None  # masks of different sizes cannot be compared pixel by pixel
    return mask_diff(proposal.to_array(), final.to_array()).changed
