"""The main window's tool bars: record navigation, editing tools, view (layers, opacity, zoom).

They share the top row when the window is wide enough and take two rows when it is not;
whatever still does not fit goes into the tool bar's own overflow menu (») instead of being cut.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QMainWindow, QSlider, QToolBar

LAYER_COLOURS = {"draft": "draft", "proposal": "proposal", "final": "final", "diff": "diff_added"}


def swatch(colour: str, size: int = 12) -> QIcon:
    """A round colour chip for a layer button."""
    pix = QPixmap(size * 2, size * 2)
    pix.setDevicePixelRatio(2.0)
    pix.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QColor(colour).darker(140))
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pix)


def _bar(window: QMainWindow, title: str, name: str) -> QToolBar:
    bar = QToolBar(title, window)
    bar.setObjectName(name)
    bar.setIconSize(QSize(20, 20))
    bar.setMovable(False)
    bar.setFloatable(False)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar


class Toolbars(QObject):
    def __init__(
        self,
        window: QMainWindow,
        actions: dict[str, QAction],
        colour: Callable[[str], str],
        opacity: float,
    ) -> None:
        super().__init__(window)
        self._window = window
        self.record = _bar(window, "Record", "recordBar")
        for name in ("prev", "next", "next_unreviewed"):
            self.record.addAction(actions[name])
        self.record.addSeparator()
        self.record.addAction(actions["new_conversation"])
        self.record.addAction(actions["propose"])

        self.tools = _bar(window, "Tools", "toolsBar")
        for name in ("brush", "eraser", "polygon", "sam", "pan"):
            self.tools.addAction(actions[name])
        self.size_label = QLabel()
        self.size_label.setObjectName("toolHint")
        self.size_label.setMinimumWidth(64)
        self.tools.addWidget(self.size_label)
        self.tools.addSeparator()
        for name in ("fill_holes", "keep_largest", "clear", "take_draft", "take_proposal"):
            self.tools.addAction(actions[name])
        self.tools.addSeparator()
        self.tools.addAction(actions["undo"])
        self.tools.addAction(actions["redo"])

        self.view = _bar(window, "View", "viewBar")
        self.view.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for key, colour_name in LAYER_COLOURS.items():
            act = actions[f"toggle_{key}"]
            act.setIcon(swatch(colour(colour_name)))
            act.setIconText(key.capitalize())
            self.view.addAction(act)
        self.view.addSeparator()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(5, 100)
        self.opacity.setValue(int(opacity * 100))
        self.opacity.setFixedWidth(96)
        self.opacity.setToolTip("Mask opacity")
        caption = QLabel("Opacity")
        caption.setObjectName("toolHint")
        self.view.addWidget(caption)
        self.view.addWidget(self.opacity)
        self.view.addSeparator()
        for name in ("fit", "actual"):
            self.view.addAction(actions[name])
            button = self.view.widgetForAction(actions[name])
            if button is not None:
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self._two_rows = False
        window.installEventFilter(self)

    def _needed_width(self) -> int:
        return sum(bar.sizeHint().width() for bar in (self.record, self.tools, self.view)) + 24

    def relayout(self) -> None:
        """One row when everything fits, else the view bar goes to a second row."""
        two = self._window.width() < self._needed_width()
        if two == self._two_rows:
            return
        self._two_rows = two
        if two:
            self._window.insertToolBarBreak(self.view)
        else:
            self._window.removeToolBarBreak(self.view)

    @property
    def two_rows(self) -> bool:
        return self._two_rows

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Resize:
            self.relayout()
        return False
