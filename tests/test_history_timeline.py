"""The history timeline: stored history events read as plain sentences (turns counted from 1,
undo said as undo, comments whole, payloads never dumped), the dialog that shows them, and the
sentences for events written by the real session and storage path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures_storage import make_conversation

from annotator.core.commands import SetText
from annotator.core.model import Decision, HistoryEvent, MaskLayer
from annotator.services.history_timeline import TimelineEntry, entry_of, timeline
from annotator.services.mask_tools import Stroke
from annotator.services.session import EditSession
from annotator.storage import Store

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
LONG_COMMENT = (
    "The mask covers the saucer as well as the cup; the question asks for the cup only. " * 12
).strip() + " END-OF-COMMENT"


def _event(
    action: str, detail: dict[str, Any], actor: str = "ada", minute: int = 0
) -> HistoryEvent:
    return HistoryEvent(actor, action, detail, created_at=T0 + timedelta(minutes=minute))


def _brush(turn: int, minute: int = 0, **extra: Any) -> HistoryEvent:
    """A brush stroke as EditSession writes it (MaskDelta.detail plus the stroke's info)."""
    detail = {
        "turn": turn,
        "layer": "final",
        "rect": [12, 30, 40, 25],
        "tool": "brush",
        "radius": 8,
        "segments": 14,
        "pixels": 1234,
        **extra,
    }
    return _event("mask", detail, minute=minute)


def _one(event: HistoryEvent) -> TimelineEntry:
    (entry,) = timeline([event])
    return entry


# -- sentences -------------------------------------------------------------------------------------
def test_turns_are_counted_from_one() -> None:
    assert _one(_brush(1)).summary == "Brush stroke on turn 2 (final mask)"
    text = _one(_event("final_answer", {"turn": 0, "before": "old", "after": "new"}))
    assert text.summary == "Verified answer of turn 1 edited"
    moved = _one(_event("turn_move", {"from": 2, "to": 0}))
    assert moved.summary == "Turn 3 moved to position 1"
    proposed = _one(_event("proposal", {"proposal_ids": [4, 5], "turns": [0, 2]}, "miras@1"))
    assert proposed.summary == "Model proposals added for turns 1 and 3"


def test_an_undone_mask_edit_reads_as_an_undo() -> None:
    done, undone, redone = timeline([_brush(1), _brush(1, undo=True), _brush(1, redo=True)])
    assert undone.summary == "Undid: brush stroke on turn 2 (final mask)"
    assert redone.summary == "Redid: brush stroke on turn 2 (final mask)"
    assert done.kind == undone.kind == "mask"
    # The flag is said by the sentence, not repeated as a detail line.
    assert "undo" not in undone.detail


def test_an_undone_text_edit_says_which_text_is_back() -> None:
    event = _event(
        "question", {"turn": 2, "before": "Where?", "after": "Where is it?", "undo": True}
    )
    entry = _one(event)
    assert entry.summary == "Undid: question of turn 3 edited"
    assert entry.detail.splitlines() == [
        "text before the undo: Where is it?",
        "text after the undo: Where?",
    ]


def test_a_mask_edit_shows_pixels_and_area_never_payloads() -> None:
    rle = {"size": [480, 640], "counts": "PXn0" * 500}
    entry = _one(_brush(0, edits=[{"tool": "brush"}] * 200, mask=rle, counts={"brush": 200}))
    lines = entry.detail.splitlines()
    assert "pixels changed: 1,234" in lines
    assert "changed area: 40×25 px at x 12, y 30" in lines
    assert "brush radius: 8 px" in lines
    assert "PXn0" not in entry.detail
    assert "edits" not in entry.detail
    assert "mask: mask data (not shown)" in lines


def test_a_sam_edit_summarises_its_prompt() -> None:
    detail = {
        "turn": 0,
        "layer": "final",
        "rect": [0, 0, 10, 10],
        "tool": "sam",
        "points": [[5, 5], [7, 7], [1, 1]],
        "labels": [1, 1, 0],
        "box": None,
        "candidate": 0,
        "score": 0.93125,
        "subtract": True,
        "pixels": 80,
    }
    entry = _one(_event("mask", detail))
    assert entry.summary == "SAM mask subtracted on turn 1 (final mask)"
    lines = entry.detail.splitlines()
    assert "prompt points: 3 (2 on the object, 1 off it)" in lines
    assert "candidate taken: 1 (as listed, best first)" in lines
    assert "score: 0.931" in lines
    assert not any(line.startswith("box") for line in lines)  # no box was drawn


def test_a_review_says_decision_turn_reason_and_the_whole_comment() -> None:
    detail = {
        "decision": "reject",
        "turn_index": 1,
        "reason": "mask_wrong",
        "comment": LONG_COMMENT,
    }
    entry = _one(_event("review", detail, "bob"))
    assert len(LONG_COMMENT) > 400  # the old table cut detail at 400 characters
    assert entry.summary == f"Rejected turn 2 (reason: mask_wrong): “{LONG_COMMENT}”"
    assert entry.kind == "review"
    assert entry.who == "bob"
    whole = _one(_event("review", {"decision": "approve", "turn_index": None, "comment": ""}))
    assert whole.summary == "Approved the record"
    second = _one(
        _event("review", {"decision": "request_second", "turn_index": None, "comment": "unsure"})
    )
    assert second.summary == "Asked for a second review of the record: “unsure”"


def test_a_multi_line_comment_keeps_its_line_breaks_in_the_detail() -> None:
    comment = "First point.\nSecond point."
    entry = _one(_event("review", {"decision": "comment", "turn_index": 0, "comment": comment}))
    assert entry.summary == "Commented on turn 1: “First point. Second point.”"
    assert entry.detail == f"comment, as written:\n{comment}"


def test_a_reason_is_named_by_the_project_list_when_given() -> None:
    event = _event("review", {"decision": "reject", "turn_index": None, "reason": "blurry"})
    (entry,) = timeline([event], reason_labels={"blurry": "Image too blurry"})
    assert entry.summary == "Rejected the record (reason: Image too blurry [blurry])"


def test_a_status_change_says_from_to_and_why() -> None:
    plain = _one(_event("status", {"from": "draft", "to": "proposed"}, "miras@1"))
    assert plain.summary == "Status change: draft → proposed"
    why = {"from": "approved", "to": "in_review", "why": "edited after approval"}
    entry = _one(_event("status", why))
    assert entry.summary == "Status change: approved → in review (why: edited after approval)"
    assert entry.detail == ""


def test_an_undone_status_change_and_its_stored_echo_are_one_entry() -> None:
    """Undoing a review's status change writes the session's undo event and storage's own status
    event for the same move; the reviewer sees one line."""
    events = [
        _event("status", {"from": "in_review", "to": "approved", "undo": True}, minute=1),
        _event("status", {"from": "approved", "to": "in_review"}, minute=1),
        _event("status", {"from": "in_review", "to": "rejected"}, "bob", minute=2),
    ]
    undone, other = timeline(events)
    assert undone.summary == "Undid: status change in review → approved (back to in review)"
    assert other.summary == "Status change: in review → rejected"


def test_resolve_and_record_level_actions() -> None:
    resolved = _one(_event("resolve", {"review_id": 7, "turn_index": 2}))
    assert resolved.summary == "Marked a comment on turn 3 resolved"
    assert resolved.detail == "review id: 7"
    assert resolved.kind == "review"
    imported = _one(_event("import", {"source": "prist:test.json#12"}, "importer"))
    assert (imported.summary, imported.kind) == ("Imported from prist:test.json#12", "import")
    assert _one(_event("delete", {})).summary == "Record deleted"
    assert _one(_event("delete", {"undo": True})).summary == "Undid: record deleted"


def test_an_unknown_action_is_named_readably_with_its_detail() -> None:
    entry = _one(_event("merge_records", {"turn": 0, "into": 42, "note": "same image"}))
    assert entry.summary == "Recorded a “merge records” change on turn 1"
    assert entry.kind == "other"
    assert entry.detail.splitlines() == ["into: 42", "note: same image"]


def test_entries_keep_time_actor_and_order() -> None:
    events = [_brush(0), _event("status", {"from": "draft", "to": "in_review"}, "bob", minute=5)]
    entries = timeline(events)
    assert [(e.when, e.who) for e in entries] == [(T0, "ada"), (T0 + timedelta(minutes=5), "bob")]
    assert entry_of(events[1]).summary == entries[1].summary


# -- the real write path ---------------------------------------------------------------------------
def test_events_written_by_the_session_read_as_sentences(store: Store) -> None:
    (cid,) = store.add_conversations([make_conversation(1, turns=3)], actor="importer").added_ids
    session = EditSession(store, lambda: "ada")
    doc = session.open(cid)
    stroke = Stroke(doc, (2, MaskLayer.FINAL), 3, erase=False)
    stroke.to((10.0, 10.0))
    stroke.to((20.0, 12.0))
    command = stroke.finish("ada")
    assert command is not None
    assert session.record(command).ok
    assert session.undo().ok
    assert session.execute(SetText(2, "final_answer", None, "The cup on the left.")).ok
    assert session.review(Decision.COMMENT, LONG_COMMENT, turn_index=1).ok

    entries = timeline(store.history(cid))
    assert [e.summary for e in entries] == [
        "Imported from test.json#1",
        "Brush stroke on turn 3 (final mask)",
        "Undid: brush stroke on turn 3 (final mask)",
        "Verified answer of turn 3 set",
        f"Commented on turn 2: “{LONG_COMMENT}”",
    ]
    assert [e.who for e in entries] == ["importer", "ada", "ada", "ada", "ada"]
    stroke_detail = entries[1].detail.splitlines()
    assert any(line.startswith("pixels changed: ") for line in stroke_detail)
    assert "brush radius: 3 px" in stroke_detail
    assert "after: The cup on the left." in entries[3].detail.splitlines()


# -- the dialog ------------------------------------------------------------------------------------
def _dialog_events() -> list[HistoryEvent]:
    return [
        _event("import", {"source": "prist:test.json#3"}, "importer", minute=0),
        _brush(1, minute=1),
        _brush(1, minute=2, undo=True),
        _event(
            "review",
            {
                "decision": "reject",
                "turn_index": 0,
                "reason": "text_wrong",
                "comment": LONG_COMMENT,
            },
            "bob",
            minute=3,
        ),
        _event("status", {"from": "in_review", "to": "rejected"}, "bob", minute=3),
    ]


def _rows(table: Any, column: int) -> list[str]:
    return [
        table.item(r, column).text() for r in range(table.rowCount()) if not table.isRowHidden(r)
    ]


@pytest.fixture
def dialog(qtbot: Any) -> Any:
    from annotator.ui.history_dialog import HistoryDialog

    d = HistoryDialog(_dialog_events(), "History of #3")
    qtbot.addWidget(d)
    return d


def test_the_dialog_lists_sentences_with_local_times(dialog: Any) -> None:
    table = dialog.table
    assert [table.horizontalHeaderItem(c).text() for c in range(4)] == [
        "When",
        "Who",
        "Kind",
        "What",
    ]
    assert _rows(table, 3) == [
        "Imported from prist:test.json#3",
        "Brush stroke on turn 2 (final mask)",
        "Undid: brush stroke on turn 2 (final mask)",
        f"Rejected turn 1 (reason: text_wrong): “{LONG_COMMENT}”",
        "Status change: in review → rejected",
    ]
    assert _rows(table, 1) == ["importer", "ada", "ada", "bob", "bob"]
    local = (T0 + timedelta(minutes=3)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert table.item(3, 0).text() == local
    assert table.editTriggers() == table.EditTrigger.NoEditTriggers


def test_the_detail_pane_shows_the_selected_change_in_full(dialog: Any) -> None:
    table = dialog.table
    table.setCurrentCell(3, 3)
    text = dialog.detail.toPlainText()
    assert LONG_COMMENT in text and text.count("END-OF-COMMENT") == 1
    assert "bob" in text
    table.setCurrentCell(1, 3)
    lines = dialog.detail.toPlainText().splitlines()
    assert "Brush stroke on turn 2 (final mask)" in lines
    assert "pixels changed: 1,234" in lines


def test_the_filters_narrow_the_rows(dialog: Any) -> None:
    table = dialog.table
    dialog.filter.setText("undid")
    assert _rows(table, 3) == ["Undid: brush stroke on turn 2 (final mask)"]
    assert dialog.detail.toPlainText().splitlines()[1] == _rows(table, 3)[0]  # pane follows
    assert dialog.shown.text() == "1 of 5 shown"
    dialog.filter.setText("saucer")  # words of the comment are searched too
    assert _rows(table, 1) == ["bob"]
    dialog.filter.clear()
    dialog.kind.setCurrentIndex(dialog.kind.findData("mask"))
    assert _rows(table, 2) == ["mask", "mask"]
    dialog.filter.setText("bob")
    assert _rows(table, 3) == []
    assert dialog.detail.toPlainText() == ""
    dialog.kind.setCurrentIndex(dialog.kind.findData(""))
    assert _rows(table, 1) == ["bob", "bob"]


def test_newest_first_reverses_rows_and_keeps_the_selection(dialog: Any) -> None:
    table = dialog.table
    table.setCurrentCell(1, 3)
    dialog.newest_first.setChecked(True)
    assert _rows(table, 3)[0] == "Status change: in review → rejected"
    assert _rows(table, 3)[-1] == "Imported from prist:test.json#3"
    assert table.item(table.currentRow(), 3).text() == "Brush stroke on turn 2 (final mask)"
