"""The review workflow: which status a conversation may move to from which.

draft -> proposed -> in_review -> approved | rejected, with reopen (approved/rejected -> in_review)
and a manual skip from draft straight to in_review. Every change is recorded as a history event
by the storage layer; this module only decides what is allowed.
"""

from __future__ import annotations

from enum import StrEnum

from annotator.core.errors import WorkflowError


class Status(StrEnum):
    DRAFT = "draft"
    PROPOSED = "proposed"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.PROPOSED, Status.IN_REVIEW}),
    Status.PROPOSED: frozenset({Status.IN_REVIEW, Status.DRAFT, Status.APPROVED, Status.REJECTED}),
    Status.IN_REVIEW: frozenset({Status.APPROVED, Status.REJECTED, Status.DRAFT, Status.PROPOSED}),
    Status.APPROVED: frozenset({Status.IN_REVIEW}),  # reopen
    Status.REJECTED: frozenset({Status.IN_REVIEW}),  # reopen
}


def check_transition(current: Status, new: Status) -> None:
    """Raise :class:`WorkflowError` unless ``current -> new`` is allowed (same status: no-op)."""
    if current == new:
        return
    if new not in ALLOWED[current]:
        raise WorkflowError(f"cannot move a conversation from {current} to {new}")


def is_terminal(status: Status) -> bool:
    """Reviewed: approved or rejected (only a reopen moves it on)."""
    return status in (Status.APPROVED, Status.REJECTED)


# What annotators work on in team mode, most urgent first (reviewers: records in review).
ANNOTATOR_WORK: tuple[Status, ...] = (Status.REJECTED, Status.DRAFT, Status.PROPOSED)
