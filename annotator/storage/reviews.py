"""Reviews: stored with the status change they cause and its history, in one transaction."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.model import Conversation, Decision, HistoryEvent, Review
from annotator.core.review_rules import (
    ReviewState,
    apply_review,
    check_approvable,
    fold_reviews,
    transition_path,
)
from annotator.core.status import Status
from annotator.storage import conversations, history
from annotator.storage import tables as t
from annotator.storage.convert import review_from_row, review_values


def load(conn: Connection, conv_id: int) -> list[Review]:
    rows = conn.execute(
        sa.select(t.reviews).where(t.reviews.c.conversation_id == conv_id).order_by(t.reviews.c.id)
    ).mappings()
    return [review_from_row(r) for r in rows]


def add(conn: Connection, conv_id: int, review: Review) -> Conversation:
    conv = conversations.load_one(conn, conv_id)
    turn_count = len(conv.turns)
    prior = fold_reviews(conv.status, load(conn, conv_id), turn_count)
    # The stored status is authoritative (it may have been moved by hand since the last review);
    # the earlier reviews only contribute their per-turn verdicts.
    state = apply_review(ReviewState(conv.status, prior.verdicts), review, turn_count)
    new_status = state.status
    if new_status == Status.APPROVED and conv.status != Status.APPROVED:
        check_approvable(conv)
    path = transition_path(conv.status, new_status)
    conn.execute(sa.insert(t.reviews).values(review_values(conv_id, review)))
    values: dict[str, object] = {"status": new_status.value}
    if Decision(review.decision) != Decision.COMMENT:
        values["last_reviewer"] = review.reviewer
    if path:
        values["revision"] = t.conversations.c.revision + 1
        values["updated_at"] = review.created_at
    conn.execute(sa.update(t.conversations).where(t.conversations.c.id == conv_id).values(values))
    events = [
        HistoryEvent(
            actor=review.reviewer,
            action="review",
            detail={
                "decision": Decision(review.decision).value,
                "turn_index": review.turn_index,
                "reason": review.reason.value if review.reason is not None else None,
                "comment": review.comment,
            },
            created_at=review.created_at,
        )
    ]
    previous = conv.status
    for step in path:
        events.append(
            HistoryEvent(
                actor=review.reviewer,
                action="status",
                detail={"from": previous.value, "to": step.value},
                created_at=review.created_at,
            )
        )
        previous = step
    history.record(conn, conv_id, events)
    return conversations.load_one(conn, conv_id)
