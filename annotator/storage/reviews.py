"""Reviews: stored with what they judged and the status change they cause, and its history, in
one transaction."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.correction import united
from annotator.core.errors import NotFoundError, WorkflowError
from annotator.core.fingerprint import record_fingerprint, turn_fingerprint
from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Decision,
    HistoryEvent,
    MaskLayer,
    Review,
    Turn,
    utcnow,
)
from annotator.core.review_rules import (
    JUDGING,
    ReviewState,
    apply_review,
    check_approvable,
    check_review,
    fold_reviews,
    transition_path,
    verdicts_of,
)
from annotator.storage import conversations, history, reasons, verdicts
from annotator.storage import tables as t
from annotator.storage.convert import review_values

load = verdicts.load


def bind(conv: Conversation, review: Review) -> Review:
    """``review`` with the fingerprint of what it judges and that turn's verified mask, from
    the stored content (never what a client says it saw)."""
    if review.turn_index is not None:
        turn = conv.turns[review.turn_index]
        return replace(review, fingerprint=turn_fingerprint(turn), judged_mask=_final(turn, conv))
    return replace(
        review,
        fingerprint=record_fingerprint(conv),
        turn_fingerprints=tuple(turn_fingerprint(turn) for turn in conv.turns),
        judged_mask=_final(conv.target_turn, conv),
    )


def _final(turn: Turn, conv: Conversation) -> Mask | None:
    masks = [m.mask for m in turn.layer(MaskLayer.FINAL)]
    return united(masks, conv.image.height, conv.image.width) if masks else None


def add(conn: Connection, conv_id: int, review: Review) -> Conversation:
    conv = conversations.load_one(conn, conv_id)
    check_review(review)
    if review.reason is not None:
        reasons.require_active(conn, review.reason)
    turn_count = len(conv.turns)  # apply_review refuses a turn outside it, before bind
    stored = load(conn, conv_id)
    decision = Decision(review.decision)
    if decision == Decision.APPROVE and review.turn_index is None:
        check_approvable(conv, verdicts_of(stored, conv.turns))
    prior = fold_reviews(conv.status, stored, turn_count)
    # The stored status is authoritative (it may have been moved by hand since the last review);
    # the earlier reviews only contribute their per-turn verdicts.
    state = apply_review(ReviewState(conv.status, prior.verdicts), review, turn_count)
    new_status = state.status
    path = transition_path(conv.status, new_status)
    judged = bind(conv, review)
    conn.execute(sa.insert(t.reviews).values(review_values(conv_id, judged)))
    values: dict[str, object] = {"status": new_status.value}
    if decision in JUDGING:
        values["last_reviewer"] = review.reviewer
    if path:
        values["revision"] = t.conversations.c.revision + 1
        values["updated_at"] = review.created_at
    conn.execute(sa.update(t.conversations).where(t.conversations.c.id == conv_id).values(values))
    verdicts.refresh_stale(conn, conv, [*stored, judged])
    events = [
        HistoryEvent(
            actor=review.reviewer,
            action="review",
            detail={
                "decision": decision.value,
                "turn_index": review.turn_index,
                "reason": review.reason,
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


def resolve(conn: Connection, conv_id: int, review_id: int, actor: str) -> Review:
    """Mark a comment of the thread resolved (once); one history event."""
    now = utcnow()
    done = conn.execute(
        sa.update(t.reviews)
        .where(
            t.reviews.c.id == review_id,
            t.reviews.c.conversation_id == conv_id,
            t.reviews.c.resolved_at.is_(None),
        )
        .values(resolved_by=actor, resolved_at=now)
    )
    found = next((r for r in load(conn, conv_id) if r.id == review_id), None)
    if found is None:
        raise NotFoundError(f"conversation {conv_id} has no review {review_id}")
    if done.rowcount != 1:
        raise WorkflowError(f"comment {review_id} is resolved already")
    detail = {"review_id": review_id, "turn_index": found.turn_index}
    history.record(conn, conv_id, [HistoryEvent(actor, "resolve", detail, created_at=now)])
    return found
