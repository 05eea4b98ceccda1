from __future__ import annotations

import itertools

import pytest

from annotator.core.errors import WorkflowError
from annotator.core.status import Status, check_transition


def test_main_path_and_reopen_are_allowed() -> None:
    path = [
        Status.DRAFT,
        Status.PROPOSED,
        Status.IN_REVIEW,
        Status.APPROVED,
        Status.IN_REVIEW,
        Status.REJECTED,
    ]
    for a, b in itertools.pairwise(path):
        check_transition(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Status.APPROVED, Status.REJECTED),
        (Status.APPROVED, Status.DRAFT),
        (Status.DRAFT, Status.APPROVED),
    ],
)
def test_forbidden_transitions_raise(a: Status, b: Status) -> None:
    with pytest.raises(WorkflowError):
        check_transition(a, b)
