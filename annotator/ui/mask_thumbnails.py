"""Small pictures of two versions of one mask over the dimmed image: mine, theirs, and where they
differ (the save-conflict dialog). Downscaling keeps a pixel wherever any pixel of its block is
set, so a thin stroke or a few changed pixels stay visible at thumbnail size."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage

from annotator.core.mask import Mask
from annotator.ui.qt_arrays import rgb_to_qimage

BoolArray = NDArray[np.bool_]
Rgb = NDArray[np.uint8]

MINE_RGB = (77, 163, 255)  # blue: also the highlight of mine's changed words
THEIRS_RGB = (255, 159, 67)  # orange: theirs
BOTH_RGB = (215, 218, 224)  # on both sides
EMPTY_RGB = (29, 31, 34)  # no image to show under the mask
ALPHA = 0.7
DIM = 0.45


def _step(height: int, width: int, max_side: int) -> int:
    return max(1, math.ceil(max(height, width) / max_side))


def shrink(mask: BoolArray, step: int) -> BoolArray:
    """``mask`` reduced ``step`` times per side; a block with any pixel set is set."""
    if step == 1:
        return mask
    h, w = mask.shape
    ph, pw = -h % step, -w % step
    padded = np.pad(mask, ((0, ph), (0, pw)))
    return padded.reshape((h + ph) // step, step, (w + pw) // step, step).any(axis=(1, 3))


def backdrop(rgb: Rgb | None, shape: tuple[int, int], step: int) -> Rgb:
    """The image sampled every ``step`` pixels and dimmed (so colours on it read), or a plain
    dark field when there is no image (missing file)."""
    h, w = shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    out[:] = EMPTY_RGB
    if rgb is not None:
        sampled = rgb[::step, ::step][:h, :w]
        out[: sampled.shape[0], : sampled.shape[1]] = (sampled * DIM).astype(np.uint8)
    return out


def _paint(canvas: Rgb, where: BoolArray, colour: tuple[int, int, int]) -> None:
    c = np.array(colour, dtype=np.float32)
    canvas[where] = (canvas[where] * (1 - ALPHA) + c * ALPHA).astype(np.uint8)


def _array(mask: Mask | None, size: tuple[int, int]) -> BoolArray:
    return mask.to_array() if mask is not None else np.zeros(size, dtype=bool)


def conflict_thumbnails(
    mine: Mask | None,
    theirs: Mask | None,
    size: tuple[int, int],
    rgb: Rgb | None,
    max_side: int = 112,
) -> tuple[QImage, QImage, QImage]:
    """Mine (blue), theirs (orange) and their difference (blue: only mine, orange: only
    theirs, light: both), each at most ``max_side`` pixels a side."""
    step = _step(*size, max_side)
    full_a, full_b = _array(mine, size), _array(theirs, size)
    # The difference is taken at full size, then shrunk: a block where the two differ shows
    # the difference even when both sides also cover part of it.
    a, b = shrink(full_a, step), shrink(full_b, step)
    only_a, only_b = shrink(full_a & ~full_b, step), shrink(full_b & ~full_a, step)
    base = backdrop(rgb, a.shape, step)
    pictures: list[Rgb] = []
    for layers in (
        ((a, MINE_RGB),),
        ((b, THEIRS_RGB),),
        ((a & b & ~only_a & ~only_b, BOTH_RGB), (only_a, MINE_RGB), (only_b, THEIRS_RGB)),
    ):
        canvas = base.copy()
        for where, colour in layers:
            _paint(canvas, where, colour)
        pictures.append(canvas)
    first, second, third = (rgb_to_qimage(p) for p in pictures)
    return first, second, third
