"""The pure rules that turn reviews into a conversation status."""

from __future__ import annotations

import pytest

from annotator.core.errors import WorkflowError
from annotator.core.model import Decision, Review
from annotator.core.review_rules import fold_reviews, transition_path
from annotator.core.status import ALLOWED, Status


def r(decision: Decision, turn: int | None = None) -> Review:
    return Review(reviewer="rita", decision=decision, turn_index=turn)


A, R, RE, C = Decision.APPROVE, Decision.REJECT, Decision.REOPEN, Decision.COMMENT


@pytest.mark.parametrize(
    ("reviews", "expected"),
    [
        ([], Status.PROPOSED),
        ([r(C)], Status.PROPOSED),
        ([r(A)], Status.APPROVED),
        ([r(R)], Status.REJECTED),
        ([r(A), r(RE)], Status.IN_REVIEW),
        ([r(A, 0)], Status.IN_REVIEW),
        ([r(A, 0), r(A, 1)], Status.IN_REVIEW),
        ([r(A, 0), r(A, 1), r(A, 2)], Status.APPROVED),
        ([r(A, 0), r(R, 1), r(A, 2)], Status.REJECTED),
        ([r(A, 0), r(R, 1), r(A, 2), r(A, 1)], Status.APPROVED),
        ([r(A, 0), r(R, 1), r(RE, 1)], Status.IN_REVIEW),
        ([r(A), r(R, 2)], Status.REJECTED),
        ([r(R, 1), r(RE), r(A, 0), r(A, 2)], Status.IN_REVIEW),  # reopen cleared turn 1's verdict
    ],
)
def test_status_follows_the_turns(reviews: list[Review], expected: Status) -> None:
    assert fold_reviews(Status.PROPOSED, reviews, 3).status == expected


def test_review_of_a_missing_turn_is_refused() -> None:
    with pytest.raises(WorkflowError, match="turn 3"):
        fold_reviews(Status.IN_REVIEW, [r(A, 3)], 3)


def test_transition_paths_are_allowed_steps() -> None:
    for current in Status:
        for new in Status:
            try:
                path = transition_path(current, new)
            except WorkflowError:
                continue
            previous = current
            for step in path:
                assert step in ALLOWED[previous]
                previous = step
            assert previous == new
    assert transition_path(Status.REJECTED, Status.APPROVED) == [Status.IN_REVIEW, Status.APPROVED]
    assert transition_path(Status.IN_REVIEW, Status.IN_REVIEW) == []
