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
    """Low-resolution logits ``(256, 256)`` → logits at the original size ``(H, W)``; the
    mask is ``> 0``.

    SAM's reference post-processing upsamples to 1024 × 1024, crops the padding and resizes
    again (two full-size interpolations per candidate). Here each output pixel centre maps
    straight to its place in the 256 grid, ``(y + 0.5)·s − 0.5`` with ``s = h / (4·H)``, and is
    interpolated bilinearly there, with rows and columns past the grid's edge repeating it:
    one separable resize of the part of the grid the image covers. The scale goes to OpenCV as
    a factor, not as an output size, because it then maps pixel centres by exactly ``1/s``.
    Masks agree with the reference to IoU ≥ 0.99 (tested).
    """
    (h, w), (nh, nw) = original_size, input_size
    rows, cols = low_res_extent(input_size)
    cells = ENCODER_SIDE / LOW_RES_SIDE  # input pixels per grid cell
    up = cv2.resize(
        np.ascontiguousarray(low_res[:rows, :cols], dtype=np.float32),
        None,
        fx=w * cells / nw,
        fy=h * cells / nh,
        interpolation=cv2.INTER_LINEAR,
    )
    return up[:h, :w]


def low_res_extent(input_size: tuple[int, int]) -> tuple[int, int]:
    """How many rows and columns of the 256 grid, from the top left, the full-resolution
    logits of an image with this ``input_size`` (``(h, w)`` in the encoder frame) read,
    whatever its original size: output pixels map to ``(y + 0.5)·s − 0.5``
    (:func:`upsample_logits`), the last one below ``h/4 − 0.5``, and interpolation reads that
    row and the next."""
    cells = ENCODER_SIDE // LOW_RES_SIDE  # input pixels per grid row

    def extent(n: int) -> int:
        return min(LOW_RES_SIDE, math.floor(n / cells - 0.5) + 2)

    return extent(input_size[0]), extent(input_size[1])
