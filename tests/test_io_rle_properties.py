"""Property tests for RLE from files: round trips, canonical spelling, refusal of junk."""

from __future__ import annotations

import contextlib
import json
import string

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.mask import Mask
from annotator.core.rle import canonical_runs, decode_counts, encode_runs, validate_rle

masks = st.tuples(st.integers(1, 24), st.integers(1, 24)).flatmap(lambda hw: arrays(np.bool_, hw))


def runs_of(arr: np.ndarray) -> list[int]:
    flat = np.asfortranarray(arr).reshape(-1, order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] if flat.size and flat[0] else []) + runs


@settings(max_examples=300, deadline=None)
@given(masks)
def test_array_rle_json_round_trip(arr: np.ndarray) -> None:
    m = Mask.from_array(arr)
    back = Mask.from_rle(json.loads(json.dumps(m.to_rle())))
    assert back == m
    np.testing.assert_array_equal(back.to_array(), arr)
    assert back.area == int(arr.sum())


@settings(max_examples=300, deadline=None)
@given(masks, st.data())
def test_every_spelling_of_a_mask_gives_the_same_mask(arr: np.ndarray, data: st.DataObject) -> None:
    m = Mask.from_array(arr)
    runs = runs_of(arr)
    assert canonical_runs(runs) == decode_counts(m.counts.decode())
    # split runs and insert empty runs without changing the pixels
    spelled: list[int] = []
    for i, r in enumerate(runs):
        if r > 1 and data.draw(st.booleans()):
            cut = data.draw(st.integers(1, r - 1))
            spelled += [cut, 0, r - cut]
        else:
            spelled.append(r)
        if i < len(runs) - 1 and data.draw(st.booleans()):
            spelled += [0, 0]
    assert sum(spelled) == arr.size
    for counts in (spelled, encode_runs(spelled)):
        got = Mask.from_rle({"size": list(arr.shape), "counts": counts})
        assert got == m
        np.testing.assert_array_equal(got.to_array(), arr)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40))
def test_encode_decode_inverse(runs: list[int]) -> None:
    assert decode_counts(encode_runs(runs)) == runs


@settings(max_examples=200, deadline=None)
@given(masks)
def test_agrees_with_pycocotools(arr: np.ndarray) -> None:
    ours = validate_rle({"size": list(arr.shape), "counts": runs_of(arr)})
    theirs = mask_utils.encode(np.asfortranarray(arr.astype(np.uint8)))
    assert ours["counts"] == theirs["counts"].decode("ascii")


_junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12),
    lambda c: (
        st.lists(c, max_size=5)
        | st.dictionaries(st.sampled_from(["size", "counts", "x"]), c, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_junk)
def test_junk_raises_only_mask_error(value) -> None:
    with contextlib.suppress(MaskError):
        validate_rle(value)


@settings(max_examples=500, deadline=None)
@given(
    st.tuples(st.integers(-3, 40), st.integers(-3, 40)),
    st.text(alphabet=string.printable + "é\x00", max_size=40),
)
def test_random_counts_strings_raise_only_mask_error(size: tuple[int, int], counts: str) -> None:
    try:
        clean = validate_rle({"size": list(size), "counts": counts})
    except MaskError:
        return
    # whatever got through decodes to exactly h*w pixels without touching pycocotools' trust
    m = Mask.from_rle(clean)
    assert m.to_array().shape == tuple(size)


def test_hostile_sizes_are_refused_before_pycocotools() -> None:
    for size in ([10**6, 10**6], [0, 5], [5, -1], [2**31, 1], [1.5, 2], [True, 2], "ab", [1, 2, 3]):
        try:
            validate_rle({"size": size, "counts": ""})
        except MaskError:
            continue
        raise AssertionError(f"{size} was accepted")
