"""The pure rules that turn reviews into a conversation status and into turn verdicts bound to
the content they judged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from annotator.core.errors import WorkflowError
from annotator.core.fingerprint import record_fingerprint, turn_fingerprint
from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Decision,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Review,
    Turn,
)
from annotator.core.review_rules import (
    approve_blockers,
    check_review,
    fold_reviews,
    judged_by,
    stale_turns,
    transition_path,
    verdicts_of,
)
from annotator.core.status import ALLOWED, Status


def r(decision: Decision, turn: int | None = None, who: str = "rita") -> Review:
    reason = "mask_wrong" if decision == Decision.REJECT else None
    return Review(reviewer=who, decision=decision, turn_index=turn, reason=reason)


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
        # Turn verdicts add up; the record decision is its own step.
        ([r(A, 0), r(A, 1), r(A, 2)], Status.IN_REVIEW),
        ([r(A, 0), r(R, 1)], Status.IN_REVIEW),
        ([r(A), r(R, 2)], Status.APPROVED),
        ([r(R, 1), r(RE), r(A, 0), r(A, 2)], Status.IN_REVIEW),
    ],
)
def test_status_follows_record_decisions_only(reviews: list[Review], expected: Status) -> None:
    assert fold_reviews(Status.PROPOSED, reviews, 3).status == expected


def test_verdicts_fold_and_reopen_clears() -> None:
    turns = [Turn(i, f"q{i}", f"a{i}") for i in range(3)]
    got = verdicts_of([r(A, 0), r(R, 1), r(A), r(RE, 2)], turns)
    assert {t: v.decision for t, v in got.items()} == {0: A, 1: A}
    assert verdicts_of([r(R, 1), r(RE)], turns) == {}


def test_reject_needs_a_reason_and_reopen_a_why() -> None:
    with pytest.raises(WorkflowError, match="rejecting a turn needs a reason code"):
        check_review(Review("rita", R, turn_index=0))
    with pytest.raises(WorkflowError, match="rejecting a record needs a reason code"):
        check_review(Review("rita", R))
    with pytest.raises(WorkflowError, match="reopening a record needs a reason"):
        check_review(Review("rita", RE))
    check_review(Review("rita", RE, "mask misses the handle"))
    check_review(Review("rita", RE, turn_index=1))  # a turn's verdict withdrawn
    with pytest.raises(WorkflowError, match="a comment needs text"):
        check_review(Review("rita", C, "  "))


def _mask(seed: int) -> MaskAnnotation:
    import numpy as np

    a = np.zeros((8, 8), dtype=bool)
    a[seed : seed + 3, 2:6] = True
    return MaskAnnotation(Mask.from_array(a), MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "x"))


def _conv() -> Conversation:
    turns = (
        Turn(0, "What is on the table?", "A cup and a plate.", "A cup and a plate."),
        Turn(1, "Segment the cup.", "It is [SEG].", "It is [SEG].", masks=(_mask(1),)),
    )
    return Conversation(Image("a.jpg", 8, 8, ""), "the cup", turns)


def _judged(review: Review, conv: Conversation) -> Review:
    """What storage stores: the review with the fingerprint of what it judged."""
    if review.turn_index is not None:
        return replace(review, fingerprint=turn_fingerprint(conv.turns[review.turn_index]))
    fps = tuple(turn_fingerprint(t) for t in conv.turns)
    return replace(review, fingerprint=record_fingerprint(conv), turn_fingerprints=fps)


def _edit_mask(conv: Conversation) -> Conversation:
    last = conv.turns[1]
    return replace(conv, turns=(conv.turns[0], replace(last, masks=(_mask(4),))))


def test_fingerprint_covers_texts_masks_and_focus_not_ids() -> None:
    conv = _conv()
    t1 = conv.turns[1]
    assert turn_fingerprint(t1) == turn_fingerprint(replace(t1, id=7, index=3))
    assert turn_fingerprint(t1) != turn_fingerprint(replace(t1, final_answer="It is a [SEG]."))
    assert turn_fingerprint(t1) != turn_fingerprint(replace(t1, final_answer=None))
    assert turn_fingerprint(replace(t1, final_answer="")) != turn_fingerprint(
        replace(t1, final_answer=None)
    )
    assert turn_fingerprint(t1) != turn_fingerprint(_edit_mask(conv).turns[1])
    assert record_fingerprint(conv) != record_fingerprint(replace(conv, focus="the plate"))


def test_an_edited_turn_makes_its_verdict_stale() -> None:
    conv = _conv()
    reviews = [_judged(r(A, 0), conv), _judged(r(A, 1), conv)]
    assert stale_turns(conv, reviews) == set()
    edited = _edit_mask(conv)
    assert stale_turns(edited, reviews) == {1}
    # A whole-record approval judged each turn: the edited one goes stale, the other does not.
    approved = [_judged(r(A), conv)]
    assert stale_turns(edited, approved) == {1}
    texts = replace(conv, turns=(replace(conv.turns[0], question="What is here?"), conv.turns[1]))
    assert stale_turns(texts, approved) == {0}
    # Reviews from before fingerprints (or files without them) are never called stale.
    assert stale_turns(edited, [r(A, 1)]) == set()


def test_approve_is_refused_naming_what_blocks_it() -> None:
    conv = _conv()
    assert approve_blockers(conv, {}) == []
    stale = verdicts_of([_judged(r(A, 1), conv)], _edit_mask(conv).turns)
    assert approve_blockers(_edit_mask(conv), stale) == [
        "turn 2's verdict is stale: the turn changed since it was judged"
    ]
    rejected = verdicts_of([_judged(r(R, 0), conv)], conv.turns)
    assert approve_blockers(conv, rejected) == [
        "turn 1 is rejected (mask_wrong): approve or reopen it first"
    ]
    unverified = replace(conv, turns=(replace(conv.turns[0], final_answer=None), conv.turns[1]))
    (why,) = approve_blockers(unverified, {})
    assert why.startswith("turn 1's answer is not verified")
    no_seg = replace(conv, turns=(conv.turns[0], replace(conv.turns[1], final_answer="It is.")))
    assert any("seg_final" in b for b in approve_blockers(no_seg, {}))


def test_judged_by_is_per_reviewer() -> None:
    reviews = [r(A, 0, "ann"), r(C, 1, "bob"), r(R, 2, "bob"), r(A, None, "cy")]
    assert judged_by(reviews, "ann", 3) == {0}
    assert judged_by(reviews, "bob", 3) == {2}  # a comment judges nothing
    assert judged_by(reviews, "cy", 3) == {0, 1, 2}
    assert judged_by(reviews, "dee", 3) == set()


def test_review_of_a_missing_turn_is_passed_over() -> None:
    assert fold_reviews(Status.IN_REVIEW, [r(A, 3)], 3).verdicts == {}


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
