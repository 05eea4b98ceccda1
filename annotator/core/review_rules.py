"""How reviews move a conversation's status (pure rules; storage applies them in a transaction).

Reviews are folded in order into per-turn verdicts:

- a whole-conversation APPROVE approves every turn -> approved;
- a whole-conversation REJECT -> rejected (turn verdicts kept);
- a whole-conversation REOPEN clears every verdict -> in_review;
- a per-turn APPROVE/REJECT sets that turn's verdict, a per-turn REOPEN clears it; the status then
  follows from the turns: any turn rejected -> rejected, every turn approved -> approved,
  otherwise in_review (the review is under way);
- COMMENT changes nothing.

A conversation may only become approved when its target (last) turn has a non-empty final mask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from annotator.core.errors import WorkflowError
from annotator.core.model import Conversation, Decision, MaskLayer, ReasonCode, Review
from annotator.core.prist_rules import check_conversation
from annotator.core.status import ALLOWED, Status


@dataclass
class ReviewState:
    """The outcome of the reviews so far: the status and each turn's latest verdict."""

    status: Status
    verdicts: dict[int, Decision] = field(default_factory=dict)


def apply_review(state: ReviewState, review: Review, turn_count: int) -> ReviewState:
    """The state after ``review`` (a new object; ``state`` is not changed)."""
    verdicts = dict(state.verdicts)
    decision = Decision(review.decision)
    if decision == Decision.COMMENT:
        return ReviewState(state.status, verdicts)
    if review.turn_index is None:
        if decision == Decision.APPROVE:
            return ReviewState(Status.APPROVED, dict.fromkeys(range(turn_count), Decision.APPROVE))
        if decision == Decision.REJECT:
            return ReviewState(Status.REJECTED, verdicts)
        return ReviewState(Status.IN_REVIEW, {})
    if not 0 <= review.turn_index < turn_count:
        raise WorkflowError(
            f"review of turn {review.turn_index}, but the conversation has {turn_count} turns"
        )
    if decision == Decision.REOPEN:
        verdicts.pop(review.turn_index, None)
    else:
        verdicts[review.turn_index] = decision
    return ReviewState(status_from_verdicts(verdicts, turn_count), verdicts)


def status_from_verdicts(verdicts: dict[int, Decision], turn_count: int) -> Status:
    if any(v == Decision.REJECT for v in verdicts.values()):
        return Status.REJECTED
    if turn_count > 0 and all(verdicts.get(i) == Decision.APPROVE for i in range(turn_count)):
        return Status.APPROVED
    return Status.IN_REVIEW


def fold_reviews(initial: Status, reviews: Iterable[Review], turn_count: int) -> ReviewState:
    state = ReviewState(initial)
    for review in reviews:
        state = apply_review(state, review, turn_count)
    return state


@dataclass(frozen=True)
class Verdict:
    """A turn's standing verdict and who gave it (the reason only for a per-turn review)."""

    decision: Decision
    reason: ReasonCode | None
    reviewer: str


def verdicts_of(reviews: Iterable[Review], turn_count: int) -> dict[int, Verdict]:
    """Each turn's standing verdict, folded by the same rules that set the status (a
    whole-record approve approves every turn, a reopen clears them); reviews of turns that no
    longer exist are passed over."""
    state = ReviewState(Status.IN_REVIEW)
    given: dict[int, Review] = {}
    for r in reviews:  # stored order
        try:
            state = apply_review(state, r, turn_count)
        except WorkflowError:
            continue
        if r.turn_index is not None:
            given[r.turn_index] = r
        elif r.decision == Decision.APPROVE:
            given.update(dict.fromkeys(range(turn_count), r))
    out: dict[int, Verdict] = {}
    for t, d in state.verdicts.items():
        if t in given:
            r = given[t]
            out[t] = Verdict(d, r.reason if r.turn_index is not None else None, r.reviewer)
    return out


def transition_path(current: Status, new: Status) -> list[Status]:
    """The statuses to pass through from ``current`` to ``new`` (excluding ``current``).

    A decision may go through in_review when the direct move is not allowed (e.g. a rejected
    conversation whose last rejected turn gets approved is reopened, then approved); each step is
    recorded as its own history event.
    """
    if current == new:
        return []
    if new in ALLOWED[current]:
        return [new]
    if Status.IN_REVIEW in ALLOWED[current] and new in ALLOWED[Status.IN_REVIEW]:
        return [Status.IN_REVIEW, new]
    raise WorkflowError(f"cannot move a conversation from {current} to {new}")


def check_approvable(conv: Conversation) -> None:
    """Approval needs the PRIST rules kept (``core.prist_rules``) and a non-empty final mask on
    the target turn."""
    if not conv.turns:
        raise WorkflowError("cannot approve a conversation without turns")
    breaches = check_conversation(conv)
    if breaches:
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        raise WorkflowError(f"cannot approve: {breaches[0]}{more}")
    target = conv.target_turn
    if not any(not m.mask.is_empty for m in target.layer(MaskLayer.FINAL)):
        raise WorkflowError(
            f"cannot approve: the target turn {target.index} has no non-empty final mask"
        )
