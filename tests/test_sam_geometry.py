"""Full-size masks from SAM's low-resolution logits: interpolated only along the outline, the
same mask as interpolating the whole image (numpy and OpenCV only; no weights needed)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.proposers.sam import geometry

YY, XX = np.mgrid[0:256, 0:256].astype(np.float32)


def _blob(cy: float, cx: float, radius: float, texture: float = 0.0) -> np.ndarray:
    """Smooth logits like SAM's: positive inside a disc, with optional ripples on the edge."""
    ripples = texture * np.sin(XX / 7.0) * np.cos(YY / 5.0)
    return (radius / 4 - np.hypot(YY - cy, XX - cx) / 2 + ripples).astype(np.float32)


@pytest.mark.parametrize(
    ("size", "logits"),
    [
        ((3000, 4000), _blob(90, 120, 120)),  # a camera photo
        ((768, 1024), _blob(40, 200, 60, texture=3.0)),  # the benchmark's size, ragged edge
        ((1000, 701), _blob(128, 40, 300)),  # portrait; the object runs off the image
        ((37, 61), _blob(20, 100, 80)),  # smaller than the grid: each pixel reads many cells
        ((4500, 90), _blob(200, 10, 90, texture=2.0)),  # a strip; odd block remainders
        ((640, 480), np.full((256, 256), -3.0, np.float32)),  # nothing
        ((640, 480), np.full((256, 256), 5.0, np.float32)),  # everything
        ((600, 800), np.random.default_rng(0).normal(0, 3, (256, 256)).astype(np.float32)),
    ],
)
def test_mask_equals_thresholded_whole_image_interpolation(
    size: tuple[int, int], logits: np.ndarray
) -> None:
    input_size = geometry.input_size_for(*size)
    whole = geometry.upsample_logits(logits, size, input_size)
    mask = geometry.upsample_mask(logits, size, input_size)
    assert mask.shape == size and mask.dtype == bool
    differ = mask != (whole > 0)
    # Blocks are warped with their own offset: only a logit within the warp's 1/32-pixel
    # rounding of zero may land on the other side.
    assert differ.sum() <= max(2, 1e-5 * mask.size)
    assert np.all(np.abs(whole[differ]) < 0.1)
