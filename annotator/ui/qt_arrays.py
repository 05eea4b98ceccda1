"""numpy arrays as QImages without copying, and back."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QColor, QImage


def rgb_to_qimage(rgb: NDArray[np.uint8]) -> QImage:
    """A QImage over an H x W x 3 array (copied once into Qt's own buffer)."""
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def premultiplied_bgra(colour: QColor, alpha: float) -> NDArray[np.uint8]:
    """One ARGB32-premultiplied pixel as the bytes numpy writes (little-endian B, G, R, A)."""
    a = max(0.0, min(1.0, alpha))
    return np.array(
        [
            round(colour.blue() * a),
            round(colour.green() * a),
            round(colour.red() * a),
            round(255 * a),
        ],
        dtype=np.uint8,
    )
