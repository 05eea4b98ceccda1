"""Review you can trust, driven through the real window (pytest-qt, offscreen): an approved
record that an edit sends back to review after a warning, a stale verdict on the card and in
the list, a reject that needs its reason, the comment thread, a second blind reviewer who sees
nothing of the first review, and no action running ahead of the text being typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.core.mask import Mask
from annotator.core.model import Decision, MaskLayer, Proposal, Status
from annotator.services.settings import Settings
from annotator.storage import ListQuery, open_store
from annotator.ui.reason_dialog import ReasonDialog

pytest_plugins = ["tests.fixtures_ui"]


def _ready_to_approve(sample_db: Path, make_app: Any) -> Any:
    """The first record, its draft mask and answers taken as verified."""
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    w.record.select_turn(doc.target_turn)
    w.record.take_draft_mask()
    for t in range(doc.turn_count):
        w.record.use_draft(t)
    return parts


def _approved_window(sample_db: Path, make_app: Any) -> Any:
    parts = _ready_to_approve(sample_db, make_app)
    parts.window.reviews.decide(Decision.APPROVE, "")
    assert parts.session.document.status == Status.APPROVED
    return parts


def _answer_dialog(fill: Any) -> None:
    """Act on the next modal dialog once it is shown."""

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, act)
            return
        fill(dialog)

    QTimer.singleShot(0, act)


def test_editing_an_approved_record_warns_then_sends_it_back(
    sample_db: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _approved_window(sample_db, make_app)
    w, doc = parts.window, parts.session.document
    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton) -> Any:
        def ask(_parent: Any, title: str, *_a: Any, **_k: Any) -> QMessageBox.StandardButton:
            asked.append(title)
            return button

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    before = doc.layer_array((doc.target_turn, MaskLayer.FINAL)).copy()
    w.editor.apply_polygon([(2, 2), (30, 2), (30, 20)], erase=False)
    assert asked == ["Edit an approved record?"]
    assert np.array_equal(doc.layer_array((doc.target_turn, MaskLayer.FINAL)), before)
    assert doc.status == Status.APPROVED
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    w.editor.apply_polygon([(2, 2), (30, 2), (30, 20)], erase=False)
    assert doc.status == Status.IN_REVIEW
    assert w.model.summary(0).status == Status.IN_REVIEW
    assert "IN REVIEW" in w.review.status.text()
    last = [e for e in parts.store.history(doc.id) if e.action == "status"][-1]
    assert last.detail["why"] == "edited after approval"
    # Every turn's verdict came from the approval: the edited target's is stale now.
    card = w.conversation.cards[doc.target_turn]
    assert "stale" in card.verdict.text() and "judge the turn again" in card.verdict.toolTip()
    assert "stale" not in w.conversation.cards[0].verdict.text()
    assert w.model.data(w.model.index(0, 2)) == "⚠1 in review"
    assert "Cannot approve" in w.review.approve.toolTip() and not w.review.approve.isEnabled()


def test_a_reject_needs_its_reason(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    # No reason chosen on the card: the reason is asked for; cancelling stores nothing.
    _answer_dialog(lambda d: d.reject())
    w.conversation.cards[1].reject_button.click()
    assert parts.store.reviews(doc.id) == []

    def choose(d: ReasonDialog) -> None:
        assert not d.buttons.button(d.buttons.StandardButton.Ok).isEnabled()
        d.reason.setCurrentIndex(d.reason.findData("mask_wrong"))
        d.comment.setText("the handle is cut off")
        d.accept()

    _answer_dialog(choose)
    w.conversation.cards[1].reject_button.click()
    (stored,) = parts.store.reviews(doc.id)
    assert (stored.turn_index, stored.reason, stored.comment) == (
        1,
        "mask_wrong",
        "the handle is cut off",
    )
    # The whole record: Reject asks too, and a reopen asks why.
    _answer_dialog(lambda d: d.reject())
    w.reviews.decide(Decision.REJECT)
    assert doc.status == Status.IN_REVIEW
    _answer_dialog(lambda d: (d.reason.setCurrentIndex(1), d.accept()))
    w.reviews.decide(Decision.REJECT)
    assert doc.status == Status.REJECTED
    assert parts.store.reviews(doc.id)[-1].reason == "mask_wrong"
    _answer_dialog(lambda d: (d.comment.setText("wrong reason"), d.accept()))
    w.reviews.decide(Decision.REOPEN)
    assert doc.status == Status.IN_REVIEW
    assert parts.store.reviews(doc.id)[-1].comment == "wrong reason"


def test_thread_is_shown_and_resolved_and_the_box_is_per_record(
    sample_db: Path, make_app: Any
) -> None:
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    panel = w.review
    panel.comment.setText("Which cup is meant?")
    panel.on_turn.setChecked(True)
    panel.post.click()
    panel.comment.setText("Overall fine")
    panel.on_turn.setChecked(False)
    panel.post.click()
    texts = [panel.thread.item(i).text() for i in range(panel.thread.count())]
    assert texts[0].startswith("ada · ") and texts[0].endswith("record\nOverall fine")
    assert "turn 4" in texts[1] and texts[1].endswith("Which cup is meant?")
    panel.thread.setCurrentRow(1)
    assert panel.resolve.isEnabled()
    panel.resolve.click()
    assert "resolved by ada" in panel.thread.item(1).text()
    # Words typed for one record never go with another record's decision.
    panel.comment.setText("half-written note")
    w.select_row(1)
    assert panel.comment.text() == "" and not panel.on_turn.isChecked()
    assert panel.thread.item(0).text() == "No comments yet"


def test_a_second_blind_reviewer_sees_nothing_of_the_first(sample_db: Path, make_app: Any) -> None:
    store = open_store(sample_db)
    cid = store.page(ListQuery(), 0, 1)[0].id
    conv = store.get_conversation(cid)
    target = len(conv.turns) - 1
    proposed = np.zeros((conv.image.height, conv.image.width), bool)
    proposed[4:40, 6:50] = True
    store.add_proposals(
        cid, [Proposal(target, "m", "1", "It is [SEG].", masks=(Mask.from_array(proposed),))]
    )
    store.close()
    first = make_app(sample_db, settings=Settings(reviewer="ana", blind_first=True))
    w1 = first.window
    w1.select_row(0)
    w1.reviews.turn_review(target, Decision.REJECT, "mask_wrong")
    w1.review.comment.setText("misses the rim")
    w1.review.on_turn.setChecked(True)
    w1.review.post.click()
    w1.close()
    first.store.close()

    second = make_app(sample_db, settings=Settings(reviewer="ben", blind_first=True))
    w2 = second.window
    w2.select_row(0)
    w2.record.select_turn(target)
    card = w2.conversation.cards[target]
    assert card.verdict.text() == ""  # ana's verdict
    assert "hidden" in card.proposal.text()  # the model's answer
    assert not w2.editor.layer_visible("draft") or not w2.editor._raster["draft"].isVisible()
    assert not w2.editor._raster["proposal"].isVisible()
    assert w2.review.thread.item(0).text() == "No comments yet"  # ana's words
    assert w2.browser.table.isColumnHidden(6)  # the correction column
    w2.reviews.turn_review(target, Decision.APPROVE, None)
    assert "ana" in w2.review.thread.item(0).text()
    assert "OK" in card.verdict.text() and "ben" in card.verdict.text()
    assert w2.editor._raster["proposal"].isVisible()


def test_no_action_runs_ahead_of_typed_text(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    parts = _ready_to_approve(sample_db, make_app)
    w, doc = parts.window, parts.session.document
    editor = w.conversation.cards[0].final
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    editor.selectAll()
    qtbot.keyClicks(editor, "A corrected answer.")
    assert "UNSAVED" in w.save_label.text()  # typed, not committed
    w.actions["approve"].trigger()  # Ctrl+Return while the text is still in the box
    stored = parts.store.get_conversation(doc.id)
    assert stored.status == Status.APPROVED
    assert stored.turns[0].final_answer == "A corrected answer."
    assert "UNSAVED" not in w.save_label.text()


def test_the_wheel_scrolls_past_a_reason_box(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    box = w.conversation.cards[1].reason
    assert box.currentData() is None
    event = QWheelEvent(
        QPoint(5, 5).toPointF(),
        box.mapToGlobal(QPoint(5, 5)).toPointF(),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(box, event)
    assert box.currentData() is None


def test_switching_records_commits_typed_text_first(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    first = parts.session.document.id
    editor = w.conversation.cards[0].question
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    editor.selectAll()
    qtbot.keyClicks(editor, "Which patch is on the left sleeve?")
    w.select_row(1)
    assert parts.session.document.id != first
    stored = parts.store.get_conversation(first)
    assert stored.turns[0].question == "Which patch is on the left sleeve?"
