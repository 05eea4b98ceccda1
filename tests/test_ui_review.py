"""Per-turn review with reason codes, blind-first review, the per-turn mask diff, the review
queue sorted by correction size, and the quality dashboard docked in the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fixtures_metrics import MetricsProject
from PySide6.QtCore import QPoint, Qt

from annotator.core.mask import Mask
from annotator.core.mask_edit import Rect
from annotator.core.model import Decision, MaskLayer, Proposal, ReasonCode, Status
from annotator.services.settings import Settings
from annotator.storage import ListQuery, open_store

pytest_plugins = ["tests.fixtures_ui"]


def _reviews(db: Path, conv_id: int) -> list[Any]:
    store = open_store(db)
    try:
        return store.reviews(conv_id)
    finally:
        store.close()


def test_turn_review_buttons_store_reason_codes_and_status_follows(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db, settings=Settings(reviewer="ada"))
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    card = w.conversation.cards[1]
    card.set_reason(ReasonCode.TEXT_WRONG)
    qtbot.mouseClick(card.reject_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.conversation.cards[0].accept_button, Qt.MouseButton.LeftButton)
    stored = _reviews(sample_db, doc.id)
    assert [(r.turn_index, r.decision, r.reason, r.reviewer) for r in stored] == [
        (1, Decision.REJECT, ReasonCode.TEXT_WRONG, "ada"),
        (0, Decision.APPROVE, None, "ada"),
    ]
    # Turn verdicts add up; they do not reject the record (that is its own step).
    assert doc.status == Status.IN_REVIEW
    assert "text wrong" in card.verdict.text() and "ada" in card.verdict.text()
    assert "OK" in w.conversation.cards[0].verdict.text()
    assert w.model.summary(0).status == Status.IN_REVIEW  # the list row follows
    # keyboard: Alt+Backspace rejects the selected turn with its card's reason
    w.record.select_turn(2)
    w.conversation.cards[2].set_reason(ReasonCode.AMBIGUOUS)
    w.actions["reject_turn"].trigger()
    assert _reviews(sample_db, doc.id)[-1].reason == ReasonCode.AMBIGUOUS
    conv_id = doc.id
    # every turn OK is still not the record's approval
    w.select_row(1)
    other = parts.session.document
    for t in range(other.turn_count):
        qtbot.mouseClick(w.conversation.cards[t].accept_button, Qt.MouseButton.LeftButton)
    assert other.status == Status.IN_REVIEW
    assert w.conversation.cards[1].reason.currentData() is None  # not carried over
    w.close()
    parts.store.close()

    again = make_app(sample_db)
    w2 = again.window
    w2.select_row(w2.model.row_of(conv_id))
    cards = w2.conversation.cards
    assert "text wrong" in cards[1].verdict.text()
    assert "OK" in cards[0].verdict.text()
    assert "ambiguous reference" in cards[2].verdict.text()
    assert cards[3].verdict.text() == ""


def _add_proposal(db: Path, conv_id: int, turn: int, mask: np.ndarray, answer: str) -> None:
    store = open_store(db)
    try:
        store.add_proposals(
            conv_id,
            [Proposal(turn, "miras", "test-1", answer, masks=(Mask.from_array(mask),))],
        )
    finally:
        store.close()


def test_blind_first_hides_the_model_until_the_turn_is_judged(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    store = open_store(sample_db)
    conv = store.get_conversation(store.page(ListQuery(), 0, 1)[0].id)
    store.close()
    h, w_ = conv.image.height, conv.image.width
    target = len(conv.turns) - 1
    proposed = np.zeros((h, w_), bool)
    proposed[50:150, 60:200] = True
    _add_proposal(sample_db, conv.id, target, proposed, "The patch on her chest [SEG].")

    parts = make_app(sample_db, settings=Settings(blind_first=True))
    w = parts.window
    w.select_row(w.model.row_of(conv.id))
    assert w.editor.turn == target
    card = w.conversation.cards[target]
    assert w.actions["toggle_proposal"].isChecked()
    assert not w.editor._raster["proposal"].isVisible()  # layer on, but hidden: not judged
    assert "hidden" in card.proposal.text() and "patch" not in card.proposal.text()
    assert not card.take_proposal.isEnabled()
    assert "hidden" in w.review.diff.text()
    w.record.use_proposal(target)
    assert not parts.session.document.has_mask((target, MaskLayer.FINAL))  # refused

    qtbot.mouseClick(card.accept_button, Qt.MouseButton.LeftButton)
    assert w.editor._raster["proposal"].isVisible()
    assert "patch" in card.proposal.text()
    assert card.take_proposal.isEnabled()
    w.record.use_proposal(target)
    final = parts.session.document.layer_array((target, MaskLayer.FINAL))
    assert np.array_equal(final, proposed)


def _latest_union(proposals: list[Proposal], turn: int, shape: tuple[int, int]) -> np.ndarray:
    mine = [p for p in proposals if p.turn_index == turn]
    latest = max(mine, key=lambda p: (p.created_at, p.id or 0))
    acc = np.zeros(shape, bool)
    for m in latest.masks:
        acc |= m.to_array()
    return acc


def test_turn_diff_in_three_colours_and_queue_sorted_by_correction(
    metrics_project: MetricsProject, make_app: Any
) -> None:
    parts = make_app(metrics_project.db)
    w = parts.window
    w.browser.sort.setCurrentIndex(w.browser.sort.findData("correction"))
    sizes = [w.model.summary(r).correction_pixels for r in range(w.model.rowCount())]
    known = [s for s in sizes if s is not None]
    assert len(known) >= 5 and known == sorted(known, reverse=True)
    assert sizes[: len(known)] == known  # records without a correction come last
    assert w.model.data(w.model.index(0, 6)) == f"{known[0]:,}"

    w.select_row(0)
    doc = parts.session.document
    t = doc.target_turn
    shape = doc.size
    proposal = _latest_union(parts.store.proposals(doc.id), t, shape)
    final = doc.layer_array((t, MaskLayer.FINAL))
    added = int((final & ~proposal).sum())
    removed = int((proposal & ~final).sum())
    iou = (final & proposal).sum() / (final | proposal).sum()
    assert added + removed == known[0]  # the list's correction is this turn's change
    text = w.conversation.cards[t].diff.text()
    assert f"{1 - iou:.3f}" in text and f"{added + removed:,}" in text
    assert f"+{added:,}" in text and f"{removed:,}" in text
    assert f"{1 - iou:.3f}" in w.review.diff.text()

    w.actions["toggle_diff"].setChecked(True)
    item = w.editor._raster["diff"]
    index = item._indexer(Rect(0, 0, shape[1], shape[0]))
    assert int((index == 3).sum()) == int((final & proposal).sum())  # kept
    assert int((index == 2).sum()) == added
    assert int((index == 1).sum()) == removed
    colours = {tuple(item.palette[k]) for k in (1, 2, 3)}
    assert len(colours) == 3  # three different colours
    ys, xs = np.nonzero(final & ~proposal)
    assert tuple(item._buffer[ys[0], xs[0]]) == tuple(item.palette[2])


def test_dashboard_dock_filters_the_record_list(
    metrics_project: MetricsProject, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(metrics_project.db)
    w = parts.window
    total = w.model.rowCount()
    with qtbot.waitSignal(w.jobs.ended, timeout=120_000) as ended:
        w.actions["dashboard"].trigger()
    assert ended.args[0] == "finished"
    dash = w.dashboard.widget
    assert dash is not None and w.dashboard.dock.isVisible()
    hist = dash.report["iou_histogram"]
    index = next(i for i, ids in enumerate(hist["ids"]) if ids and len(ids) < total)
    chart = dash.histogram.chart
    qtbot.waitExposed(chart)
    pos = chart.mapFromScene(chart.bar_scene_centre(index))
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    wanted = sorted(set(hist["ids"][index]))
    shown = sorted(w.model.summary(r).id for r in range(w.model.rowCount()))
    assert shown == wanted
    assert w.browser.ids_chip.isVisible()
    assert parts.session.document.id in wanted
    w.browser.clear_ids()
    assert w.model.rowCount() == total


def test_approving_keeps_the_turn_on_screen(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    """The Approve button disables itself; the focus it held must not select another turn."""
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    doc = parts.session.document
    target = doc.target_turn
    assert w.record.turn == target
    w.record.take_draft_mask()
    for t in range(doc.turn_count):
        w.record.use_draft(t)
    w.record.select_turn(target)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    w.review.approve.setFocus()  # as clicking it gives it
    assert w.review.approve.hasFocus()
    qtbot.mouseClick(w.review.approve, Qt.MouseButton.LeftButton)
    assert doc.status == Status.APPROVED and not w.review.approve.isEnabled()
    assert w.record.turn == target and w.conversation.selected == target
    assert w.review.reopen.isEnabled()
