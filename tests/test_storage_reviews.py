"""Reviews, proposals, history and statistics through the store."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fixtures_storage import blob_mask, make_conversation, missing_image_flag

from annotator.core.errors import MaskError, NotFoundError, WorkflowError
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
    (cid,) = store.add_conversations([make_conversation(1)], actor="a").added_ids
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


def test_turn_reviews_decide_the_status(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, final_mask=True)], actor="a").added_ids
    before = store.get_conversation(cid)
    rejected = store.add_review(
        cid,
        Review(
            reviewer="rita", decision=Decision.REJECT, turn_index=1, reason=ReasonCode.TEXT_WRONG
        ),
    )
    assert rejected.status == Status.REJECTED and rejected.revision == before.revision + 1
    assert store.reviews(cid)[0].reason == ReasonCode.TEXT_WRONG
    with pytest.raises(ConflictError):  # the status change bumped the revision
        store.save_conversation(before, actor="x")
    store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE, turn_index=0))
    assert store.get_conversation(cid).status == Status.REJECTED
    store.add_review(cid, Review(reviewer="sam", decision=Decision.APPROVE, turn_index=2))
    done = store.add_review(cid, Review(reviewer="sam", decision=Decision.APPROVE, turn_index=1))
    assert done.status == Status.APPROVED
    reopened = store.add_review(cid, Review(reviewer="rita", decision=Decision.REOPEN))
    assert reopened.status == Status.IN_REVIEW
    commented = store.add_review(cid, Review(reviewer="zoe", decision=Decision.COMMENT))
    assert commented.status == Status.IN_REVIEW and commented.revision == reopened.revision
    with pytest.raises(WorkflowError, match="turn 7"):
        store.add_review(cid, Review(reviewer="rita", decision=Decision.APPROVE, turn_index=7))
    stats = store.stats()
    assert stats["by_reviewer"] == {"rita": 1, "sam": 1}
    assert stats["by_status"]["in_review"] == 1 and sum(stats["by_status"].values()) == 1
    assert len(store.reviews(cid)) == 6


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
