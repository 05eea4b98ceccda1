"""Reviews, proposals, history and statistics through the store."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fixtures_storage import blob_mask, make_conversation, missing_image_flag

from annotator.core.errors import MaskError, NotFoundError, WorkflowError
from annotator.core.fingerprint import record_fingerprint, turn_fingerprint
from annotator.core.mask import Mask
from annotator.core.model import (
    Decision,
    FlagCode,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Proposal,
    Provenance,
    ReasonCode,
    Review,
)
from annotator.core.review_rules import stale_turns
from annotator.core.status import Status
from annotator.storage import ConflictError, ListQuery, Store


def _final(store: Store, cid: int, mask: Mask) -> None:
    conv = store.get_conversation(cid)
    ann = MaskAnnotation(
        mask=mask,
        layer=MaskLayer.FINAL,
        provenance=Provenance(source=MaskSource.HUMAN, author="bob"),
    )
    target = conv.target_turn
    store.save_conversation(
        replace(conv, turns=(*conv.turns[:-1], replace(target, masks=(*target.masks, ann)))),
        actor="bob",
    )


def test_approve_needs_a_final_mask(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, verified=True)], actor="a").added_ids
    with pytest.raises(WorkflowError, match="final mask"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE))
    assert store.reviews(cid) == []
    _final(store, cid, Mask.empty(48, 64))
    with pytest.raises(WorkflowError, match="final mask"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE))
    _final(store, cid, blob_mask(48, 64, 5))
    approved = store.add_review(
        cid, Review(reviewer="rita", decision=Decision.APPROVE, comment="fine")
    )
    assert approved.status == Status.APPROVED
    got = store.reviews(cid)
    assert [(x.reviewer, x.decision, x.comment) for x in got] == [
        ("rita", Decision.APPROVE, "fine")
    ]
    statuses = [e.detail for e in store.history(cid) if e.action == "status"]
    assert statuses[-2:] == [
        {"from": "draft", "to": "in_review"},
        {"from": "in_review", "to": "approved"},
    ]
    assert store.page(ListQuery(reviewer="rita"))[0].last_reviewer == "rita"


def test_approve_needs_every_answer_verified(store: Store) -> None:
    conv = make_conversation(1, final_mask=True, verified=False)
    (cid,) = store.add_conversations([conv], actor="a").added_ids
    with pytest.raises(WorkflowError, match=r"turn 1's answer is not verified .* \(and 2 more\)"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE))
    assert store.reviews(cid) == [] and store.get_conversation(cid).status == Status.DRAFT


def test_turn_verdicts_add_up_and_the_record_decision_is_its_own(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, final_mask=True)], actor="a").added_ids
    before = store.get_conversation(cid)
    with pytest.raises(WorkflowError, match="needs a reason code"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.REJECT, turn_index=1))
    rejected = store.add_review(
        cid,
        Review(
            reviewer="rita", decision=Decision.REJECT, turn_index=1, reason=ReasonCode.TEXT_WRONG
        ),
    )
    # One turn rejected: the review is under way, the record is not rejected by it.
    assert rejected.status == Status.IN_REVIEW and rejected.revision == before.revision + 1
    assert store.reviews(cid)[0].reason == ReasonCode.TEXT_WRONG
    with pytest.raises(ConflictError):  # the status change bumped the revision
        store.save_conversation(before, actor="x")
    with pytest.raises(WorkflowError, match=r"turn 2 is rejected \(text_wrong\)"):
        store.add_review(cid, Review(reviewer="sam", decision=Decision.APPROVE))
    for turn in (0, 2, 1):
        done = store.add_review(
            cid, Review(reviewer="sam", decision=Decision.APPROVE, turn_index=turn)
        )
    assert done.status == Status.IN_REVIEW  # every turn OK is still not the record's approval
    assert store.add_review(cid, Review("sam", Decision.APPROVE)).status == Status.APPROVED
    with pytest.raises(WorkflowError, match="reopening a record needs a reason"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.REOPEN))
    reopened = store.add_review(cid, Review("rita", Decision.REOPEN, "the cup is a mug"))
    assert reopened.status == Status.IN_REVIEW
    with pytest.raises(WorkflowError, match="rejecting a record needs a reason code"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.REJECT))
    with pytest.raises(WorkflowError, match="unknown reason code 'blurry'"):
        store.add_review(cid, Review("rita", Decision.REJECT, reason="blurry"))
    commented = store.add_review(
        cid, Review(reviewer="zoe", decision=Decision.COMMENT, comment="ok?")
    )
    assert commented.status == Status.IN_REVIEW and commented.revision == reopened.revision
    with pytest.raises(WorkflowError, match="turn 8"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE, turn_index=7))
    stats = store.stats()
    assert stats["by_reviewer"] == {"rita": 1, "sam": 1}
    assert stats["by_status"]["in_review"] == 1 and sum(stats["by_status"].values()) == 1
    assert len(store.reviews(cid)) == 7


def test_reviews_store_what_they_judged_and_edits_make_them_stale(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, final_mask=True)], actor="a").added_ids
    store.add_review(cid, Review("rita", Decision.APPROVE, turn_index=2))
    store.add_review(cid, Review("rita", Decision.APPROVE))
    turn_review, record_review = store.reviews(cid)
    conv = store.get_conversation(cid)
    assert turn_review.fingerprint == turn_fingerprint(conv.turns[2])
    assert record_review.fingerprint == record_fingerprint(conv)
    assert record_review.turn_fingerprints == tuple(turn_fingerprint(t) for t in conv.turns)
    assert store.page(ListQuery())[0].stale_verdicts == 0
    # Editing the approved record's target mask: back to review in the same transaction, with
    # the reason in the history, and turn 3's verdict is stale.
    _final(store, cid, blob_mask(48, 64, 77))
    edited = store.get_conversation(cid)
    assert edited.status == Status.IN_REVIEW
    assert [e.detail for e in store.history(cid) if e.action == "status"][-1] == {
        "from": "approved",
        "to": "in_review",
        "why": "edited after approval",
    }
    assert stale_turns(edited, store.reviews(cid)) == {2}
    assert store.page(ListQuery())[0].stale_verdicts == 1
    with pytest.raises(WorkflowError, match="turn 3's verdict is stale"):
        store.add_review(cid, Review("rita", Decision.APPROVE))
    store.add_review(cid, Review("rita", Decision.APPROVE, turn_index=2))  # judged again
    assert store.page(ListQuery())[0].stale_verdicts == 0
    assert store.add_review(cid, Review("rita", Decision.APPROVE)).status == Status.APPROVED
    # Saving the approved record unchanged (a soft delete touches no content) keeps it approved.
    again = store.get_conversation(cid)
    assert store.save_conversation(again, actor="x").status == Status.APPROVED


def test_reason_codes_are_a_project_list(store: Store) -> None:
    seeded = [e.code for e in store.reason_codes()]
    assert seeded == [c.value for c in ReasonCode]
    store.add_reason_code("blurry", "Image too blurry")
    with pytest.raises(WorkflowError, match="exists already"):
        store.add_reason_code("blurry", "again")
    with pytest.raises(WorkflowError, match="use 1-32 of a-z"):
        store.add_reason_code("Bad Code", "x")
    assert store.rename_reason_code("blurry", "Blurred").label == "Blurred"
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
    store.add_review(cid, Review("rita", Decision.REJECT, turn_index=0, reason="blurry"))
    store.retire_reason_code("blurry")
    assert "blurry" not in [e.code for e in store.reason_codes()]
    assert [e.retired for e in store.reason_codes(include_retired=True) if e.code == "blurry"] == [
        True
    ]
    with pytest.raises(WorkflowError, match="retired"):
        store.add_review(cid, Review("rita", Decision.REJECT, turn_index=1, reason="blurry"))
    assert store.reviews(cid)[0].reason == "blurry"  # old reviews keep their code
    with pytest.raises(NotFoundError):
        store.rename_reason_code("nope", "x")


def test_comments_form_threads_that_can_be_resolved(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
    store.add_review(cid, Review("rita", Decision.COMMENT, "is this the cup?", turn_index=2))
    store.add_review(cid, Review("bob", Decision.COMMENT, "yes, the blue one", turn_index=2))
    first = store.reviews(cid)[0]
    assert first.id is not None
    store.resolve_comment(cid, first.id, actor="bob")
    got = store.reviews(cid)
    assert (got[0].resolved_by, got[1].resolved_by) == ("bob", None)
    assert got[0].resolved_at is not None
    with pytest.raises(WorkflowError, match="resolved already"):
        store.resolve_comment(cid, first.id, actor="bob")
    with pytest.raises(NotFoundError):
        store.resolve_comment(cid, 9999, actor="bob")
    assert store.history(cid)[-1].action == "resolve"


def test_unknown_conversation(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.add_review(999, Review(reviewer="r", decision=Decision.COMMENT))
    with pytest.raises(NotFoundError):
        store.add_proposals(999, [Proposal(0, "p", "1", "x")])
    with pytest.raises(NotFoundError):
        store.reviews(999)


def test_proposals_round_trip_and_correction_size(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, turns=2)], actor="a").added_ids
    proposed = blob_mask(48, 64, 11)
    ids = store.add_proposals(
        cid,
        [
            Proposal(0, "miras", "1.0", "an answer", elapsed_s=0.5),
            Proposal(1, "miras", "1.0", "Sure, [SEG].", masks=(proposed,), scores=(0.9,)),
        ],
    )
    assert len(ids) == 2 and ids[0] < ids[1]
    conv = store.get_conversation(cid)
    assert conv.status == Status.PROPOSED
    got = store.proposals(cid, turn_index=1)
    assert [(p.id, p.masks, p.scores, p.answer) for p in got] == [
        (ids[1], (proposed,), (0.9,), "Sure, [SEG].")
    ]
    assert store.proposals(cid, proposer="other") == []
    assert len(store.proposals(cid)) == 2
    assert store.page(ListQuery())[0].correction_pixels is None  # no final mask yet
    final = blob_mask(48, 64, 12)
    _final(store, cid, final)
    expected = int(np.count_nonzero(proposed.to_array() ^ final.to_array()))
    assert expected > 0
    assert store.page(ListQuery())[0].correction_pixels == expected
    with pytest.raises(MaskError):
        store.add_proposals(cid, [Proposal(1, "miras", "1.0", "x", masks=(blob_mask(8, 8, 1),))])
    with pytest.raises(NotFoundError, match="turn 5"):
        store.add_proposals(cid, [Proposal(5, "miras", "1.0", "x")])
    assert len(store.proposals(cid)) == 2


def test_sort_by_correction_puts_largest_first(store: Store) -> None:
    ids = store.add_conversations(
        [make_conversation(i, turns=1) for i in range(3)], actor="a"
    ).added_ids
    sizes = {}
    for n, cid in enumerate(ids[:2]):
        proposal = blob_mask(48, 64, 100 + n)
        store.add_proposals(cid, [Proposal(0, "m", "1", "a", masks=(proposal,))])
        final = blob_mask(48, 64, 200 + n)
        _final(store, cid, final)
        sizes[cid] = int(np.count_nonzero(proposal.to_array() ^ final.to_array()))
    order = [s.id for s in store.page(ListQuery(sort="correction"))]
    assert order[:2] == sorted(sizes, key=lambda i: -sizes[i]) and order[2] == ids[2]


def test_needing_proposals_with_shards(store: Store) -> None:
    ids = store.add_conversations(
        [make_conversation(i, turns=2) for i in range(10)], actor="a"
    ).added_ids
    assert store.conversations_needing_proposals("m", "1", ListQuery()) == ids
    store.add_proposals(ids[0], [Proposal(0, "m", "1", "a"), Proposal(1, "m", "1", "b")])
    store.add_proposals(ids[1], [Proposal(0, "m", "1", "a")])  # one turn still open
    store.add_proposals(ids[2], [Proposal(0, "m", "2", "a"), Proposal(1, "m", "2", "b")])
    need = store.conversations_needing_proposals("m", "1", ListQuery())
    assert need == ids[1:]
    shards = [
        store.conversations_needing_proposals("m", "1", ListQuery(), shard=(k, 3)) for k in range(3)
    ]
    assert sorted(i for s in shards for i in s) == need
    assert all(i % 3 == k for k, s in enumerate(shards) for i in s)
    assert store.conversations_needing_proposals("m", "1", ListQuery(), limit=2) == ids[1:3]
    assert store.conversations_needing_proposals("m", "1", ListQuery(text="number 7")) == [ids[7]]
    assert store.claim_batch("m", "1", ListQuery(text="img/00008"), "w", 5) == [ids[8]]
    with pytest.raises(ValueError):
        store.conversations_needing_proposals("m", "1", ListQuery(), shard=(3, 3))


def test_claims_hand_out_disjoint_batches(store: Store) -> None:
    ids = store.add_conversations(
        [make_conversation(i, turns=1) for i in range(6)], actor="a"
    ).added_ids
    a = store.claim_batch("m", "1", ListQuery(), "worker-a", 4)
    b = store.claim_batch("m", "1", ListQuery(), "worker-b", 4)
    assert a == ids[:4] and b == ids[4:]
    assert store.claim_batch("m", "1", ListQuery(), "worker-c", 4) == []
    assert not store.claim(ids[0], "worker-c", proposer="m", version="1")
    assert store.claim(ids[0], "worker-a", proposer="m", version="1")  # renewal
    assert store.claim_batch("m", "2", ListQuery(), "worker-c", 1) == ids[:1]  # other version
    assert store.release_claims(ids[:2], proposer="m", version="1", worker="worker-a") == 2
    store.add_proposals(ids[0], [Proposal(0, "m", "1", "done")])
    assert store.claim_batch("m", "1", ListQuery(), "worker-c", 4) == ids[1:2]


def test_expired_claims_are_taken_over(store: Store) -> None:
    from datetime import timedelta

    ids = store.add_conversations(
        [make_conversation(i, turns=1) for i in range(2)], actor="a"
    ).added_ids
    assert store.claim_batch("m", "1", None, "dead", 2, ttl=timedelta(seconds=-1)) == ids
    assert store.claim_batch("m", "1", None, "alive", 2) == ids


def test_stats(store: Store) -> None:
    convs = [
        make_conversation(0, flags=(missing_image_flag(),)),
        make_conversation(1, image_path="img/00000.jpg"),
        make_conversation(2, turns=2, final_mask=True),
    ]
    convs[1] = replace(convs[1], image=convs[0].image)
    store.add_conversations(convs, actor="a")
    stats = store.stats()
    assert stats["conversations"] == 3 and stats["turns"] == 8 and stats["images"] == 2
    assert stats["masks"] == 4
    assert stats["flagged"] == 1 and stats["flags_by_code"] == {FlagCode.MISSING_IMAGE.value: 1}
    assert stats["by_status"]["draft"] == 3 and stats["by_reviewer"] == {}


def test_restore_keeps_status_reviews_and_proposals(store: Store) -> None:
    conv = replace(make_conversation(1, final_mask=True), status=Status.APPROVED)
    reviews = [
        Review(reviewer="rita", decision=Decision.REJECT, turn_index=0),
        Review(reviewer="sam", decision=Decision.APPROVE),
        Review(reviewer="zoe", decision=Decision.COMMENT, comment="nice"),
    ]
    proposals = [Proposal(2, "miras", "1", "It is [SEG].", masks=(blob_mask(48, 64, 4),))]
    result = store.restore_conversations([(conv, reviews, proposals)], actor="restorer")
    (cid,) = result.added_ids
    got = store.get_conversation(cid)
    assert got.status == Status.APPROVED
    assert [(r.reviewer, r.decision) for r in store.reviews(cid)] == [
        (r.reviewer, r.decision) for r in reviews
    ]
    assert [p.masks for p in store.proposals(cid)] == [proposals[0].masks]
    row = store.page(ListQuery(ids=(cid,)))[0]
    assert row.last_reviewer == "sam" and row.correction_pixels is not None
    again = store.restore_conversations([(conv, reviews, proposals)], actor="restorer")
    assert again.added_ids == [] and again.skipped == 1
    assert len(store.reviews(cid)) == 3
