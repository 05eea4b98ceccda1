"""A save conflict through the real window (pytest-qt, offscreen): a second session saves the
open record behind the window's back, the user's next save opens the conflict dialog, the user
chooses turn by turn and applies, and the database holds what was chosen with one merge event.
Cancel leaves the record unsaved, with a status-bar button that opens the dialog again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from annotator.core.commands import SetText
from annotator.core.model import Conversation, MaskLayer
from annotator.services.save_conflict import MERGE_ACTION, Side, discarded_turns
from annotator.services.session import EditSession
from annotator.services.settings import Settings
from annotator.storage import open_store
from annotator.ui.conflict_dialog import RECORD, ConflictDialog

pytest_plugins = ["tests.fixtures_ui"]


@pytest.fixture(autouse=True)
def _no_question_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record left unsaved (a failed check) would ask on close; the test answers Discard."""
    monkeypatch.setattr(
        QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Discard
    )


POLYGON = [(2.0, 2.0), (40.0, 2.0), (40.0, 30.0), (2.0, 30.0)]


def _on_dialog(act: Callable[[ConflictDialog], None], seen: list[ConflictDialog]) -> None:
    """Act on the conflict dialog once it is shown (it opens after the save returns)."""

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConflictDialog):
            QTimer.singleShot(20, poll)
            return
        seen.append(dialog)
        try:
            act(dialog)
        finally:
            if dialog.isVisible():  # a failed check must not leave the test blocked in exec
                dialog.reject()

    QTimer.singleShot(0, poll)


def _bob_saves_behind(db: Path, conv_id: int) -> Conversation:
    """Another annotator, on the same database file, changes turn 1's question and turn 2's
    answer."""
    store = open_store(db)
    try:
        bob = EditSession(store, lambda: "bob")
        doc = bob.open(conv_id)
        bob.execute(SetText(0, "question", doc.text(0, "question"), "Bob's question?"))
        bob.execute(SetText(1, "final_answer", doc.text(1, "final_answer"), "Bob's answer."))
        assert not bob.is_dirty
        return store.get_conversation(conv_id)
    finally:
        store.close()


def _window_with_conflict(sample_db: Path, make_app: Any) -> tuple[Any, int, Conversation]:
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    assert doc.turn_count >= 3
    bob = _bob_saves_behind(sample_db, doc.id)
    return parts, doc.id, bob


def _shown(widget: QWidget) -> str:
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def _merges(parts: Any, conv_id: int) -> list[Any]:
    return [e for e in parts.store.history(conv_id) if e.action == MERGE_ACTION]


def test_the_users_save_opens_the_dialog_and_a_turn_by_turn_merge_is_stored(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts, cid, bob = _window_with_conflict(sample_db, make_app)
    w, doc = parts.window, parts.session.document
    target = doc.target_turn
    seen: list[ConflictDialog] = []

    def choose(dialog: ConflictDialog) -> None:
        assert set(dialog.rows) == {0, 1, target}
        mine, theirs = dialog.rows[0].frames
        assert "Ada" in _shown(mine) and "Bob" not in _shown(mine)
        assert "Bob" in _shown(theirs) and "Ada" not in _shown(theirs)
        # Turn 1: both changed it, mine is offered; take Bob's instead. Keep my mask.
        assert dialog.rows[0].side == Side.MINE
        dialog.set_choice(0, Side.THEIRS)
        assert dialog.rows[1].side == Side.THEIRS  # only Bob changed turn 2
        assert dialog.rows[target].side == Side.MINE  # only I changed the mask
        assert "mine on turn " in dialog.summary.text()
        # Only the verified mask of the target differs: mine, theirs and the difference.
        pictures = [p for p in dialog.findChildren(QLabel) if not p.pixmap().isNull()]
        assert len(pictures) == 3
        dialog.apply_button.click()

    _on_dialog(choose, seen)
    w.record.commit_text(0, "question", "Ada's question?")
    assert "UNSAVED" in w.save_label.text()
    w.record.select_turn(target)
    w.editor.apply_polygon(POLYGON, erase=False)
    mine_mask = doc.layer_array((target, MaskLayer.FINAL)).copy()
    qtbot.waitUntil(lambda: bool(_merges(parts, cid)), timeout=10000)
    assert len(seen) == 1  # two conflicting saves, one dialog
    stored = parts.store.get_conversation(cid)
    assert stored.turns[0].question == "Bob's question?"
    assert stored.turns[1].final_answer == "Bob's answer."
    [final] = stored.turns[target].layer(MaskLayer.FINAL)
    assert np.array_equal(final.mask.to_array(), mine_mask)
    [merge] = _merges(parts, cid)
    assert merge.detail["turns"][0] == "theirs" and merge.detail["turns"][target] == "mine"
    lost = discarded_turns(merge, doc.size[0], doc.size[1])
    assert lost[0] is not None and lost[0].question == "Ada's question?"
    bobs = bob.turns[target].layer(MaskLayer.FINAL)
    lost_final = lost[target].layer(MaskLayer.FINAL) if lost[target] else ()
    assert [a.mask for a in lost_final] == [a.mask for a in bobs]
    # The window shows the merged record, saved, with a fresh undo history.
    assert not parts.session.is_dirty and not w.conflicts.button.isVisible()
    assert "merged" in w.save_label.text() and "UNSAVED" not in w.save_label.text()
    assert doc.text(0, "question") == "Bob's question?"
    assert not w.actions["undo"].isEnabled()


def test_cancel_leaves_it_unsaved_and_the_status_bar_opens_it_again(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts, cid, _bob = _window_with_conflict(sample_db, make_app)
    w, doc = parts.window, parts.session.document
    seen: list[ConflictDialog] = []
    _on_dialog(lambda d: d.cancel_button.click(), seen)
    w.record.commit_text(0, "question", "Ada's question?")
    qtbot.waitUntil(lambda: len(seen) == 1 and not seen[0].isVisible(), timeout=10000)
    assert "UNSAVED" in w.save_label.text() and parts.session.is_dirty
    assert doc.text(0, "question") == "Ada's question?"
    assert w.conflicts.button.isVisible()
    assert not _merges(parts, cid)
    # Another edit meets the same revision of theirs: not asked again unprompted...
    w.record.commit_text(1, "question", "Ada's second question?")
    qtbot.wait(100)
    assert len(seen) == 1
    # ...the status bar's button asks.

    def keep_mine(dialog: ConflictDialog) -> None:
        dialog.all_mine.click()
        assert all(row.side == Side.MINE for row in dialog.rows.values())
        assert RECORD not in dialog.rows  # nobody changed the focus or status
        dialog.apply_button.click()

    _on_dialog(keep_mine, seen)
    w.conflicts.button.click()
    qtbot.waitUntil(lambda: bool(_merges(parts, cid)), timeout=10000)
    stored = parts.store.get_conversation(cid)
    assert stored.turns[0].question == "Ada's question?"
    assert stored.turns[1].question == "Ada's second question?"
    assert stored.turns[1].final_answer != "Bob's answer."
    [merge] = _merges(parts, cid)
    lost = discarded_turns(merge, doc.size[0], doc.size[1])
    assert lost[1] is not None and lost[1].final_answer == "Bob's answer."
    assert not w.conflicts.button.isVisible()
