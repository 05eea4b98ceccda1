"""Image preparation for the three encoders, in numpy + Pillow (the network gets ready tensors).

Resizing follows the libraries the checkpoints were trained with, because the towers are
sensitive to the resampling filter: CLIP's image processor (Pillow bicubic) and SAM's
``ResizeLongestSide`` (Pillow bilinear).

- CLIP: ``pad`` (LLaVA-1.5, MIRAS) first pads to a square with the mean colour (LLaVA's
  ``expand2square``: the colour truncated to integers); then, in both modes, the short side is
  resized to the tower's size and the centre cropped (what ``crop``, LISA's plain CLIP
  processor, does to a non-square image), CLIP mean/std.
- Aux (Mini-Gemini): the same square image at the aux encoder's higher resolution.
- SAM: longest side resized to the encoder size, SAM mean/std, zero padding at right/bottom;
  the resized size is kept to crop the predicted masks back before upsampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PilImage

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
    padded = _pad_square(image, mean) if cfg.image_aspect_ratio == "pad" else image
    clip = _normalise(_short_side_and_centre(padded, cfg.clip_image_size), mean, std)
    aux = None
    if cfg.aux is not None:
        aux = _normalise(_short_side_and_centre(padded, cfg.aux.image_size), mean, std)
    sam, sam_size = _sam_input(image, cfg)
    return PreparedImage(clip, aux, sam, sam_size, (h, w))


def sam_resized_shape(h: int, w: int, target: int) -> tuple[int, int]:
    """SAM's ResizeLongestSide rule: scale so the long side is ``target``, round half up."""
    scale = target / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _pad_square(image: NDArray[np.uint8], mean: NDArray[np.float32]) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    out = np.empty((side, side, 3), dtype=np.uint8)
    out[:] = (mean * 255).astype(np.uint8)  # truncated, as LLaVA's int(x * 255)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out


def _short_side_and_centre(image: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """CLIP's processor: short side to ``size`` (bicubic), long side ``int(size * long/short)``,
    then the centre ``size`` x ``size``."""
    h, w = image.shape[:2]
    if h <= w:
        nh, nw = size, int(size * w / h)
    else:
        nh, nw = int(size * h / w), size
    resized = _pil_resize(image, nh, nw, PilImage.Resampling.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return resized[top : top + size, left : left + size]


def _pil_resize(
    image: NDArray[np.uint8], height: int, width: int, resample: PilImage.Resampling
) -> NDArray[np.uint8]:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(PilImage.fromarray(image).resize((width, height), resample=resample))


def _normalise(
    image: NDArray[np.uint8], mean: NDArray[np.float32], std: NDArray[np.float32]
) -> FloatCHW:
    x = image.astype(np.float32) / 255.0
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _sam_input(image: NDArray[np.uint8], cfg: MirasConfig) -> tuple[FloatCHW, tuple[int, int]]:
    size = cfg.sam.image_size
    nh, nw = sam_resized_shape(image.shape[0], image.shape[1], size)
    resized = _pil_resize(image, nh, nw, PilImage.Resampling.BILINEAR)
    x = (
        resized.astype(np.float32) - np.asarray(cfg.sam.pixel_mean, dtype=np.float32)
    ) / np.asarray(cfg.sam.pixel_std, dtype=np.float32)
    out = np.zeros((3, size, size), dtype=np.float32)
    out[:, :nh, :nw] = x.transpose(2, 0, 1)
    return out, (nh, nw)
