"""The zoomable, pannable canvas. Wheel zooms around the cursor; middle button or Space+drag
pans; the active tool gets the mouse in image coordinates."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsScene, QGraphicsView, QWidget

MIN_ZOOM = 0.02
MAX_ZOOM = 40.0


class Tool(Protocol):
    """A canvas tool; positions are in image pixels. Handlers return True when they used it."""

    name: str
    cursor_radius: float | None  # image pixels of the cursor circle, None for none

    def press(self, pos: QPointF, event: QMouseEvent) -> bool: ...

    def move(self, pos: QPointF, event: QMouseEvent) -> bool: ...

    def release(self, pos: QPointF, event: QMouseEvent) -> bool: ...

    def double_click(self, pos: QPointF, event: QMouseEvent) -> bool: ...

    def key(self, event: QKeyEvent) -> bool: ...

    def overrides(self, event: QKeyEvent) -> bool: ...

    def deactivate(self) -> None: ...


class CanvasView(QGraphicsView):
    zoomChanged = Signal(float)  # the scale; 0 when there is no image to zoom
    cursorMoved = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setObjectName("canvas")
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setBackgroundBrush(QBrush(QColor("#1e1f22")))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._tool: Tool | None = None
        self._panning: QPointF | None = None
        self._space_down = False
        self._fit_on_resize = True
        # Until an image sets it, the scene's rect is its items' (the brush cursor): fitting
        # that would zoom to thousands of percent.
        self._has_image = False
        pen = QPen(QColor(255, 255, 255, 230), 1.2)
        pen.setCosmetic(True)
        self._cursor_item = QGraphicsEllipseItem()
        self._cursor_item.setPen(pen)
        self._cursor_item.setZValue(100)
        self._cursor_item.setVisible(False)
        self.scene().addItem(self._cursor_item)
        inner = QPen(QColor(0, 0, 0, 160), 1.0)
        inner.setCosmetic(True)
        inner.setStyle(Qt.PenStyle.DotLine)
        self._cursor_inner = QGraphicsEllipseItem(self._cursor_item)
        self._cursor_inner.setPen(inner)

    # -- scene ----------------------------------------------------------------------------
    def set_scene_size(self, width: int, height: int) -> None:
        """The open image's size. A record whose size is unknown (0 x 0: no image, no LabelMe
        file) has nothing to zoom: the view is reset and ``zoomChanged`` says 0."""
        self._has_image = width > 0 and height > 0
        # Never a null rect: the scene would fall back to its items' bounds (the brush cursor).
        self.scene().setSceneRect(QRectF(0, 0, max(width, 1), max(height, 1)))
        self._fit_on_resize = True
        if self._has_image:
            self.fit()
        else:
            self.resetTransform()
            self.zoomChanged.emit(0.0)

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        rect = self.scene().sceneRect()
        if not self._has_image or rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-8, -8, 8, 8), Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_on_resize = True
        self.zoomChanged.emit(self.zoom)

    def actual_size(self) -> None:
        if not self._has_image:
            return
        centre = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(centre)
        self._fit_on_resize = False
        self.zoomChanged.emit(self.zoom)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if not self._has_image:
            return
        target = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom * factor))
        factor = target / self.zoom
        if anchor is None:
            self.scale(factor, factor)
        else:
            before = self.mapToScene(anchor.toPoint())
            self.scale(factor, factor)
            after = self.mapToScene(anchor.toPoint())
            delta = after - before
            self.translate(delta.x(), delta.y())
        self._fit_on_resize = False
        self.zoomChanged.emit(self.zoom)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        if self._fit_on_resize:
            self.fit()

    # -- tools ----------------------------------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        if self._tool is not None and self._tool is not tool:
            self._tool.deactivate()
        self._tool = tool
        self.update_cursor_circle()
        cursor = Qt.CursorShape.CrossCursor if tool is not None else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(cursor)

    @property
    def tool(self) -> Tool | None:
        return self._tool

    def update_cursor_circle(self, pos: QPointF | None = None) -> None:
        radius = self._tool.cursor_radius if self._tool is not None else None
        if radius is None:
            self._cursor_item.setVisible(False)
            return
        if pos is None:
            pos = self._cursor_item.rect().center()
        rect = QRectF(pos.x() - radius, pos.y() - radius, 2 * radius, 2 * radius)
        self._cursor_item.setRect(rect)
        self._cursor_inner.setRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))
        self._cursor_item.setVisible(self.viewport().underMouse())  # not parked in a corner

    # -- events ---------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        # A key the tool claims (Ctrl+Z on a SAM prompt) reaches it instead of the window
        # shortcut bound to the same keys.
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self._tool is not None
            and isinstance(event, QKeyEvent)
            and self._tool.overrides(event)
        ):
            event.accept()
            return True
        return super().event(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        # Tab is a key of some tools (SAM cycles its candidates), not a focus change for them.
        tab = QKeyEvent(
            QEvent.Type.KeyPress,
            Qt.Key.Key_Tab if next else Qt.Key.Key_Backtab,
            Qt.KeyboardModifier.NoModifier,
        )
        if self._tool is not None and self._tool.overrides(tab):
            return False
        return super().focusNextPrevChild(next)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        self.zoom_by(1.25**steps, event.position())
        event.accept()

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        ):
            self._panning = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self._tool is not None and self._tool.press(self._scene_pos(event), event):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            self._fit_on_resize = False
            return
        pos = self._scene_pos(event)
        self.cursorMoved.emit(pos.x(), pos.y())
        self.update_cursor_circle(pos)
        if self._tool is not None and self._tool.move(pos, event):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None:
            self._panning = None
            self.viewport().setCursor(
                Qt.CursorShape.CrossCursor if self._tool else Qt.CursorShape.ArrowCursor
            )
            return
        if self._tool is not None and self._tool.release(self._scene_pos(event), event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool is not None and self._tool.double_click(self._scene_pos(event), event):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self._tool is not None and self._tool.key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(
                Qt.CursorShape.CrossCursor if self._tool else Qt.CursorShape.ArrowCursor
            )
            return
        super().keyReleaseEvent(event)

    def leaveEvent(self, event: object) -> None:
        self._cursor_item.setVisible(False)
        super().leaveEvent(event)  # type: ignore[arg-type]
