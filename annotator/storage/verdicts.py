"""Reviews as stored, and the list column that says how many verdicts are stale.

Kept apart from ``storage.reviews`` so that saving a conversation (``storage.conversations``)
can keep the column in step in its own transaction without importing the review workflow."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.model import Conversation, Decision, Review
from annotator.core.review_rules import stale_turns
from annotator.storage import tables as t
from annotator.storage.convert import review_from_row


def load(conn: Connection, conv_id: int) -> list[Review]:
    rows = conn.execute(
        sa.select(t.reviews).where(t.reviews.c.conversation_id == conv_id).order_by(t.reviews.c.id)
    ).mappings()
    return [review_from_row(r) for r in rows]


def refresh_stale(conn: Connection, conv: Conversation, reviews: list[Review]) -> int:
    """Store how many of ``conv``'s turn verdicts are stale; returns the count."""
    assert conv.id is not None
    count = len(stale_turns(conv, reviews)) if reviews else 0
    conn.execute(
        sa.update(t.conversations)
        .where(t.conversations.c.id == conv.id, t.conversations.c.stale_verdicts != count)
        .values(stale_verdicts=count)
    )
    return count


def second_reviews(conn: Connection) -> list[tuple[int, int, list[Review]]]:
    """(conversation id, turn count, its reviews) of every live conversation for which a
    second review was asked: what review agreement is measured on."""
    asked = sa.select(t.reviews.c.conversation_id).where(
        t.reviews.c.decision == Decision.REQUEST_SECOND.value
    )
    convs = dict(
        conn.execute(
            sa.select(t.conversations.c.id, t.conversations.c.turn_count).where(
                t.conversations.c.id.in_(asked), t.LIVE
            )
        ).all()
    )
    by_conv: dict[int, list[Review]] = {cid: [] for cid in convs}
    for row in conn.execute(
        sa.select(t.reviews)
        .where(t.reviews.c.conversation_id.in_(list(convs)))
        .order_by(t.reviews.c.id)
    ).mappings():
        by_conv[row["conversation_id"]].append(review_from_row(row))
    return [(cid, convs[cid], by_conv[cid]) for cid in sorted(convs)]
