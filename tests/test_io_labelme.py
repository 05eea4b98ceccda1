"""LabelMe shapes, matching rules and LabelMe file validation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_io import rect_mask, shape, write_labelme

from annotator.core.errors import InputError
from annotator.core.model import FlagCode
from annotator.io.labelme import match_focus, read_labelme


def _lm(tmp_path: Path, shapes: list[dict], w: int = 60, h: int = 40):
    return read_labelme(write_labelme(tmp_path / "x.json", w, h, shapes))


def codes(result) -> set[FlagCode]:
    return {f.code for f in result.flags}


def test_rectangle_two_corners_any_order(tmp_path: Path) -> None:
    lm = _lm(tmp_path, [shape("Box", [[30.9, 25.2], [5.5, 3.7]], "rectangle")])
    r = match_focus(lm, "box", height=40, width=60)
    assert codes(r) == set()
    np.testing.assert_array_equal(r.mask.to_array(), rect_mask(40, 60, 5.5, 3.7, 30.9, 25.2))
    assert r.mask.area == 26 * 23


def test_circle_is_a_disc(tmp_path: Path) -> None:
    lm = _lm(tmp_path, [shape("ball", [[30, 20], [30, 32]], "circle")], w=80, h=60)
    r = match_focus(lm, "Ball", height=60, width=80)
    yy, xx = np.mgrid[0:60, 0:80]
    ideal = (xx - 30) ** 2 + (yy - 20) ** 2 <= 12**2  # pixel centres within the radius
    got = r.mask.to_array()
    assert (got & ideal).sum() / (got | ideal).sum() > 0.97
    ys, xs = np.nonzero(got)
    assert abs(xs.mean() - 30) < 0.25 and abs(ys.mean() - 20) < 0.25  # not shifted


def test_polygon_follows_the_loader_rule(tmp_path: Path) -> None:
    pts = [[3.9, 2.2], [40.7, 5.1], [22.5, 30.8]]
    lm = _lm(tmp_path, [shape("thing", pts, None)])
    ref = np.zeros((40, 60), np.uint8)
    cv2.fillPoly(ref, [np.asarray(pts).astype(np.int32)], 1)
    np.testing.assert_array_equal(
        match_focus(lm, "thing", height=40, width=60).mask.to_array(), ref.astype(bool)
    )


@pytest.mark.parametrize(
    ("pts", "kind"),
    [
        ([[1, 1], [9, 9]], "polygon"),
        ([[1, 1], [9, 9], [1, 1]], "polygon"),
        ([[1, 1], [5, 5], [9, 9]], "polygon"),
        ([[1, 1], [9, 1]], "rectangle"),
        ([[5, 5], [5, 5]], "circle"),
        ([[1, 1], [9, 9], [3, 9]], "linestrip"),
        ([[4, 4]], "point"),
        ([[1, 1], [9, 9]], "line"),
        ([], "polygon"),
    ],
)
def test_degenerate_shapes_are_flagged(tmp_path: Path, pts, kind: str) -> None:
    lm = _lm(tmp_path, [shape("x", pts, kind)])
    r = match_focus(lm, "x", height=40, width=60)
    assert codes(r) == {FlagCode.DEGENERATE_POLYGON, FlagCode.EMPTY_MASK}
    assert r.mask is None


def test_degenerate_shape_beside_a_good_one(tmp_path: Path) -> None:
    lm = _lm(tmp_path, [shape("x", [[1, 1], [9, 9]]), shape("x", [[10, 10], [20, 10], [20, 20]])])
    r = match_focus(lm, "x", height=40, width=60)
    assert codes(r) == {FlagCode.DEGENERATE_POLYGON}
    assert r.shape_indices == (1,)
    sub = match_focus(lm, "x", match="substring", height=40, width=60)
    assert sub.shape_indices == (0, 1)  # the loader fills the two-point line as well
    assert sub.mask.area > r.mask.area


def test_exact_match_flags_substring_collisions(tmp_path: Path) -> None:
    lm = _lm(
        tmp_path,
        [
            shape("Red leaves", [[1, 1], [10, 1], [10, 10]]),
            shape("White dress against red leaves", [[20, 20], [30, 20], [30, 30]]),
        ],
    )
    short = match_focus(lm, "red leaves", height=40, width=60)
    assert codes(short) == {FlagCode.AMBIGUOUS_MATCH}
    assert short.labels == ("Red leaves",)
    long = match_focus(lm, "White dress against red leaves", height=40, width=60)
    assert codes(long) == set()
    sub = match_focus(lm, "red leaves", match="substring", height=40, width=60)
    assert codes(sub) == {FlagCode.AMBIGUOUS_MATCH}
    assert sub.mask.area == short.mask.area + long.mask.area


def test_no_match_names_the_substring_candidates(tmp_path: Path) -> None:
    lm = _lm(tmp_path, [shape("the red car", [[1, 1], [10, 1], [10, 10]])])
    r = match_focus(lm, "red car", height=40, width=60)
    assert codes(r) == {FlagCode.NO_MATCH} and r.mask is None
    assert "the red car" in r.flags[0].message
    assert codes(match_focus(lm, "red car", match="substring", height=40, width=60)) == set()
    assert codes(match_focus(lm, "bus", match="substring", height=40, width=60)) == {
        FlagCode.NO_MATCH
    }


def test_unicode_labels_and_case(tmp_path: Path) -> None:
    lm = _lm(
        tmp_path,
        [
            shape("  ТЕКСТ 'СССР' ", [[1, 1], [10, 1], [10, 10]]),
            shape("Caçadores", [[20, 20], [30, 20], [30, 30]]),
        ],
    )
    assert match_focus(lm, "текст 'ссср'", height=40, width=60).mask is not None
    assert match_focus(lm, "CAÇADORES", height=40, width=60).mask is not None
    assert match_focus(lm, "caçad", match="substring", height=40, width=60).mask is not None


def test_shapes_outside_the_image_give_an_empty_mask(tmp_path: Path) -> None:
    lm = _lm(tmp_path, [shape("x", [[100, 100], [120, 100], [120, 130]])])
    r = match_focus(lm, "x", height=40, width=60)
    assert codes(r) == {FlagCode.EMPTY_MASK} and r.mask is None


@pytest.mark.parametrize(
    ("doc", "line", "words"),
    [
        ('{"shapes": [],\n"imageHeight": 0, "imageWidth": 5}', 2, "imageHeight 0"),
        ('{"shapes": [],\n"imageHeight": 5.5, "imageWidth": 5}', 2, "whole number"),
        ('{"shapes": [],\n"imageHeight": 40000, "imageWidth": 5}', 2, "outside"),
        ('{"shapes": [],\n"imageHeight": 10001, "imageWidth": 10000}', 2, "larger than"),
        ('{"imageHeight": 5, "imageWidth": 5,\n"shapes": {}}', 2, "must be a list"),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n{"label": 3, "points": []}]}',
            2,
            "label",
        ),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n'
            '{"label": "a",\n "points": [[1, 2], [3]]}]}',
            3,
            "point 1",
        ),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n'
            '{"label": "a",\n "points": [[1, true]]}]}',
            3,
            "point 0",
        ),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n'
            '{"label": "a",\n "points": [[1, 1e300]]}]}',
            3,
            "far outside",
        ),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n'
            '{"label": "a",\n "points": [[1, NaN]]}]}',
            3,
            "NaN",
        ),
        (
            '{"imageHeight": 5, "imageWidth": 5, "shapes": [\n'
            '{"label": "a", "shape_type": 7, "points": []}]}',
            2,
            "shape_type",
        ),
        ("[1, 2]", 1, "object"),
    ],
)
def test_malformed_labelme(tmp_path: Path, doc: str, line: int, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(doc)
    with pytest.raises(InputError) as err:
        read_labelme(path)
    assert err.value.file == str(path)
    assert err.value.line == line
    assert words in err.value.reason


def test_labelme_extra_fields_are_ignored(tmp_path: Path) -> None:
    doc = {
        "version": "5",
        "flags": {},
        "imageData": "aGVsbG8=",
        "imagePath": "x.jpg",
        "imageHeight": 10,
        "imageWidth": 10,
        "shapes": [
            {
                "label": "a",
                "points": [[1, 1], [5, 1], [5, 5]],
                "group_id": 3,
                "description": "",
                "flags": {"z": True},
                "mask": None,
            }
        ],
    }
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(doc))
    lm = read_labelme(path)
    assert (lm.height, lm.width, len(lm.shapes)) == (10, 10, 1)
    assert lm.shapes[0].shape_type == "polygon"
