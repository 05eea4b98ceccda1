"""Box decoding straight from COCO RLE runs, against pycocotools' whole-frame decode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.mask import Mask
from annotator.core.metrics_rle import box_of, decode_box, runs


def _frame(mask: Mask) -> np.ndarray:
    return mask_utils.decode(mask.rle()).astype(bool)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(1, 40), st.integers(1, 40)).flatmap(
        lambda shape: arrays(np.bool_, shape, elements=st.booleans())
    )
)
def test_runs_rebuild_the_frame(array: np.ndarray) -> None:
    mask = Mask.from_array(array)
    r = runs(mask)
    assert r.sum() == array.size
    values = np.arange(r.size) % 2 == 1
    np.testing.assert_array_equal(np.repeat(values, r), array.ravel(order="F"))


def test_long_runs_and_large_frames() -> None:
    # runs longer than 2**15 need several characters and negative deltas in the encoding
    array = np.zeros((900, 1300), bool)
    array[100:800, 200:1250] = True
    array[0, 0] = True
    array[-1, -1] = True
    mask = Mask.from_array(array)
    values = np.arange(runs(mask).size) % 2 == 1
    np.testing.assert_array_equal(np.repeat(values, runs(mask)), array.ravel(order="F"))


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(st.integers(1, 30), st.integers(1, 30)).flatmap(
        lambda shape: st.tuples(
            arrays(np.bool_, shape),
            st.integers(0, shape[1] - 1),
            st.integers(0, shape[1] - 1),
            st.integers(0, shape[0] - 1),
            st.integers(0, shape[0] - 1),
        )
    )
)
def test_decode_box_equals_a_slice_of_the_frame(
    case: tuple[np.ndarray, int, int, int, int],
) -> None:
    array, c0, c1, r0, r1 = case
    c0, c1 = sorted((c0, c1))
    r0, r1 = sorted((r0, r1))
    box = (c0, c1 + 1, r0, r1 + 1)  # transposed frame: rows are image columns
    mask = Mask.from_array(array)
    np.testing.assert_array_equal(decode_box(mask, box), array.T[c0 : c1 + 1, r0 : r1 + 1])


def test_box_of_is_the_tight_box() -> None:
    array = np.zeros((50, 70), bool)
    array[12:30, 40:61] = True
    assert box_of(Mask.from_array(array)) == (40, 61, 12, 30)
    assert box_of(Mask.empty(5, 5)) is None
    full = Mask.from_array(np.ones((5, 6), bool))
    assert box_of(full) == (0, 6, 0, 5)
    np.testing.assert_array_equal(decode_box(full, (0, 6, 0, 5)), _frame(full).T)


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        (b"", "empty"),
        (b"0", "do not cover"),  # runs sum to 0, not 20
        (b"5", "do not cover"),
        (b"4\\", "end inside a number"),  # a continuation bit on the last character
    ],
)
def test_corrupt_counts_are_refused(counts: bytes, match: str) -> None:
    with pytest.raises(MaskError, match=match):
        runs(Mask(4, 5, counts))
