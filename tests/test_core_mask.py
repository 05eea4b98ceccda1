from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.mask import Mask, union
from annotator.core.rle import decode_counts, encode_runs, validate_rle


def _random_mask(rng: np.random.Generator, h: int = 37, w: int = 53) -> np.ndarray:
    return rng.random((h, w)) > 0.6


def test_array_rle_round_trip_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    arr = _random_mask(rng)
    m = Mask.from_array(arr)
    assert np.array_equal(m.to_array(), arr)
    ref = mask_utils.encode(np.asfortranarray(arr.astype(np.uint8)))
    assert m.counts == ref["counts"]
    assert m.area == int(arr.sum())
    back = Mask.from_rle(json.loads(json.dumps(m.to_rle())))
    assert back == m


def test_pure_python_codec_agrees_with_pycocotools() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        arr = _random_mask(rng, int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        counts = mask_utils.encode(np.asfortranarray(arr.astype(np.uint8)))["counts"].decode()
        runs = decode_counts(counts)
        assert sum(runs) == arr.size
        assert encode_runs(runs) == counts


def test_uncompressed_rle_is_accepted_and_normalised() -> None:
    arr = np.zeros((4, 5), dtype=bool)
    arr[1:3, 2:4] = True
    m = Mask.from_array(arr)
    runs = decode_counts(m.counts.decode())
    assert Mask.from_rle({"size": [4, 5], "counts": runs}) == m


@pytest.mark.parametrize(
    "rle",
    [
        {"size": [10, 10], "counts": "0"},  # covers too few pixels
        {"size": [100000, 100000], "counts": ""},  # oversized
        {"size": [10, -1], "counts": ""},
        {"size": [10], "counts": ""},
        {"size": [10, 10], "counts": [50, -5, 55]},
        {"size": [10, 10], "counts": [101]},
        {"size": [10, 10], "counts": "\x7f"},
        {"size": [10, 10], "counts": 12},
        {"size": [10, 10], "counts": "", "extra": 1},
        {"size": [True, 10], "counts": [10]},
        "not a dict",
    ],
)
def test_hostile_rle_is_refused_before_pycocotools(rle: object) -> None:
    with pytest.raises(MaskError):
        validate_rle(rle)


def test_rle_size_must_match_expected_image() -> None:
    m = Mask.empty(4, 4)
    with pytest.raises(MaskError, match="does not match"):
        Mask.from_rle(m.to_rle(), expect_size=(5, 4))


def test_polygon_rasterisation_matches_prist_loader_rule() -> None:
    pts = [[10.7, 5.2], [40.9, 8.8], [30.1, 30.6], [8.3, 25.5]]
    m = Mask.from_polygons([pts], 40, 50)
    ref = np.zeros((40, 50), dtype=np.uint8)
    cv2.fillPoly(ref, np.array([pts], dtype=np.int32), 1)
    assert np.array_equal(m.to_array(), ref.astype(bool))


def test_polygons_keep_holes_through_keyhole_cuts() -> None:
    arr = np.zeros((60, 60), dtype=bool)
    arr[10:50, 10:50] = True
    arr[25:35, 25:35] = False  # a hole
    arr[52:55, 52:55] = True  # a small separate part
    m = Mask.from_array(arr)
    polys = m.polygons(keep_holes=True)
    assert len(polys) == 2
    back = Mask.from_polygons(polys, 60, 60).to_array()
    inter = (back & arr).sum()
    iou = inter / (back | arr).sum()
    assert not back[30, 30], "the hole must stay empty"
    assert iou > 0.9
    no_holes = Mask.from_polygons(m.polygons(keep_holes=False), 60, 60).to_array()
    assert no_holes[30, 30]


def test_bbox_and_empty() -> None:
    arr = np.zeros((20, 30), dtype=bool)
    arr[3:7, 11:20] = True
    m = Mask.from_array(arr)
    assert m.bbox == (11.0, 3.0, 9.0, 4.0)
    assert not m.is_empty
    assert Mask.empty(20, 30).is_empty
    assert Mask.empty(20, 30).polygons() == []


def test_union_checks_sizes() -> None:
    a = np.zeros((5, 5), dtype=bool)
    a[0, 0] = True
    b = np.zeros((5, 5), dtype=bool)
    b[4, 4] = True
    u = union([Mask.from_array(a), Mask.from_array(b)], 5, 5)
    assert u.area == 2
    with pytest.raises(MaskError):
        union([Mask.empty(4, 5)], 5, 5)


def test_bad_polygon_is_refused() -> None:
    with pytest.raises(MaskError):
        Mask.from_polygons([[[1, 2, 3]]], 10, 10)
    with pytest.raises(MaskError):
        Mask.from_polygons([[[1, 2], [float("nan"), 3], [4, 4]]], 10, 10)
