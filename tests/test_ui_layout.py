"""Window layout: turn cards fit the dock at any width, tool bars take a second row instead of
cutting tools off, the first window fills most of the screen, and the layout is remembered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

pytest_plugins = ["tests.fixtures_ui"]


def _overflowing(card: QWidget) -> list[str]:
    """Visible children whose right edge lies outside the card."""
    out = []
    for child in card.findChildren(QWidget):
        if not child.isVisible():
            continue
        right = child.mapTo(card, child.rect().topRight()).x()
        if right > card.width():
            out.append(f"{child.metaObject().className()} {child.objectName()} {right}")
    return out


def test_turn_cards_fit_the_dock_at_every_width(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    w.select_row(0)
    panel = w.conversation
    for width in (520, 420, 340):
        w.resizeDocks([w.conversation_dock], [width], Qt.Orientation.Horizontal)
        qtbot.wait(50)
        view = panel.viewport().width()
        assert panel.horizontalScrollBar().maximum() == 0
        for card in panel.cards:
            assert card.width() <= view, (width, card.width(), view)
            assert not _overflowing(card), (width, _overflowing(card))
            q = card.question
            # the question editor is tall enough for its wrapped text (no hidden lines)
            assert q.height() >= q.document().size().height() * q.fontMetrics().lineSpacing()


def test_tool_bars_take_two_rows_when_narrow(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    parts = make_app(sample_db)
    w = parts.window
    bars = w.toolbars
    w.resize(1900, 900)
    qtbot.wait(50)
    assert not bars.two_rows
    w.resize(1000, 800)
    qtbot.wait(50)
    assert bars.two_rows
    assert bars.view.y() > bars.tools.y()  # the view bar went to its own row
    for bar in (bars.record, bars.tools, bars.view):
        assert bar.geometry().right() <= w.width()
    w.resize(1900, 900)
    qtbot.wait(50)
    assert not bars.two_rows


def test_first_window_fills_most_of_the_screen_and_layout_is_remembered(
    sample_db: Path, qtbot: Any
) -> None:
    from annotator.app import build_app

    parts = build_app(sample_db, offer_sample=False, segmenter=None)
    w = parts.window
    qtbot.addWidget(w)
    area = QGuiApplication.primaryScreen().availableGeometry()
    assert w.width() >= 0.9 * area.width() and w.height() >= 0.9 * area.height()
    w.show()
    qtbot.waitExposed(w)
    w.list_dock.hide()
    w.images_dock.hide()  # the records list's tab neighbour: no left dock at all
    w.resize(w.width(), int(area.height() * 0.7))  # not what a first run would choose
    w.resizeDocks([w.conversation_dock], [420], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    width = w.conversation_dock.width()
    geometry = w.geometry()
    w.close()
    parts.store.close()

    again = build_app(sample_db, offer_sample=False, segmenter=None)
    w2 = again.window
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    g = w2.geometry()
    # the same place and size (the offscreen platform may shave a frame pixel or two)
    assert all(
        abs(a - b) <= 4
        for a, b in zip(
            (g.x(), g.y(), g.width(), g.height()),
            (geometry.x(), geometry.y(), geometry.width(), geometry.height()),
            strict=True,
        )
    ), (g, geometry)
    assert g.height() < 0.8 * area.height()
    assert not w2.list_dock.isVisible() and w2.conversation_dock.isVisible()
    assert not w2.images_dock.isVisible()
    assert w2.conversation_dock.width() == width != w.conversation_dock.minimumWidth()
    w2.close()
    again.store.close()
