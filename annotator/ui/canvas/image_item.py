"""The photograph on the canvas, kept as a pyramid so zoomed-out views of 6000x4000 images
paint from a small level instead of resampling the full image every frame."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.ui.qt_arrays import rgb_to_qimage

MIN_LEVEL_SIDE = 256


class PyramidImageItem(QGraphicsItem):
    def __init__(self, rgb: NDArray[np.uint8]) -> None:
        super().__init__()
        h, w = rgb.shape[:2]
        self._size = (w, h)
        self._levels: list[QImage] = [rgb_to_qimage(rgb)]
        level = rgb
        while min(level.shape[:2]) // 2 >= MIN_LEVEL_SIDE:
            level = cv2.resize(
                level, (level.shape[1] // 2, level.shape[0] // 2), interpolation=cv2.INTER_AREA
            )
            self._levels.append(rgb_to_qimage(level))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._size[0], self._size[1])

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if 0 in self._size:
            return  # a record whose image size is unknown (no image, no LabelMe file)
        scale = option.levelOfDetailFromTransform(painter.worldTransform())
        index = 0
        while index + 1 < len(self._levels) and scale <= 0.5 ** (index + 1):
            index += 1
        image = self._levels[index]
        factor = image.width() / self._size[0]
        exposed = option.exposedRect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        source = QRectF(
            exposed.x() * factor,
            exposed.y() * factor,
            exposed.width() * factor,
            exposed.height() * factor,
        )
        # Smooth when shrinking, sharp pixels when zoomed in past 100% (annotators count pixels).
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        painter.drawImage(exposed, image, source)


def placeholder_rgb(width: int, height: int) -> NDArray[np.uint8]:
    """A checkerboard shown when the image file is missing, so masks can still be reviewed."""
    yy, xx = np.mgrid[0:height, 0:width]
    board = (((xx // 32) + (yy // 32)) % 2).astype(np.uint8)
    grey = (70 + 30 * board).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)
