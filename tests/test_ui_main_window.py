"""The real main window driven offscreen: open the sample, select a turn, paint, erase,
undo/redo, approve, reopen the app and find the same state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from annotator.core.model import Decision, MaskLayer, Status
from annotator.storage import open_store

pytest_plugins = ["tests.fixtures_ui"]


def _view_point(window: Any, x: float, y: float) -> QPoint:
    return window.canvas.mapFromScene(QPointF(x, y))


def _drag(window: Any, pts: list[tuple[float, float]]) -> None:
    vp = window.canvas.viewport()
    first = _view_point(window, *pts[0])
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for x, y in pts[1:]:
        QTest.mouseMove(vp, _view_point(window, x, y))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, _view_point(window, *pts[-1])
    )


def _stored_final(db: Path, conv_id: int, turn: int) -> np.ndarray:
    store = open_store(db)
    try:
        conv = store.get_conversation(conv_id)
    finally:
        store.close()
    h, w = conv.image.height, conv.image.width
    acc = np.zeros((h, w), dtype=bool)
    for m in conv.turns[turn].layer(MaskLayer.FINAL):
        acc |= m.mask.to_array()
    return acc


def test_title_list_and_open(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    assert "PRIST Annotator" in w.windowTitle()
    assert w.model.rowCount() == 10
    w.select_row(0)
    doc = parts.session.document
    assert doc is not None and doc.id == w.model.summary(0).id
    assert w.editor.turn == doc.target_turn  # the [SEG] turn is selected first
    assert len(w.conversation.cards) == doc.turn_count
    w.queue.go(+1)
    assert parts.session.document.id == w.model.summary(1).id
    w.browser.flag_filter.setCurrentIndex(w.browser.flag_filter.findData(True))
    assert 0 < w.model.rowCount() < 10
    assert all(w.model.summary(r).flag_count > 0 for r in range(w.model.rowCount()))


def test_paint_erase_undo_redo_approve_and_reopen(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    conv_id = doc.id
    turn = 1
    w.record.select_turn(turn)
    assert w.editor.turn == turn and w.conversation.selected == turn
    w.set_tool("brush")
    w.editor.set_brush_radius(10)
    _drag(w, [(100, 100), (160, 110), (220, 120)])
    final = doc.layer_array((turn, MaskLayer.FINAL))
    painted = final.copy()
    assert painted[110, 160] and painted.sum() > 1000
    assert parts.session.history.is_clean  # saved right after the stroke
    assert np.array_equal(_stored_final(sample_db, conv_id, turn), painted)

    w.set_tool("eraser")
    _drag(w, [(160, 100), (160, 125)])
    erased = final.copy()
    assert not erased[110, 160] and erased.sum() < painted.sum()
    assert np.array_equal(_stored_final(sample_db, conv_id, turn), erased)

    w.undo()
    assert np.array_equal(final, painted)
    assert np.array_equal(_stored_final(sample_db, conv_id, turn), painted)
    w.redo()
    assert np.array_equal(final, erased)
    assert parts.session.history.is_clean

    # approving needs a final mask on the target turn: not there yet
    assert not w.review.approve.isEnabled()
    w.record.select_turn(doc.target_turn)
    assert w.record.take_draft_mask()
    # The answers are drafts: approving needs them verified (here: taken from the draft).
    assert not w.review.approve.isEnabled()
    assert "answer is not verified" in w.review.approve.toolTip()
    for t in range(doc.turn_count):
        w.record.use_draft(t)
    assert w.review.approve.isEnabled()
    w.review.comment.setText("looks right")
    w.reviews.decide(Decision.APPROVE, "looks right")
    assert doc.status == Status.APPROVED
    assert w.review.reopen.isEnabled() and not w.review.approve.isEnabled()
    history = parts.store.history(conv_id)
    assert {"mask", "status"} <= {e.action for e in history} or any(
        e.action == "review" for e in history
    )
    w.close()
    parts.store.close()

    again = make_app(sample_db)
    w2 = again.window
    row = w2.model.row_of(conv_id)
    assert row is not None
    assert w2.model.summary(row).status == Status.APPROVED
    w2.select_row(row)
    doc2 = again.session.document
    assert doc2.status == Status.APPROVED
    assert np.array_equal(doc2.layer_array((turn, MaskLayer.FINAL)), erased)
    assert doc2.has_mask((doc2.target_turn, MaskLayer.FINAL))


def test_hundred_undo_steps_and_exact_dirty_state(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(2)
    doc = parts.session.document
    key = (w.editor.turn, MaskLayer.FINAL)
    start = doc.layer_array(key).copy()
    for i in range(105):
        x = 20 + (i % 40) * 10
        _drag(w, [(x, 30 + i), (x + 5, 35 + i)])
    assert parts.session.history.index == 105
    for _ in range(105):
        w.undo()
    assert np.array_equal(doc.layer_array(key), start)
    assert parts.session.history.is_clean and not w.isWindowModified()


def test_text_edit_take_answer_and_undo(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    w.record.use_draft(0)
    assert doc.text(0, "final_answer") == doc.turn(0).draft_answer
    w.record.commit_text(0, "final_answer", "An orange flight suit.")
    store = open_store(sample_db)
    assert store.get_conversation(doc.id).turns[0].final_answer == "An orange flight suit."
    store.close()
    w.undo()
    assert doc.text(0, "final_answer") == doc.turn(0).draft_answer
    assert w.conversation.cards[0].final.toPlainText() == doc.turn(0).draft_answer


def test_polygon_fill_holes_clear_and_layers(sample_db: Path, make_app: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    key = (w.editor.turn, MaskLayer.FINAL)
    w.editor.apply_polygon([(50, 50), (150, 50), (150, 150), (50, 150)], False)
    arr = doc.layer_array(key)
    assert arr[100, 100] and arr.sum() > 9000
    w.editor.apply_polygon([(90, 90), (110, 90), (110, 110), (90, 110)], True)
    assert not arr[100, 100]
    w.editor.fill_holes()
    assert arr[100, 100]
    w.editor.clear_mask()
    assert not arr.any()
    for key_name in ("draft", "final", "diff"):
        w.actions[f"toggle_{key_name}"].setChecked(not w.editor.layer_visible(key_name))
    assert w.editor._raster["diff"].isVisible()
    assert not w.editor._raster["draft"].isVisible()


def test_shortcut_and_history_dialogs(sample_db: Path, make_app: Any) -> None:
    from annotator.ui.history_dialog import HistoryDialog
    from annotator.ui.shortcuts import SHORTCUTS, ShortcutsDialog

    parts = make_app(sample_db)
    w = parts.window
    keys = [s.keys for s in SHORTCUTS]
    bound = [k for k in keys if k]
    assert len(bound) == len(set(bound))  # no shortcut bound twice
    dialog = ShortcutsDialog(w)
    assert dialog.table.rowCount() >= len(SHORTCUTS)
    table = dialog.table
    dialog.filter.setText("mask ctrl+shift")
    shown = [r for r in range(table.rowCount()) if not table.isRowHidden(r)]
    assert shown and len(shown) < table.rowCount()
    assert all("ctrl+shift" in table.item(r, 2).text().casefold() for r in shown)
    assert "Clear mask" in [table.item(r, 1).text() for r in shown]
    dialog.filter.clear()
    assert not any(table.isRowHidden(r) for r in range(table.rowCount()))
    # Every key combination is shown whole, and nothing in the table is editable.
    keys_width = table.columnWidth(2)
    assert all(
        table.fontMetrics().horizontalAdvance(table.item(r, 2).text()) < keys_width
        for r in range(table.rowCount())
    )
    assert table.editTriggers() == table.EditTrigger.NoEditTriggers
    w.select_row(0)
    w.editor.apply_polygon([(10, 10), (60, 10), (60, 60)], False)
    events = parts.store.history(parts.session.document.id)
    hd = HistoryDialog(events, "h", w)
    assert hd.table.rowCount() == len(events) >= 1
    assert any(hd.table.item(r, 2).text() == "mask" for r in range(hd.table.rowCount()))


def test_about_box_reports_what_a_bug_report_needs(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    from PySide6.QtGui import QGuiApplication

    import annotator
    from annotator.core.appdirs import models_dir
    from annotator.ui.about_dialog import AboutDialog, facts_of

    parts = make_app(sample_db)
    w = parts.window
    assert "about" in w.actions and w.actions["about"].text() == "About PRIST Annotator"
    facts = facts_of(w.store, w.sam, w.proposer.state_text())
    assert facts.records == 10 and facts.database == parts.store.url
    dialog = AboutDialog(facts, w)
    text = dialog.report.toPlainText()
    assert f"PRIST Annotator {annotator.__version__}" in text
    assert f"{parts.store.url} (10 records)" in text
    assert str(models_dir()) in text
    assert "Threads" in text and "Python" in text
    assert "Proposer      none" in text  # the proposer's state line, without its prefix
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == text


def test_about_box_says_when_sam_runs_from_its_graphs_alone(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from annotator.proposers.weights_registry import GRAPHS_ONLY, InstalledWeights
    from annotator.ui.about_dialog import sam_facts

    marker = tmp_path / "onnx" / "mobile-sam-abababababababab-v7-checked.json"
    weights = InstalledWeights(
        "mobile-sam", "vit_t", marker, "ab" * 32, GRAPHS_ONLY, 1, "2026-12-07T00:00:00+00:00"
    )
    engine = SimpleNamespace(model_id="mobile-sam", weights=weights, runtime_note="onnxruntime")
    model, shown, runtime = sam_facts(SimpleNamespace(engine=engine, ready=True))
    assert (model, runtime) == ("mobile-sam", "onnxruntime")
    assert shown == f"ONNX graphs only, {tmp_path / 'onnx'} (of sha256 abababababab…)"
