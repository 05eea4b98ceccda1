"""Image preparation for the three encoders, in numpy (the network gets ready tensors).

- CLIP (LLaVA-1.5): pad to a square with the mean colour (``pad``) or resize the short side and
  centre-crop (``crop``), bicubic resize, CLIP mean/std.
- Aux (Mini-Gemini): the same square image at the aux encoder's higher resolution.
- SAM: longest side resized to the encoder size, SAM mean/std, zero padding at right/bottom;
  the resized size is kept to crop the predicted masks back before upsampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.proposers.miras.config import MirasConfig

FloatCHW = NDArray[np.float32]


@dataclass(frozen=True)
class PreparedImage:
    clip: FloatCHW  # 3 x S x S
    aux: FloatCHW | None  # 3 x A x A
    sam: FloatCHW  # 3 x T x T (padded)
    sam_input_size: tuple[int, int]  # (h, w) inside the padded SAM input
    original_size: tuple[int, int]  # (H, W)


def prepare(image: NDArray[np.uint8], cfg: MirasConfig) -> PreparedImage:
    h, w = image.shape[:2]
    mean = np.asarray(cfg.clip_mean, dtype=np.float32)
    std = np.asarray(cfg.clip_std, dtype=np.float32)
    square = _square(image, cfg.image_aspect_ratio, mean)
    clip = _normalise(_resize(square, cfg.clip_image_size, cfg.clip_image_size), mean, std)
    aux = None
    if cfg.aux is not None:
        aux = _normalise(_resize(square, cfg.aux.image_size, cfg.aux.image_size), mean, std)
    sam, sam_size = _sam_input(image, cfg)
    return PreparedImage(clip, aux, sam, sam_size, (h, w))


def sam_resized_shape(h: int, w: int, target: int) -> tuple[int, int]:
    """SAM's ResizeLongestSide rule: scale so the long side is ``target``, round half up."""
    scale = target / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _square(image: NDArray[np.uint8], mode: str, mean: NDArray[np.float32]) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w) if mode == "pad" else min(h, w)
    if mode == "pad":
        fill = np.round(mean * 255).astype(np.uint8)
        out = np.empty((side, side, 3), dtype=np.uint8)
        out[:] = fill
        top, left = (side - h) // 2, (side - w) // 2
        out[top : top + h, left : left + w] = image
        return out
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def _resize(image: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    if image.shape[:2] == (height, width):
        return image
    shrinking = height < image.shape[0] or width < image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)


def _normalise(
    image: NDArray[np.uint8], mean: NDArray[np.float32], std: NDArray[np.float32]
) -> FloatCHW:
    x = image.astype(np.float32) / 255.0
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _sam_input(image: NDArray[np.uint8], cfg: MirasConfig) -> tuple[FloatCHW, tuple[int, int]]:
    size = cfg.sam.image_size
    nh, nw = sam_resized_shape(image.shape[0], image.shape[1], size)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = (
        resized.astype(np.float32) - np.asarray(cfg.sam.pixel_mean, dtype=np.float32)
    ) / np.asarray(cfg.sam.pixel_std, dtype=np.float32)
    out = np.zeros((3, size, size), dtype=np.float32)
    out[:, :nh, :nw] = x.transpose(2, 0, 1)
    return out, (nh, nw)
