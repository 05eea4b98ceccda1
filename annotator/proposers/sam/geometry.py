"""Coordinate frames of SAM and the conversions between them (numpy and OpenCV only).

Three frames: the original image (H × W), the encoder input (the image resized so its long side is
1024, then padded bottom/right to 1024 × 1024), and the decoder's 256 × 256 low-resolution logits,
which cover the padded 1024 square at 4 pixels per cell.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import InputError

ENCODER_SIDE = 1024
LOW_RES_SIDE = 256
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]


def input_size_for(height: int, width: int, side: int = ENCODER_SIDE) -> tuple[int, int]:
    """``(h, w)`` of the image inside the encoder input: long side ``side``, aspect kept."""
    scale = side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def check_rgb_image(image: NDArray[np.generic]) -> NDArray[np.uint8]:
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected an RGB image as a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise InputError(f"expected an RGB image of dtype uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"the image is empty ({image.shape[0]}x{image.shape[1]})")
    return image


def encoder_input(image: NDArray[np.uint8], side: int = ENCODER_SIDE) -> FloatArray:
    """``(1, 3, side, side)`` float32: resized, normalised with SAM's pixel statistics, padded
    with zeros (the normalised mean) at the bottom and right."""
    h, w = image.shape[:2]
    nh, nw = input_size_for(h, w, side)
    # Area averaging when shrinking avoids the aliasing a plain bilinear resize would add.
    interp = cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
    out = np.zeros((1, 3, side, side), dtype=np.float32)
    normalised = (resized.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    out[0, :, :nh, :nw] = normalised.transpose(2, 0, 1)
    return out


def to_input_frame(
    points_xy: NDArray[np.floating], original_size: tuple[int, int], input_size: tuple[int, int]
) -> FloatArray:
    """Scale ``(N, 2)`` x, y pixel coordinates of the original image into the encoder frame."""
    (h, w), (nh, nw) = original_size, input_size
    scale = np.array([nw / w, nh / h], dtype=np.float64)
    return (np.asarray(points_xy, dtype=np.float64) * scale).astype(np.float32)


def upsample_logits(
    low_res: FloatArray, original_size: tuple[int, int], input_size: tuple[int, int]
) -> FloatArray:
    """Low-resolution logits ``(256, 256)`` → logits at the original size ``(H, W)``.

    SAM's reference post-processing upsamples to 1024 × 1024, crops the padding and resizes again
    (two full-size interpolations per candidate). Here one bilinear warp maps each output pixel
    centre straight to its position in the 256 grid, touching only the valid region; masks
    agree with the reference to IoU ≥ 0.99 (tested) at a fraction of the cost.
    """
    h, w = original_size
    return _warp(low_res, _grid_transform(original_size, input_size), w, h)


def upsample_mask(
    low_res: FloatArray, original_size: tuple[int, int], input_size: tuple[int, int]
) -> BoolArray:
    """``upsample_logits(...) > 0``, interpolated only where the outline runs.

    Bilinear interpolation mixes the (up to) four grid cells around a pixel with non-negative
    weights. So where every cell a block of output pixels reads is positive, the whole block
    is in the mask, and where none is, none of it is; only blocks with cells of both signs are
    interpolated. On a 4000 × 3000 photo that is a few per cent of the pixels. (A block is
    interpolated with its own offset in the warp, so a pixel whose logit is within the warp's
    1/32-pixel rounding of zero may come out on the other side than in a whole-image warp.)
    """
    h, w = original_size
    transform = _grid_transform(original_size, input_size)
    sx, sy = float(transform[0, 0]), float(transform[1, 1])
    side = low_res.shape[0]
    block = max(16, math.ceil(_CELLS_PER_BLOCK / max(sx, sy)))  # about 8 cells a block
    rows0, rows1 = _cells_read(h, block, sy, side)
    cols0, cols1 = _cells_read(w, block, sx, side)
    low = np.ascontiguousarray(low_res, dtype=np.float32)
    lowest, highest = _block_extremes(low, rows0, rows1, cols0, cols1)
    outline = (lowest <= 0) & (highest > 0)
    if outline.mean() > _MOST_BLOCKS:  # a ragged answer: one warp beats many small ones
        return _warp(low, transform, w, h) > 0
    inside = cv2.resize(
        (lowest > 0).astype(np.uint8),
        (len(cols0) * block, len(rows0) * block),
        interpolation=cv2.INTER_NEAREST_EXACT,  # dst x reads src x // block exactly
    )
    mask = inside[:h, :w].astype(bool)
    for bi, bj in zip(*np.nonzero(outline), strict=True):
        y0, x0 = int(bi) * block, int(bj) * block
        bh, bw = min(block, h - y0), min(block, w - x0)
        shifted = transform.copy()
        shifted[:, 2] += transform[:, :2] @ np.array([x0, y0], dtype=np.float64)
        mask[y0 : y0 + bh, x0 : x0 + bw] = _warp(low, shifted, bw, bh) > 0
    return mask


_CELLS_PER_BLOCK = 8.0
_MOST_BLOCKS = 0.25


def _grid_transform(original_size: tuple[int, int], input_size: tuple[int, int]) -> FloatArray:
    """Output pixel (x, y, 1) → position in the 256 grid: src = (dst + 0.5) * s - 0.5."""
    (h, w), (nh, nw) = original_size, input_size
    cells = ENCODER_SIDE / LOW_RES_SIDE  # input pixels per low-res cell
    sx, sy = nw / (w * cells), nh / (h * cells)
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]], dtype=np.float64)


def _warp(low_res: FloatArray, transform: FloatArray, w: int, h: int) -> FloatArray:
    return cv2.warpAffine(
        np.ascontiguousarray(low_res, dtype=np.float32),
        transform,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _cells_read(
    n_out: int, block: int, scale: float, side: int
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """First and last grid index each block of ``block`` output pixels reads (one row or column
    of blocks), with a cell of margin for the warp's rounding."""
    first = np.arange(0, n_out, block)
    last = np.minimum(first + block, n_out) - 1
    lo = np.floor((first + 0.5) * scale - 0.5).astype(np.intp) - 1
    hi = np.floor((last + 0.5) * scale - 0.5).astype(np.intp) + 2
    return np.clip(lo, 0, side - 1), np.clip(hi, 0, side - 1)


def _block_extremes(
    low: FloatArray,
    rows0: NDArray[np.intp],
    rows1: NDArray[np.intp],
    cols0: NDArray[np.intp],
    cols1: NDArray[np.intp],
) -> tuple[FloatArray, FloatArray]:
    """Minimum and maximum of ``low`` over each block's cells ``[rows0, rows1] × [cols0,
    cols1]``: per row of blocks over its rows, then over each block's few columns."""
    rows = list(zip(rows0, rows1, strict=True))
    bands_min = np.stack([low[a : b + 1].min(axis=0) for a, b in rows])
    bands_max = np.stack([low[a : b + 1].max(axis=0) for a, b in rows])
    lowest, highest = bands_min[:, cols0], bands_max[:, cols0]
    for extra in range(1, int((cols1 - cols0).max()) + 1):
        cols = np.minimum(cols0 + extra, cols1)
        lowest = np.minimum(lowest, bands_min[:, cols])
        highest = np.maximum(highest, bands_max[:, cols])
    return lowest, highest
