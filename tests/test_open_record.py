"""The open-record model without a window: the review and propose flows the app drives, on a
real SQLite database, with the notifications widgets subscribe to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fixtures_storage import make_conversation

from annotator.core import mask_edit
from annotator.core.errors import WorkflowError
from annotator.core.mask import Mask
from annotator.core.model import Decision, MaskLayer, MaskSource, Proposal, ReasonCode
from annotator.core.status import Status
from annotator.services.image_resolver import ImageResolver
from annotator.services.notifier import Notifier
from annotator.services.open_record import OpenRecord
from annotator.services.session import EditSession
from annotator.storage import Store, open_store


@dataclass
class Seen:
    """Every notification of one model, in order."""

    events: list[tuple[str, object]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def _watch(record: OpenRecord) -> Seen:
    seen = Seen()
    for name in (
        "opened",
        "turn_changed",
        "text_changed",
        "status_changed",
        "proposals_changed",
        "verdicts_changed",
        "diffs_changed",
        "message",
    ):
        notifier: Notifier[object] = getattr(record, name)
        notifier.connect(lambda value, n=name: seen.events.append((n, value)))
    return seen


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "open-record.sqlite3")
    s.add_conversations([make_conversation(n, turns=3) for n in range(3)], actor="importer")
    try:
        yield s
    finally:
        s.close()


def _record(store: Store, *, blind: bool = False) -> OpenRecord:
    session = EditSession(store, lambda: "ada")
    return OpenRecord(store, session, ImageResolver(), lambda: "ada", blind=blind)


def _ids(store: Store) -> list[int]:
    from annotator.storage import ListQuery

    return [s.id for s in store.page(ListQuery(), 0, 10)]


def _proposal(turn: int, mask: np.ndarray, answer: str = "the cup [SEG].") -> Proposal:
    return Proposal(turn, "miras", "test-1", answer, masks=(Mask.from_array(mask),))


def test_opening_a_record_selects_its_target_turn_without_a_window(store: Store) -> None:
    record = _record(store)
    seen = _watch(record)
    cid = _ids(store)[0]
    doc = record.open(record.load(cid))
    assert doc.id == cid and record.turn == doc.target_turn == 2
    assert record.bundle is not None and record.rgb is None  # no image file: still reviewable
    assert "image not found" in record.bundle.image_problem
    assert seen.names() == ["opened"]
    record.select_turn(7)  # clamped to the last turn
    record.select_turn(-3)
    assert seen.events[1:] == [("turn_changed", 2), ("turn_changed", 0)]


def test_turn_verdicts_add_up_and_the_status_follows(store: Store) -> None:
    record = _record(store)
    cid = _ids(store)[0]
    doc = record.open(record.load(cid))
    seen = _watch(record)
    assert record.review(Decision.REJECT, "wrong colour", turn=1, reason=ReasonCode.TEXT_WRONG).ok
    assert record.review(Decision.APPROVE, turn=0).ok
    assert {t: (v.decision, v.reason, v.reviewer) for t, v in record.verdicts.items()} == {
        1: (Decision.REJECT, ReasonCode.TEXT_WRONG, "ada"),
        0: (Decision.APPROVE, None, "ada"),
    }
    # Turn verdicts add up; rejecting the record is its own step, with a reason.
    assert doc.status == Status.IN_REVIEW
    assert ("status_changed", Status.IN_REVIEW) in seen.events
    refused = record.review(Decision.REJECT)
    assert not refused.ok and "needs a reason code" in refused.message
    assert doc.status == Status.IN_REVIEW
    assert seen.names().count("verdicts_changed") == 2
    stored = [(r.turn_index, r.decision, r.reason) for r in store.reviews(cid)]
    assert stored == [(1, Decision.REJECT, ReasonCode.TEXT_WRONG), (0, Decision.APPROVE, None)]
    # a fresh model on the same database folds the same verdicts
    again = _record(store)
    again.open(again.load(cid))
    assert again.verdicts == record.verdicts


def test_approving_needs_a_final_mask_and_stores_nothing_without(store: Store) -> None:
    record = _record(store)
    cid = _ids(store)[1]
    doc = record.open(record.load(cid))
    assert not record.can_approve
    with pytest.raises(WorkflowError, match="final mask"):
        record.review(Decision.APPROVE)
    assert store.reviews(cid) == [] and doc.status == store.get_conversation(cid).status
    assert record.take_draft_mask() is not None  # the target turn's draft becomes final
    # The answers are still drafts: approving would pass them off as verified.
    assert record.approve_blockers() == [
        f"turn {t}'s answer is not verified (write it, or use the draft or proposal)"
        for t in (1, 2, 3)
    ]
    refused = record.review(Decision.APPROVE)
    assert not refused.ok and "turn 1's answer is not verified" in refused.message
    for turn in range(3):
        record.use_draft(turn)
    assert record.can_approve
    assert record.review(Decision.APPROVE, "looks right").ok
    assert store.get_conversation(cid).status == Status.APPROVED
    assert set(record.verdicts) == {0, 1, 2}  # a record approval approves every turn


def test_blind_first_hides_the_model_until_this_turn_is_judged(store: Store) -> None:
    record = _record(store, blind=True)
    cid = _ids(store)[0]
    conv = store.get_conversation(cid)
    h, w = conv.image.height, conv.image.width
    proposed = np.zeros((h, w), bool)
    proposed[5:20, 10:40] = True
    store.add_proposals(cid, [_proposal(2, proposed, "The red cup [SEG].")])
    doc = record.open(record.load(cid))
    seen = _watch(record)
    assert record.hidden == {0, 1, 2} and record.model_hidden(2)
    record.use_proposal(2)
    assert seen.events == [("message", "Judge the turn first (blind-first review)")]
    assert not doc.has_mask((2, MaskLayer.FINAL)) and doc.text(2, "final_answer") is None
    record.review(Decision.APPROVE, turn=2)
    assert not record.model_hidden(2) and record.hidden == {0, 1}
    record.use_proposal(2)
    assert np.array_equal(doc.layer_array((2, MaskLayer.FINAL)), proposed)
    assert doc.text(2, "final_answer") == "The red cup [SEG]."
    final = store.get_conversation(cid).turns[2].layer(MaskLayer.FINAL)
    assert [a.provenance.source for a in final] == [MaskSource.PROPOSER]
    record.set_blind(False)
    assert record.hidden == set() and seen.events[-1] == ("verdicts_changed", None)


def test_proposals_land_on_the_open_record_with_their_diff(store: Store) -> None:
    record = _record(store)
    cid, other = _ids(store)[:2]
    doc = record.open(record.load(cid))
    record.take_draft_mask()  # a final mask on the target turn
    final = doc.layer_array((2, MaskLayer.FINAL)).copy()
    seen = _watch(record)
    h, w = doc.size
    older = np.zeros((h, w), bool)
    older[0:4, 0:4] = True
    newer = np.zeros((h, w), bool)
    newer[2:30, 3:50] = True
    record.add_proposals(cid, [_proposal(2, older)])
    stored = record.add_proposals(cid, [_proposal(2, newer)])
    assert len(stored) == 2
    # a draft with proposals is proposed: the working copy follows the stored status
    assert seen.events[0] == ("status_changed", Status.PROPOSED)
    assert seen.names()[1:] == ["proposals_changed", "proposals_changed"]
    assert np.array_equal(record.proposal_array(2), newer)  # the latest of the turn
    assert record.proposal_array(0) is None and record.diff(0) is None

    diff = record.diff(2)
    assert diff is not None
    assert diff.added == int((final & ~newer).sum())
    assert diff.removed == int((newer & ~final).sum())
    assert diff.iou == pytest.approx((final & newer).sum() / (final | newer).sum())

    # an edit of the final mask drops the diff; it is computed again from the new mask
    record.edit_final(lambda a: mask_edit.replace(a, newer), "Fill", info={"tool": "test"})
    assert record.known_diff(2) is None
    again = record.diff(2)
    assert again is not None and again.changed == 0 and again.iou == 1.0

    # proposals for a record that is not open are stored without touching the open one
    n = len(seen.events)
    record.add_proposals(other, [_proposal(1, newer)])
    assert len(seen.events) == n and len(store.proposals(other)) == 1


def test_text_edits_and_unchanged_text(store: Store) -> None:
    record = _record(store)
    cid = _ids(store)[0]
    record.open(record.load(cid))
    seen = _watch(record)
    assert record.commit_text(0, "question", "question 0 of 0 — é") is None  # unchanged
    assert record.commit_text(0, "final_answer", "") is None  # nothing typed
    result = record.commit_text(0, "final_answer", "A cup.")
    assert result is not None and result.ok
    assert store.get_conversation(cid).turns[0].final_answer == "A cup."
    assert seen.events == [("text_changed", 0)]
    record.use_draft(1)
    assert store.get_conversation(cid).turns[1].final_answer == "answer 1 of 0"
    assert [e for e in seen.events if e[0] == "turn_changed"] == [("turn_changed", 1)]


def test_reopening_listens_to_the_new_record_only(store: Store) -> None:
    record = _record(store)
    first, second = _ids(store)[:2]
    old = record.open(record.load(first))
    record.open(record.load(second))
    seen = _watch(record)
    old.set_text(0, "question", "changed behind the model's back")
    assert seen.events == []  # the record no longer shown is no longer heard
    record.commit_text(0, "question", "new question")
    assert seen.events == [("text_changed", 0)]


def test_a_disconnected_listener_is_not_called() -> None:
    calls: list[int] = []
    notifier: Notifier[int] = Notifier()
    notifier.connect(calls.append)
    notifier.emit(1)
    notifier.disconnect(calls.append)
    notifier.disconnect(calls.append)  # twice is harmless
    notifier.emit(2)
    assert calls == [1] and len(notifier) == 0


def test_a_failed_save_keeps_its_history_for_the_save_that_succeeds(store: Store) -> None:
    """The history is written with its save: an action whose save failed (a full disk) is
    recorded when a later save gets through, not lost."""
    from annotator.core.errors import StorageError

    class FailingOnce:
        def __init__(self, inner: Store) -> None:
            self.inner = inner
            self.fail = True

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def save_conversation(self, conv: object, **kwargs: object) -> object:
            if self.fail:
                self.fail = False
                raise StorageError("disk I/O error (the disk may be full)")
            return self.inner.save_conversation(conv, **kwargs)  # type: ignore[arg-type]

    flaky = FailingOnce(store)
    session = EditSession(flaky, lambda: "ada")  # type: ignore[arg-type]
    record = OpenRecord(flaky, session, ImageResolver(), lambda: "ada")  # type: ignore[arg-type]
    cid = _ids(store)[0]
    record.open(record.load(cid))
    first = record.commit_text(0, "final_answer", "A cup.")
    assert first is not None and not first.ok and session.is_dirty
    second = record.commit_text(1, "final_answer", "On the left.")
    assert second is not None and second.ok
    events = [(e.action, e.detail.get("turn")) for e in store.history(cid)]
    assert events[-2:] == [("final_answer", 0), ("final_answer", 1)]


def test_a_clean_copy_follows_turns_moved_elsewhere(store: Store) -> None:
    """Another writer moved turns: the copy on screen takes the stored order with each turn's
    own masks, rather than its arrays on the wrong turns."""
    cid = _ids(store)[0]
    record = _record(store)
    doc = record.open(record.load(cid))
    draft_before = doc.layer_array((2, MaskLayer.DRAFT)).copy()  # decoded: held in the copy
    assert draft_before.any()
    other = _record(store)
    other.open(other.load(cid))
    assert other.move_turn(2, -2).ok  # the target turn first, elsewhere
    seen = _watch(record)
    assert record.session.adopt_stored(cid)
    assert doc.text(0, "question") == store.get_conversation(cid).turns[0].question
    assert np.array_equal(doc.layer_array((0, MaskLayer.DRAFT)), draft_before)
    assert not doc.layer_array((2, MaskLayer.DRAFT)).any()
    assert "status_changed" not in seen.names()
