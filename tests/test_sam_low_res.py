"""A click's low-resolution logits: the image's cells with the click, the padding's later; the
masks never read the padding (numpy only; the real graphs are checked in test_sam_engine)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from annotator.proposers.sam import geometry
from annotator.proposers.sam.backend import Decoded
from annotator.proposers.sam.low_res import GRID_SIDE, LowResLogits, covered_cells

SIZES = [
    (768, 1024),  # the benchmark's 4:3
    (1024, 768),  # portrait
    (576, 1024),  # 16:9
    (427, 640),  # 3:2, a common photo size
    (1000, 701),
    (3000, 4000),
    (1024, 1024),  # square: everything is covered
    (37, 61),  # smaller than the input frame
    (4500, 90),  # a strip
    (1, 7),
]


@pytest.mark.parametrize("size", SIZES)
def test_masks_read_only_the_covered_cells(size: tuple[int, int]) -> None:
    """Whatever the cells outside the covered ones hold, the full-resolution logits (and so the
    mask) are the same."""
    rng = np.random.default_rng(sum(size))
    input_size = geometry.input_size_for(*size)
    rows, cols = covered_cells(input_size)
    # Smooth logits with an outline everywhere (SAM's are smooth at this scale).
    coarse = rng.normal(0.0, 4.0, (16, 16)).astype(np.float32)
    logits = np.kron(coarse, np.ones((16, 16), np.float32))
    logits += rng.normal(0.0, 0.5, logits.shape).astype(np.float32)
    garbage = logits.copy()
    outside = np.ones(logits.shape, bool)
    outside[: 4 * rows, : 4 * cols] = False
    garbage[outside] = rng.choice([-1e4, 1e4], int(outside.sum())).astype(np.float32)

    np.testing.assert_array_equal(
        geometry.upsample_logits(garbage, size, input_size),
        geometry.upsample_logits(logits, size, input_size),
    )
    if max(size) == min(size):
        assert (rows, cols) == (GRID_SIDE, GRID_SIDE)
    else:  # the short side's padding is left out
        assert min(rows, cols) < GRID_SIDE


def _cell_logits(tokens: np.ndarray, hyper: np.ndarray) -> np.ndarray:
    """A stand-in upscaling, isolating the placement: cell (y, x)'s 16 logits are its first 16
    token values times each mask's first hyper value."""
    return np.einsum("m,yxs->myxs", hyper[:, 0], tokens[:, :, :16]).astype(np.float32)


def _expected_grid(tokens: np.ndarray, hyper: np.ndarray) -> np.ndarray:
    """The same, placed by SAM's sub-pixel rule: value (i1, j1, i2, j2) of cell (y, x) at row
    4y + 2·i1 + i2, column 4x + 2·j1 + j2."""
    logits = _cell_logits(tokens, hyper)
    out = np.zeros((len(hyper), 256, 256), np.float32)
    for s in range(16):
        i1, j1, i2, j2 = (s >> 3) & 1, (s >> 2) & 1, (s >> 1) & 1, s & 1
        out[:, 2 * i1 + i2 :: 4, 2 * j1 + j2 :: 4] = logits[:, :, :, s]
    return out


def _click(rows: int, cols: int, masks: int = 3) -> tuple[Decoded, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(rows * 100 + cols)
    tokens = rng.normal(size=(GRID_SIDE, GRID_SIDE, 256)).astype(np.float32)
    hyper = rng.normal(size=(masks, 32)).astype(np.float32)
    decoded = Decoded(
        logits=_cell_logits(tokens[:rows, :cols], hyper),
        below=tokens[rows:],
        right=tokens[:rows, cols:],
        hyper=hyper,
        scores=np.zeros(4, np.float32),
    )
    return decoded, tokens, hyper


@pytest.mark.parametrize(("rows", "cols"), [(49, 64), (64, 45), (30, 20), (64, 64)])
def test_cells_are_placed_by_the_subpixel_rule(rows: int, cols: int) -> None:
    decoded, tokens, hyper = _click(rows, cols)
    calls: list[tuple[int, ...]] = []

    def upscale(cells: np.ndarray, h: np.ndarray) -> np.ndarray:
        calls.append(cells.shape)
        return _cell_logits(cells, h)

    logits = LowResLogits(upscale, decoded)
    expected = _expected_grid(tokens, hyper)
    for k in range(len(hyper)):
        covered = logits.covered(k)
        np.testing.assert_array_equal(
            covered[: 4 * rows, : 4 * cols], expected[k, : 4 * rows, : 4 * cols]
        )
        assert not covered.flags.writeable
    assert calls == []  # nothing outside the image until the whole map is asked for

    whole = logits.whole()
    np.testing.assert_array_equal(whole, expected)
    np.testing.assert_array_equal(logits.complete(1), expected[1])
    assert not whole.flags.writeable
    blocks = [(GRID_SIDE - rows, GRID_SIDE, 256), (rows, GRID_SIDE - cols, 256)]
    assert calls == [b for b in blocks if 0 not in b]
    logits.whole()
    assert len(calls) == sum(0 not in b for b in blocks)  # made once


def test_padding_is_made_once_when_threads_ask_together() -> None:
    decoded, tokens, hyper = _click(40, 50)
    calls: list[int] = []
    gate = threading.Barrier(4)

    def upscale(cells: np.ndarray, h: np.ndarray) -> np.ndarray:
        calls.append(1)
        return _cell_logits(cells, h)

    logits = LowResLogits(upscale, decoded)
    seen: list[np.ndarray] = []

    def ask() -> None:
        gate.wait()
        seen.append(logits.complete(0))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 2  # below and right, once each
    for got in seen:
        np.testing.assert_array_equal(got, _expected_grid(tokens, hyper)[0])
