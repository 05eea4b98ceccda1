"""What identifies an image's pixels for the SAM embedding cache. The app's read-ahead and the
engine must agree on it, or a prefetched embedding is never found again."""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from annotator.core.model import Image


def pixel_key(pixels: NDArray[np.uint8]) -> str:
    """sha256 of an image's shape, dtype and pixels: the key of an array known by nothing else."""
    digest = hashlib.sha256(f"{pixels.shape}|{pixels.dtype.str}|".encode("ascii"))
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def image_key(image: Image, pixels: NDArray[np.uint8]) -> str:
    """The image file's sha256 when the record has it (no hashing), else :func:`pixel_key`."""
    return image.sha256 or pixel_key(pixels)
