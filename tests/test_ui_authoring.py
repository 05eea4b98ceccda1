"""An annotator writes data in the real window, offscreen: adds two images, writes a three-round
conversation whose final turn comes from a template, draws its mask, moves a turn, undoes and
redoes, duplicates it with another focus, deletes and restores one, and exports JSON lines
that import back into a new database identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_io import write_image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from annotator.core.model import Decision, MaskLayer, Status
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS
from annotator.services.import_job import import_jsonl
from annotator.services.settings import Settings
from annotator.storage import ListQuery, open_store
from annotator.ui.export_dialog import ExportRequest
from annotator.ui.new_conversation_dialog import NewConversation, NewConversationDialog

pytest_plugins = ["tests.fixtures_ui"]

JOB_MS = 120_000
TEXTS = [
    ("What is on the desk?", "A laptop, a lamp and a mug."),
    ("Which of them could hold coffee?", "The mug."),
    ("What colour is it?", "It is red."),
]


def _type_into(qtbot: Any, editor: Any, text: str, then: Any) -> None:
    """Type as a person does and leave the field (which commits it)."""
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    then.setFocus()
    qtbot.waitUntil(lambda: not editor.hasFocus())


def test_the_new_conversation_dialog_checks_its_fields(qtbot: Any) -> None:
    dialog = NewConversationDialog("a.jpg", list(SEG_REQUESTS), list(SEG_ANSWERS))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "focus" in dialog.problem.text()
    dialog.focus.setText("red mug")
    assert ok.isEnabled()
    dialog.answer.setEditText("It is the mug.")
    assert not ok.isEnabled() and "[SEG]" in dialog.problem.text()
    dialog.answer.setCurrentIndex(1)
    assert ok.isEnabled()
    assert dialog.result_value() == NewConversation("red mug", 2, SEG_REQUESTS[0], SEG_ANSWERS[1])


def test_an_annotator_writes_a_conversation_from_scratch(
    tmp_path: Path, make_app: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "photos"
    write_image(folder / "desk.jpg", 80, 60, seed=11)
    write_image(folder / "street.jpg", 90, 50, seed=12)
    db = tmp_path / "authored.sqlite3"
    parts = make_app(db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)

    # Two images, no conversation yet, added from the Images tab.
    w.images_dock.raise_()
    with qtbot.waitSignal(w.jobs.ended, timeout=JOB_MS) as ended:
        assert w.authoring.run_add_images(str(folder), False)
    assert ended.args[0] == "finished"
    assert "2 image(s) added" in w.jobs.last_message.text()
    w.jobs.last_message.close()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    assert w.images.list.count() == 2
    desk = w.images.list.item(0).data(Qt.ItemDataRole.UserRole)
    assert (desk.path, desk.conversations) == ("desk.jpg", 0)

    # Three reasoning rounds and the final turn from a template.
    wanted = NewConversation("red mug", 3, SEG_REQUESTS[2], SEG_ANSWERS[1])
    cid = w.authoring.create_conversation(parts.store.image(desk.id), wanted)
    doc = parts.session.document
    assert doc.id == cid and doc.turn_count == 4 and w.record.turn == 0
    cards = w.conversation.cards
    assert cards[3].question.toPlainText() == SEG_REQUESTS[2]
    assert cards[3].draft.toPlainText() == SEG_ANSWERS[1]
    assert "turn 1 has no question" in cards[0].rules.text()
    assert not w.review.approve.isEnabled()
    for i, (question, answer) in enumerate(TEXTS):
        _type_into(qtbot, cards[i].question, question, cards[i].draft)
        _type_into(qtbot, cards[i].draft, answer, cards[i].final)
    assert [doc.text(i, "question") for i in range(3)] == [q for q, _ in TEXTS]
    assert not any(card.rules.isVisible() for card in cards)

    # Its mask, on the segmentation turn.
    w.record.select_turn(3)
    w.editor.apply_polygon([(10, 10), (50, 10), (50, 40), (10, 40)], erase=False)
    final = doc.layer_array((3, MaskLayer.FINAL)).copy()
    assert final.sum() > 1000 and "not verified" in w.review.approve.toolTip()

    # Move the first turn down; undo; redo.
    w.record.select_turn(0)
    w.actions["move_turn_down"].trigger()
    order = [TEXTS[1][0], TEXTS[0][0], TEXTS[2][0]]
    assert [cards[i].question.toPlainText() for i in range(3)] == order
    assert w.record.turn == 1 and w.conversation.selected == 1
    stored = parts.store.get_conversation(cid)
    assert [t.question for t in stored.turns[:3]] == order
    w.undo()
    assert [doc.text(i, "question") for i in range(3)] == [q for q, _ in TEXTS]
    w.redo()
    assert [t.question for t in parts.store.get_conversation(cid).turns[:3]] == order
    assert np.array_equal(doc.layer_array((3, MaskLayer.FINAL)), final)  # the mask stayed put

    # A variant with another focus, on the same image.
    variant = w.authoring.duplicate_as("laptop")
    assert variant is not None and parts.session.document.id == variant
    assert w.conversation.focus_edit.text() == "laptop"
    assert [c.question.toPlainText() for c in w.conversation.cards[:3]] == order
    assert w.images.list.item(0).data(Qt.ItemDataRole.UserRole).conversations == 2

    # Delete the variant (an undoable step), and restore it.
    w.authoring.set_deleted(True)
    assert w.model.rowCount() == 1 and w.actions["restore_conversation"].isEnabled()
    w.undo()
    assert w.model.rowCount() == 2 and parts.store.get_conversation(variant).deleted_at is None
    w.redo()
    assert w.model.rowCount() == 1 and parts.store.get_conversation(variant).deleted_at
    events = [(e.action, e.detail, e.actor) for e in parts.store.history(variant)][-3:]
    assert events == [
        ("delete", {}, "ada"),
        ("delete", {"undo": True}, "ada"),
        ("delete", {"redo": True}, "ada"),
    ]
    w.browser.status_filter.setCurrentIndex(w.browser.status_filter.findData("deleted"))
    assert [w.model.summary(r).id for r in range(w.model.rowCount())] == [variant]
    w.authoring.set_deleted(False)
    w.browser.status_filter.setCurrentIndex(0)
    assert w.model.rowCount() == 2 and not w.actions["restore_conversation"].isEnabled()

    # Approve the conversation and export it; it comes back identically.
    w.queue.open_conversation(cid)
    for turn in range(4):  # the reviewer takes each written answer as verified
        w.record.use_draft(turn)
    assert w.record.review(Decision.APPROVE).ok
    out = tmp_path / "authored.jsonl"
    with qtbot.waitSignal(w.jobs.ended, timeout=JOB_MS):
        assert w.files.run_export(ExportRequest("jsonl", str(out)))
    fresh = open_store(tmp_path / "again.sqlite3")
    try:
        assert import_jsonl(fresh, out).added == 1
        (back,) = fresh.iter_conversations(ListQuery())
    finally:
        fresh.close()
    mine = parts.store.get_conversation(cid)
    assert back.status == Status.APPROVED and back.focus == mine.focus == "red mug"
    assert [(t.question, t.draft_answer) for t in back.turns] == [
        (t.question, t.draft_answer) for t in mine.turns
    ]
    assert (
        back.target_turn.layer(MaskLayer.FINAL)[0].mask
        == mine.target_turn.layer(MaskLayer.FINAL)[0].mask
    )


def test_removing_a_turn_with_a_verified_mask_asks_first(
    sample_db: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    target = doc.target_turn
    w.record.take_draft_mask()  # a verified mask on the target turn
    asked: list[str] = []

    def answer(no_or_yes: QMessageBox.StandardButton) -> Any:
        def ask(*args: Any, **_kw: Any) -> QMessageBox.StandardButton:
            asked.append(args[2])
            return no_or_yes

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    w.conversation.cards[target].shape_buttons["remove"].click()
    assert doc.turn_count == target + 1 and "verified mask" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    w.conversation.cards[target].shape_buttons["remove"].click()
    assert doc.turn_count == target and len(w.conversation.cards) == target
    assert len(parts.store.get_conversation(doc.id).turns) == target
    w.conversation.cards[0].shape_buttons["remove"].click()  # no mask: no question asked
    assert len(asked) == 2 and doc.turn_count == target - 1


def test_the_images_list_reads_when_shown_and_thumbnails_for_the_rows_in_view(
    qtbot: Any,
) -> None:
    """A project may hold tens of thousands of images: the list is read when it is on screen
    (not while it waits behind another tab), and one thumbnail read per row shown."""
    from annotator.core.listing import ImageSummary
    from annotator.ui.icons import Icons
    from annotator.ui.image_browser import ImageBrowser
    from annotator.ui.record_list import ThumbnailCache
    from annotator.ui.task_runner import TaskRunner

    images = [
        ImageSummary(i, f"img_{i:05d}.jpg", "/r", 64, 48, f"{i:064x}", i % 3) for i in range(5000)
    ]
    reads: list[int] = []
    asked: list[str] = []

    def load() -> list[ImageSummary]:
        reads.append(len(images))
        return images

    def locate(summary: ImageSummary) -> str:
        asked.append(summary.path)
        return f"/nowhere/{summary.path}"

    runner = TaskRunner(threads=1)
    browser = ImageBrowser(ThumbnailCache(runner), load, locate, Icons(None))
    qtbot.addWidget(browser)
    browser.resize(300, 400)
    browser.show()
    qtbot.waitExposed(browser)
    browser.reload()  # its tab is not the one shown: read when it is
    assert reads == [] and browser.list.count() == 0
    browser.set_on_screen(True)
    assert reads == [5000]
    browser.set_on_screen(False)
    browser.set_on_screen(True)
    assert reads == [5000]  # nothing changed meanwhile: not read again
    assert browser.list.count() == 5000
    assert 0 < len(asked) < 40 and asked[0] == "img_00000.jpg"
    browser.list.scrollToBottom()
    assert "img_04999.jpg" in asked and len(asked) < 80
    assert browser.count.text() == "5000 image(s), 1667 without a conversation"
    runner.cancel_all()
    runner.wait(2000)
