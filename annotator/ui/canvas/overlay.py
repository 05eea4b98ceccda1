"""Mask overlays: a translucent raster fill updated rectangle by rectangle, plus a crisp vector
outline rebuilt when an edit is finished.

The fill is an ARGB32 buffer the size of the image; a brush segment rewrites only the pixels it
touched and schedules a repaint of that rectangle, which keeps strokes on 4000x3000 images fast.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from annotator.core.mask_edit import Rect
from annotator.ui.qt_arrays import premultiplied_bgra

# Maps a rectangle of the image to palette indices (uint8) for that rectangle.
Indexer = Callable[[Rect], NDArray[np.uint8]]


class RasterOverlayItem(QGraphicsItem):
    """A palette-indexed overlay drawn from an ``Indexer`` (index 0 is transparent)."""

    def __init__(self, width: int, height: int, palette: NDArray[np.uint8]) -> None:
        super().__init__()
        self._w, self._h = width, height
        self._palette = palette
        self._words = _palette_words(palette)
        self._indexer: Indexer | None = None
        self._buffer: NDArray[np.uint8] | None = None
        self._image: QImage | None = None
        self._stale = True  # hidden overlays are rendered when shown, not on every edit
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._w, self._h)

    def set_indexer(self, indexer: Indexer | None, changed: Rect | None = None) -> None:
        """Draw from ``indexer`` from now on; ``changed`` (all when ``None``) is where its
        pixels may differ from the previous one's: only that is recomputed."""
        self._indexer = indexer
        if changed is None or self._stale:
            self.refresh()
        elif not changed.is_empty:
            self.refresh(changed)

    @property
    def palette(self) -> NDArray[np.uint8]:
        """The colour of each index, premultiplied BGRA (read-only)."""
        view = self._palette.view()
        view.flags.writeable = False
        return view

    def _ensure_buffer(self) -> NDArray[np.uint8]:
        if self._buffer is None:
            self._buffer = np.zeros((self._h, self._w, 4), dtype=np.uint8)
            self._image = QImage(
                self._buffer.data,
                self._w,
                self._h,
                4 * self._w,
                QImage.Format.Format_ARGB32_Premultiplied,
            )
        return self._buffer

    def refresh(self, rect: Rect | None = None) -> None:
        """Recompute ``rect`` (all when ``None``) from the indexer and schedule its repaint."""
        if not self.isVisible():
            self._stale = True
            return
        full = Rect(0, 0, self._w, self._h)
        rect = full if rect is None else rect.clip(self._w, self._h)
        if rect.is_empty:
            return
        if rect == full:
            self._stale = False
        if self._indexer is None:
            if self._buffer is not None:
                self._buffer[rect.slices] = 0
        else:
            index = self._indexer(rect)
            if self._buffer is None and not index.any():
                return  # nothing to draw yet: no buffer needed
            # One 32-bit word per pixel: a lookup of whole pixels is ~6x faster than of bytes.
            words = self._ensure_buffer().view(np.uint32)[..., 0]
            words[rect.slices] = np.take(self._words, index)
        self.update(QRectF(rect.x, rect.y, rect.w, rect.h))

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if (
            change == QGraphicsItem.GraphicsItemChange.ItemVisibleHasChanged
            and value
            and self._stale
        ):
            self.refresh()
        return super().itemChange(change, value)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image is None:
            return
        exposed = option.exposedRect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(exposed, self._image, exposed)


def _palette_words(palette: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """``(n, 4)`` BGRA bytes → ``n`` pixels as the buffer's 32-bit words."""
    return np.ascontiguousarray(palette, dtype=np.uint8).view(np.uint32).reshape(-1)


def fill_palette(colour: QColor, alpha: float = 0.9) -> NDArray[np.uint8]:
    return np.stack([np.zeros(4, dtype=np.uint8), premultiplied_bgra(colour, alpha)])


def diff_palette(
    kept: QColor, added: QColor, removed: QColor, alpha: float = 0.95
) -> NDArray[np.uint8]:
    """Index = proposal + 2 * final: 1 removed by the reviewer, 2 added, 3 kept."""
    return np.stack(
        [
            np.zeros(4, dtype=np.uint8),
            premultiplied_bgra(removed, alpha),
            premultiplied_bgra(added, alpha),
            premultiplied_bgra(kept, alpha * 0.7),
        ]
    )


def mask_indexer(array: NDArray[np.bool_]) -> Indexer:
    def index(rect: Rect) -> NDArray[np.uint8]:
        return array[rect.slices].view(np.uint8)

    return index


def diff_indexer(proposal: NDArray[np.bool_], final: NDArray[np.bool_]) -> Indexer:
    def index(rect: Rect) -> NDArray[np.uint8]:
        sl = rect.slices
        return proposal[sl].view(np.uint8) + 2 * final[sl].view(np.uint8)

    return index


class OutlineItem(QGraphicsPathItem):
    """The mask's contours (holes included) drawn with a cosmetic pen: crisp at every zoom."""

    def __init__(
        self, colour: QColor, width: float = 1.6, style: Qt.PenStyle = Qt.PenStyle.SolidLine
    ) -> None:
        super().__init__()
        pen = QPen(colour, width)
        pen.setCosmetic(True)
        pen.setStyle(style)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.setPen(pen)

    def set_mask(self, array: NDArray[np.bool_] | None) -> None:
        self.setPath(mask_outline_path(array) if array is not None else QPainterPath())


def mask_outline_path(array: NDArray[np.bool_]) -> QPainterPath:
    path = QPainterPath()
    if not array.any():
        return path
    contours, _ = cv2.findContours(array.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        pts = contour.reshape(-1, 2)
        # Pixel centres are at +0.5: the outline then runs through the middle of edge pixels.
        poly = QPolygonF([QPointF(float(x) + 0.5, float(y) + 0.5) for x, y in pts])
        if len(pts) == 1:
            path.addEllipse(poly[0], 0.5, 0.5)
            continue
        path.addPolygon(poly)
        path.closeSubpath()
    return path
