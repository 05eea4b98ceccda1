"""Canvas tools: brush, eraser, polygon and SAM prompts. They turn mouse input into calls on a
:class:`MaskEditor`, which owns the record and the undo history."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
)

from annotator.services.mask_tools import Stroke

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


class MaskEditor(Protocol):
    brush_radius: float

    def begin_stroke(self, erase: bool) -> Stroke | None: ...

    def stroke_moved(self) -> None: ...

    def finish_stroke(self, stroke: Stroke) -> None: ...

    def cancel_stroke(self, stroke: Stroke) -> None: ...

    def apply_polygon(self, points: list[tuple[float, float]], erase: bool) -> None: ...

    def sam_click(self, x: float, y: float, label: int) -> None: ...

    def sam_box(self, box: Box) -> None: ...

    def sam_undo(self) -> bool: ...

    def sam_pending(self) -> bool: ...

    def sam_accept(self, subtract: bool) -> None: ...

    def sam_cycle(self) -> None: ...

    def sam_clear(self) -> None: ...


def _cosmetic(
    colour: QColor, width: float = 1.5, style: Qt.PenStyle = Qt.PenStyle.SolidLine
) -> QPen:
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


class _BaseTool:
    name = ""
    cursor_radius: float | None = None

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        return False

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        return False

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        return False

    def double_click(self, pos: QPointF, event: QMouseEvent) -> bool:
        return False

    def key(self, event: QKeyEvent) -> bool:
        return False

    def overrides(self, event: QKeyEvent) -> bool:
        """Whether the tool takes ``event`` before a window shortcut on the same keys would."""
        return False

    def deactivate(self) -> None:
        return None


class BrushTool(_BaseTool):
    """Paints (or erases) the selected turn's final mask; one stroke is one undo step."""

    def __init__(self, editor: MaskEditor, *, erase: bool = False) -> None:
        self.editor = editor
        self.erase = erase
        self.name = "eraser" if erase else "brush"
        self._stroke: Stroke | None = None

    @property
    def cursor_radius(self) -> float | None:  # type: ignore[override]
        return self.editor.brush_radius

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        # Shift inverts the tool for the stroke (paint <-> erase), as in most editors.
        erase = self.erase != bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._stroke = self.editor.begin_stroke(erase)
        if self._stroke is None:
            return True
        self._stroke.to((pos.x(), pos.y()))
        self.editor.stroke_moved()
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._stroke is None:
            return False
        self._stroke.to((pos.x(), pos.y()))
        self.editor.stroke_moved()
        return True

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._stroke is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        stroke, self._stroke = self._stroke, None
        self.editor.finish_stroke(stroke)
        return True

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            self.editor.cancel_stroke(stroke)
            return True
        return False

    def deactivate(self) -> None:
        if self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            self.editor.finish_stroke(stroke)


class PolygonTool(_BaseTool):
    """Click vertices, close with a double click, Enter or a click on the first vertex.
    Shift while closing erases the polygon instead of filling it."""

    name = "polygon"

    def __init__(self, editor: MaskEditor, scene: QGraphicsScene) -> None:
        self.editor = editor
        self.scene = scene
        self.points: list[QPointF] = []
        self._hover: QPointF | None = None
        self._item = QGraphicsPathItem()
        self._item.setPen(_cosmetic(QColor("#ffd166"), 1.5))
        self._item.setBrush(QBrush(QColor(255, 209, 102, 50)))
        self._item.setZValue(60)
        scene.addItem(self._item)

    def _redraw(self) -> None:
        path = QPainterPath()
        if self.points:
            path.moveTo(self.points[0])
            for p in self.points[1:]:
                path.lineTo(p)
            if self._hover is not None:
                path.lineTo(self._hover)
        self._item.setPath(path)

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        if event.button() == Qt.MouseButton.RightButton and self.points:
            self.points.pop()  # right click removes the last vertex
            self._redraw()
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if len(self.points) >= 3:
            first = self.points[0]
            view_scale = max(1e-6, self._item.scene().views()[0].transform().m11())
            if (first - pos).manhattanLength() * view_scale < 8:
                self._close(bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
                return True
        self.points.append(pos)
        self._redraw()
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self.points:
            self._hover = pos
            self._redraw()
        return False

    def double_click(self, pos: QPointF, event: QMouseEvent) -> bool:
        if len(self.points) >= 3:
            self._close(bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            return True
        return False

    def key(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and len(self.points) >= 3:
            self._close(bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            return True
        if event.key() == Qt.Key.Key_Escape and self.points:
            self.reset()
            return True
        if event.key() == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            self._redraw()
            return True
        return False

    def _close(self, erase: bool) -> None:
        pts = [(p.x(), p.y()) for p in self.points]
        self.reset()
        self.editor.apply_polygon(pts, erase)

    def reset(self) -> None:
        self.points.clear()
        self._hover = None
        self._redraw()

    def deactivate(self) -> None:
        self.reset()


class SamTool(_BaseTool):
    """Left click: positive point; right click (or Alt+click): negative point; drag: box. Every
    click or box on the same object refines the candidate shown. Enter/A accepts it into the
    final mask (Shift+Enter subtracts it), Tab cycles SAM's candidates, Backspace or Ctrl+Z
    takes back the last click or box, Escape drops the object's prompts."""

    name = "sam"

    def __init__(self, editor: MaskEditor, scene: QGraphicsScene) -> None:
        self.editor = editor
        self.scene = scene
        self._drag_from: QPointF | None = None
        self._dragging = False
        self._rubber = QGraphicsRectItem()  # the box while it is being dragged
        self._rubber.setPen(_cosmetic(QColor("#ffd166"), 1.5, Qt.PenStyle.DashLine))
        self._rubber.setZValue(70)
        scene.addItem(self._rubber)

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._drag_from = pos
            self._dragging = False
            return True
        return False

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._drag_from is None or not (event.buttons() & Qt.MouseButton.LeftButton):
            return False
        scale = max(1e-6, self.scene.views()[0].transform().m11())
        if (pos - self._drag_from).manhattanLength() * scale > 6:
            self._dragging = True
            self._rubber.setRect(QRectF(self._drag_from, pos).normalized())
        return True

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._drag_from is None:
            return False
        start, self._drag_from = self._drag_from, None
        if self._dragging:
            self._dragging = False
            self._rubber.setRect(QRectF())
            r = QRectF(start, pos).normalized()
            self.editor.sam_box((r.left(), r.top(), r.right(), r.bottom()))
        else:
            negative = event.button() == Qt.MouseButton.RightButton or bool(
                event.modifiers() & Qt.KeyboardModifier.AltModifier
            )
            self.editor.sam_click(pos.x(), pos.y(), 0 if negative else 1)
        return True

    @staticmethod
    def _is_undo(event: QKeyEvent) -> bool:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        return (event.key() == Qt.Key.Key_Backspace and mods == Qt.KeyboardModifier.NoModifier) or (
            event.key() == Qt.Key.Key_Z and mods == Qt.KeyboardModifier.ControlModifier
        )

    def overrides(self, event: QKeyEvent) -> bool:
        # Tab cycles candidates rather than moving the focus; Ctrl+Z takes back a SAM prompt
        # while there is one, and only then undoes mask edits.
        if event.key() == Qt.Key.Key_Tab:
            return True
        return self._is_undo(event) and self.editor.sam_pending()

    def key(self, event: QKeyEvent) -> bool:
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_A):
            subtract = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.editor.sam_accept(subtract)
            return True
        if k == Qt.Key.Key_Tab:
            self.editor.sam_cycle()
            return True
        if k == Qt.Key.Key_Escape:
            self.reset()
            return True
        if self._is_undo(event):
            return self.editor.sam_undo()
        return False

    def reset(self) -> None:
        self._drag_from = None
        self._dragging = False
        self._rubber.setRect(QRectF())
        self.editor.sam_clear()

    def deactivate(self) -> None:
        self.reset()
