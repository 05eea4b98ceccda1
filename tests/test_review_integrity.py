"""Review you can trust, on the open-record model and a real SQLite file: verdicts bound to what
they judged, an approved record that an edit sends back to review (after a warning), blind-first
per reviewer, and comment threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fixtures_storage import make_conversation

from annotator.core import mask_edit
from annotator.core.mask import Mask
from annotator.core.model import Decision, MaskLayer, Proposal, ReasonCode
from annotator.core.status import Status
from annotator.services.image_resolver import ImageResolver
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.services.session import EditSession
from annotator.storage import ListQuery, Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "review.sqlite3")
    s.add_conversations([make_conversation(n, final_mask=True) for n in range(2)], actor="imp")
    try:
        yield s
    finally:
        s.close()


def _record(store: Store, who: str, *, blind: bool = False) -> OpenRecord:
    record = OpenRecord(
        store, EditSession(store, lambda: who), ImageResolver(), lambda: who, blind=blind
    )
    record.open(record.load(_first(store)))
    return record


def _first(store: Store) -> int:
    return store.page(ListQuery(), 0, 1)[0].id


def _paint(record: OpenRecord, rows: slice) -> None:
    def op(a: np.ndarray) -> mask_edit.Rect:
        patch = np.zeros_like(a)
        patch[rows, 5:20] = True
        return mask_edit.replace(a, patch)

    assert record.edit_final(op, "Paint") is not None


def test_an_edit_makes_the_turn_verdict_stale_and_blocks_approval(store: Store) -> None:
    record = _record(store, "ada")
    assert record.review(Decision.APPROVE, turn=2).ok
    assert not record.verdicts[2].stale
    _paint(record, slice(2, 9))
    assert record.verdicts[2].stale
    assert store.page(ListQuery())[0].stale_verdicts == 1
    assert record.approve_blocker() == (
        "Cannot approve: turn 3's verdict is stale: the turn changed since it was judged"
    )
    refused = record.review(Decision.APPROVE)
    assert not refused.ok and "turn 3's verdict is stale" in refused.message
    assert record.review(Decision.APPROVE, turn=2).ok  # judged again
    assert not record.verdicts[2].stale and record.can_approve
    # Undoing the edit brings back what the first verdict saw, not what the second did.
    record.session.undo()
    assert record.verdicts[2].stale


def test_editing_an_approved_record_warns_first_then_sends_it_back(store: Store) -> None:
    record = _record(store, "ada")
    assert record.review(Decision.APPROVE).ok
    doc = record.document
    assert doc is not None and doc.status == Status.APPROVED
    asked: list[RecordDocument] = []
    answer = [False]

    def confirm(d: RecordDocument) -> bool:
        asked.append(d)
        return answer[0]

    record.session.confirm_edit_approved = confirm
    before = doc.layer_array((2, MaskLayer.FINAL)).copy()
    result = record.edit_final(lambda a: mask_edit.replace(a, np.zeros_like(a)), "Erase all")
    assert result is not None and "stays approved" in result.message
    assert asked == [doc] and np.array_equal(doc.layer_array((2, MaskLayer.FINAL)), before)
    assert store.get_conversation(doc.id).status == Status.APPROVED  # type: ignore[arg-type]
    answer[0] = True
    _paint(record, slice(1, 4))
    assert len(asked) == 2
    assert doc.status == Status.IN_REVIEW
    assert store.get_conversation(doc.id).status == Status.IN_REVIEW  # type: ignore[arg-type]
    last = [e for e in record.history() if e.action == "status"][-1]
    assert last.detail == {"from": "approved", "to": "in_review", "why": "edited after approval"}
    _paint(record, slice(4, 6))
    assert len(asked) == 2  # asked once: the record is in review now


def test_blind_first_is_per_reviewer(store: Store) -> None:
    cid = _first(store)
    conv = store.get_conversation(cid)
    proposed = np.zeros((conv.image.height, conv.image.width), bool)
    proposed[3:12, 4:30] = True
    store.add_proposals(
        cid, [Proposal(2, "m", "1", "The cup [SEG].", masks=(Mask.from_array(proposed),))]
    )
    first = _record(store, "ana", blind=True)
    assert first.review(Decision.REJECT, "handle missing", turn=2, reason=ReasonCode.MASK_WRONG).ok
    assert first.review(Decision.COMMENT, "see the handle", turn=1).ok
    assert not first.model_hidden(2) and first.verdict(2) is not None
    # A second reviewer sees neither the model, nor ana's verdict or words, on turns they have
    # not judged themselves, whatever ana did.
    second = _record(store, "ben", blind=True)
    assert second.model_hidden(2) and second.hidden == {0, 1, 2}
    assert second.verdict(2) is None and second.verdicts[2].reviewer == "ana"
    assert second.thread(1) == [] and second.thread(2) == []
    # Why Approve is off must not name ana's rejection either.
    assert second.approve_blocker() == (
        "Cannot approve: judge every turn first (blind review): turns 1, 2, 3"
    )
    assert second.review(Decision.APPROVE, turn=2).ok
    assert not second.model_hidden(2) and second.verdict(2) is not None
    assert [r.comment for r in second.thread(2)] == ["handle missing"]
    assert second.thread(1) == []  # still not judged by ben
    assert [r.comment for r in first.thread(1)] == ["see the handle"]  # her own words


def test_comment_threads_with_resolve(store: Store) -> None:
    record = _record(store, "ada")
    assert record.comment("Is this the right cup?", turn=2).ok
    other = _record(store, "bob")
    assert other.comment("Yes, the red one.", turn=2).ok
    assert other.comment("Overall fine", turn=None).ok
    record.open(record.load(_first(store)))
    thread = record.thread(2)
    assert [(r.reviewer, r.comment) for r in thread] == [
        ("ada", "Is this the right cup?"),
        ("bob", "Yes, the red one."),
    ]
    assert [r.comment for r in record.thread(None)] == ["Overall fine"]
    assert thread[0].id is not None
    record.resolve(thread[0].id)
    assert record.thread(2)[0].resolved_by == "ada" and record.thread(2)[1].resolved_by is None
    assert not record.comment("   ", turn=2).ok  # an empty comment is refused
