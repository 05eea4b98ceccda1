"""How reviews move a conversation's status and what each turn's verdict is (pure rules;
storage applies them in a transaction).

Reviews are folded in stored order:

- a whole-record APPROVE approves the record and every turn in it -> approved;
- a whole-record REJECT (a reason code is required) -> rejected; turn verdicts are kept;
- a whole-record REOPEN (its comment says why) clears every verdict -> in_review;
- a per-turn APPROVE/REJECT (a reject needs a reason) sets that turn's verdict, a per-turn
  REOPEN clears it. Turn verdicts add up but never decide the record: the record decision is its
  own step. They only move a draft or proposed record to in_review (the review is under way);
- COMMENT and REQUEST_SECOND change no status.

Every verdict is bound to what it judged: the review stores the fingerprint of the turn (or,
for a whole-record review, of each turn) as it was then (``core.fingerprint``). A verdict whose
turn has changed since is *stale*: it is shown as such and approval is refused until the turn is
judged again.

Approval needs: the PRIST rules kept, every answer verified (a verified answer, not the draft),
a non-empty final mask on the target turn, no turn rejected and no stale turn verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from annotator.core.errors import WorkflowError
from annotator.core.fingerprint import turn_fingerprint
from annotator.core.model import Conversation, Decision, MaskLayer, Review, Turn
from annotator.core.prist_rules import check_conversation
from annotator.core.status import ALLOWED, Status

# The project setting (stored in the database) that makes blind-first review mandatory.
BLIND_FIRST_REQUIRED = "blind_first_required"

# Decisions that judge (a verdict); the others are talk.
JUDGING = frozenset({Decision.APPROVE, Decision.REJECT, Decision.REOPEN})


@dataclass
class ReviewState:
    """The outcome of the reviews so far: the status and the review behind each turn's
    standing verdict."""

    status: Status
    verdicts: dict[int, Review] = field(default_factory=dict)


def check_review(review: Review) -> None:
    """What a review must carry to be stored: a reason for a reject, a why for a reopen of the
    record."""
    decision = Decision(review.decision)
    if decision == Decision.REJECT and not review.reason:
        what = "a turn" if review.turn_index is not None else "a record"
        raise WorkflowError(f"rejecting {what} needs a reason code")
    if decision == Decision.REOPEN and review.turn_index is None and not review.comment.strip():
        raise WorkflowError("reopening a record needs a reason (say why in the comment)")
    if decision == Decision.COMMENT and not review.comment.strip() and not review.reason:
        raise WorkflowError("a comment needs text")


def apply_review(state: ReviewState, review: Review, turn_count: int) -> ReviewState:
    """The state after ``review`` (a new object; ``state`` is not changed)."""
    verdicts = dict(state.verdicts)
    decision = Decision(review.decision)
    if decision not in JUDGING:
        return ReviewState(state.status, verdicts)
    if review.turn_index is None:
        if decision == Decision.APPROVE:
            return ReviewState(Status.APPROVED, dict.fromkeys(range(turn_count), review))
        if decision == Decision.REJECT:
            return ReviewState(Status.REJECTED, verdicts)
        return ReviewState(Status.IN_REVIEW, {})
    if not 0 <= review.turn_index < turn_count:
        raise WorkflowError(
            f"review of turn {review.turn_index + 1}, but the conversation has {turn_count} turns"
        )
    if decision == Decision.REOPEN:
        verdicts.pop(review.turn_index, None)
    else:
        verdicts[review.turn_index] = review
    under_way = state.status in (Status.DRAFT, Status.PROPOSED)
    return ReviewState(Status.IN_REVIEW if under_way else state.status, verdicts)


def fold_reviews(initial: Status, reviews: Iterable[Review], turn_count: int) -> ReviewState:
    """Reviews of turns that no longer exist are passed over (a turn removed later takes its
    reviews with it in storage; files may still carry them)."""
    state = ReviewState(initial)
    for review in reviews:
        try:
            state = apply_review(state, review, turn_count)
        except WorkflowError:
            continue
    return state


@dataclass(frozen=True)
class Verdict:
    """A turn's standing verdict: who gave it, why, and whether the turn changed since."""

    decision: Decision
    reason: str | None  # only for a per-turn review
    reviewer: str
    stale: bool = False  # the turn's content is no longer what was judged
    review_id: int | None = None


def judged_fingerprint(review: Review, turn: int) -> str:
    """What ``review`` saw of ``turn`` ("" when it did not record it: reviews from before
    fingerprints, or from files that carry none)."""
    if review.turn_index is not None:
        return review.fingerprint if review.turn_index == turn else ""
    fps = review.turn_fingerprints
    return fps[turn] if turn < len(fps) else ""


def verdicts_of(reviews: Iterable[Review], turns: Sequence[Turn]) -> dict[int, Verdict]:
    """Each turn's standing verdict, folded by the same rules that set the status."""
    state = fold_reviews(Status.IN_REVIEW, reviews, len(turns))
    out: dict[int, Verdict] = {}
    for t, r in state.verdicts.items():
        judged = judged_fingerprint(r, t)
        out[t] = Verdict(
            decision=Decision(r.decision),
            reason=r.reason if r.turn_index is not None else None,
            reviewer=r.reviewer,
            stale=bool(judged) and judged != turn_fingerprint(turns[t]),
            review_id=r.id,
        )
    return out


def stale_turns(conv: Conversation, reviews: Sequence[Review]) -> set[int]:
    """Turns (0-based) whose standing verdict was given on content that has changed since."""
    return {t for t, v in verdicts_of(reviews, conv.turns).items() if v.stale}


def judged_by(reviews: Iterable[Review], reviewer: str, turn_count: int) -> set[int]:
    """The turns ``reviewer`` has judged (a whole-record decision judges every turn): what
    blind-first review may show them."""
    out: set[int] = set()
    for r in reviews:
        if r.reviewer != reviewer or Decision(r.decision) not in JUDGING:
            continue
        if r.turn_index is None:
            out.update(range(turn_count))
        elif 0 <= r.turn_index < turn_count:
            out.add(r.turn_index)
    return out


def transition_path(current: Status, new: Status) -> list[Status]:
    """The statuses to pass through from ``current`` to ``new`` (excluding ``current``).

    A decision may go through in_review when the direct move is not allowed (e.g. a rejected
    conversation approved is reopened, then approved); each step is recorded as its own
    history event.
    """
    if current == new:
        return []
    if new in ALLOWED[current]:
        return [new]
    if Status.IN_REVIEW in ALLOWED[current] and new in ALLOWED[Status.IN_REVIEW]:
        return [Status.IN_REVIEW, new]
    raise WorkflowError(f"cannot move a conversation from {current} to {new}")


def approve_blockers(conv: Conversation, verdicts: dict[int, Verdict]) -> list[str]:
    """Why ``conv`` cannot be approved as it stands, one line each (empty: it can)."""
    if not conv.turns:
        return ["the conversation has no turn"]
    out = [str(b) for b in check_conversation(conv)]
    out += [
        f"turn {t.index + 1}'s answer is not verified (write it, or use the draft or proposal)"
        for t in conv.turns
        if t.final_answer is None
    ]
    target = conv.target_turn
    if not any(not m.mask.is_empty for m in target.layer(MaskLayer.FINAL)):
        out.append(f"the target turn {target.index + 1} has no non-empty final mask")
    for t, v in sorted(verdicts.items()):
        if v.stale:
            out.append(f"turn {t + 1}'s verdict is stale: the turn changed since it was judged")
        elif v.decision == Decision.REJECT:
            out.append(f"turn {t + 1} is rejected ({v.reason}): approve or reopen it first")
    return out


def first_blocker(blockers: Sequence[str]) -> str:
    """The first reason, and how many more there are ("" when there is none)."""
    if not blockers:
        return ""
    more = f" (and {len(blockers) - 1} more)" if len(blockers) > 1 else ""
    return f"{blockers[0]}{more}"


def check_approvable(conv: Conversation, verdicts: dict[int, Verdict]) -> None:
    blockers = approve_blockers(conv, verdicts)
    if blockers:
        raise WorkflowError(f"cannot approve: {first_blocker(blockers)}")
