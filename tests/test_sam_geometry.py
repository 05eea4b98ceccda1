"""Full-size logits from SAM's low-resolution ones: each pixel centre interpolated at its place
in the grid (numpy and OpenCV only; no weights needed)."""

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
        ((1024, 1024), _blob(250, 250, 40)),  # square: the whole grid, to its last row
        ((37, 61), _blob(20, 100, 80)),  # smaller than the grid: each pixel reads many cells
        ((4500, 90), _blob(200, 10, 90, texture=2.0)),  # a strip
        ((1, 7), _blob(0, 100, 80)),
        ((600, 800), np.random.default_rng(0).normal(0, 3, (256, 256)).astype(np.float32)),
    ],
)
def test_logits_interpolate_at_each_pixel_centre(size: tuple[int, int], logits: np.ndarray) -> None:
    """Each output pixel's logit is the bilinear value of the 256 grid at the pixel centre's
    place in it (edges repeated), computed here from that definition alone."""
    input_size = geometry.input_size_for(*size)
    ours = geometry.upsample_logits(logits, size, input_size)
    assert ours.shape == size and ours.dtype == np.float32
    rows = _bilinear_weights(size[0], input_size[0])
    cols = _bilinear_weights(size[1], input_size[1])
    expected = rows @ logits.astype(np.float64) @ cols.T
    np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(logits).max(), rtol=0)


def _bilinear_weights(n_out: int, n_frame: int) -> np.ndarray:
    """``(n_out, 256)``: output pixel ``y`` reads the grid at ``(y + 0.5)·n_frame/(4·n_out)
    − 0.5``, clamped to the grid."""
    place = np.clip((np.arange(n_out) + 0.5) * n_frame / (4 * n_out) - 0.5, 0, 255)
    low = np.floor(place).astype(int)
    high = np.minimum(low + 1, 255)
    t = place - low
    weights = np.zeros((n_out, 256))
    np.add.at(weights, (np.arange(n_out), low), 1 - t)
    np.add.at(weights, (np.arange(n_out), high), t)
    return weights
