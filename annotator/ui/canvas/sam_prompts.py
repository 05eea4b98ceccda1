"""The SAM prompts of the object being segmented, as the user sees them: green (object) and red
(not object) click markers and the box. Every click or box is one step; undo takes back the last
step, so the markers always match the prompts the click session holds."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem, QGraphicsScene

Box = tuple[float, float, float, float]  # x0, y0, x1, y1

POSITIVE = QColor("#2ecc71")
NEGATIVE = QColor("#e74c3c")
BOX = QColor("#ffd166")


@dataclass(frozen=True)
class _Step:
    marker: QGraphicsItem | None  # the click's marker; None for a box step
    box_before: Box | None  # the box a box step replaced


class SamPromptItems:
    def __init__(self, scene: QGraphicsScene) -> None:
        self.scene = scene
        self.points: list[tuple[float, float]] = []
        self.labels: list[int] = []
        self.box: Box | None = None
        self._steps: list[_Step] = []
        pen = QPen(BOX, 1.5)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._box_item = QGraphicsRectItem()
        self._box_item.setPen(pen)
        self._box_item.setZValue(70)
        scene.addItem(self._box_item)

    def __len__(self) -> int:
        """Steps (clicks and boxes) of the current object."""
        return len(self._steps)

    def add_point(self, x: float, y: float, label: int) -> None:
        item = QGraphicsEllipseItem(-6, -6, 12, 12)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        item.setPos(x, y)
        item.setBrush(QBrush(POSITIVE if label else NEGATIVE))
        item.setPen(QPen(QColor("white"), 2))
        item.setZValue(71)
        self.scene.addItem(item)
        self.points.append((x, y))
        self.labels.append(label)
        self._steps.append(_Step(item, None))

    def set_box(self, box: Box) -> None:
        self._steps.append(_Step(None, self.box))
        self._show_box(box)

    def pop(self) -> bool:
        """Take back the last step; False when there was none."""
        if not self._steps:
            return False
        step = self._steps.pop()
        if step.marker is None:
            self._show_box(step.box_before)
        else:
            self.scene.removeItem(step.marker)
            self.points.pop()
            self.labels.pop()
        return True

    def clear(self) -> None:
        while self.pop():
            pass

    def _show_box(self, box: Box | None) -> None:
        self.box = box
        if box is None:
            self._box_item.setRect(QRectF())
        else:
            x0, y0, x1, y1 = box
            self._box_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
