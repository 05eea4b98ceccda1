"""Mask edit operations: they change exactly the pixels they should and report where."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core import mask_edit as me
from annotator.core.mask_edit import Rect


def test_dot_is_round_and_rect_covers_it() -> None:
    m = np.zeros((100, 120), dtype=bool)
    r = me.paint_segment(m, (50.0, 40.0), (50.0, 40.0), 10, True)
    ys, xs = np.nonzero(m)
    assert abs(xs.mean() - 50) < 0.6 and abs(ys.mean() - 40) < 0.6
    assert 250 < m.sum() < 380  # pi * 10^2 ~ 314
    assert me.bounding_rect(m) == r


def test_segment_paints_a_capsule_and_eraser_removes_it() -> None:
    m = np.zeros((200, 300), dtype=bool)
    r = me.paint_segment(m, (20.0, 100.0), (220.0, 100.0), 5, True)
    assert m[100, 20:221].all()
    assert not m[100, 230:].any() and not m[:90].any()
    assert me.bounding_rect(m) == r
    before = m.copy()
    r2 = me.paint_segment(m, (100.0, 100.0), (100.0, 100.0), 8, False)
    assert not m[100, 95:106].any()
    assert me.changed_rect(before, m).union(r2) == r2  # change lies inside the reported rect


def test_segment_outside_image_is_clipped() -> None:
    m = np.zeros((50, 50), dtype=bool)
    assert me.paint_segment(m, (-100.0, -100.0), (-90.0, -90.0), 3, True).is_empty
    r = me.paint_segment(m, (-5.0, 25.0), (5.0, 25.0), 4, True)
    assert r.x == 0 and m[25, 0:5].all()


def test_polygon_fill_and_straight_edges() -> None:
    m = np.zeros((100, 100), dtype=bool)
    r = me.fill_polygon(m, [(10, 10), (60, 10), (60, 40), (10, 40)])
    assert m[10:41, 10:61].all() and m.sum() == 31 * 51
    assert r == Rect(10, 10, 51, 31)
    assert me.fill_polygon(m, [(1, 1), (2, 2)]).is_empty


def test_fill_holes_keeps_border_connected_background() -> None:
    m = np.zeros((60, 60), dtype=bool)
    m[10:50, 10:50] = True
    m[20:30, 20:30] = False  # a hole
    m[40:50, 45:50] = False  # a notch open to the outside of the ring
    r = me.fill_holes(m)
    assert m[20:30, 20:30].all()
    assert not m[40:50, 45:50].any() and not m[45, 55]
    assert r == Rect(20, 20, 10, 10)
    assert me.fill_holes(m).is_empty


def test_keep_largest_component() -> None:
    m = np.zeros((80, 80), dtype=bool)
    m[5:30, 5:30] = True
    m[50:55, 60:65] = True
    r = me.keep_largest_component(m)
    assert m[5:30, 5:30].all() and not m[50:55, 60:65].any()
    assert r == Rect(60, 50, 5, 5)


def test_clear_replace_combine() -> None:
    m = np.zeros((40, 40), dtype=bool)
    new = np.zeros_like(m)
    new[5:10, 5:10] = True
    assert me.replace(m, new) == Rect(5, 5, 5, 5)
    other = np.zeros_like(m)
    other[8:12, 8:12] = True
    r = me.combine(m, other, True)
    assert m[8:12, 8:12].all() and r.union(Rect(8, 8, 4, 4)) == r
    me.combine(m, new, False)
    assert m.sum() == 16 - 4
    assert me.clear(m) == me.Rect(10, 8, 2, 4).union(Rect(8, 10, 4, 2))
    assert not m.any()
    with pytest.raises(ValueError):
        me.replace(m, np.zeros((3, 3), dtype=bool))


def test_rect_algebra() -> None:
    a, b = Rect(0, 0, 10, 10), Rect(5, 5, 10, 2)
    assert a.union(b) == Rect(0, 0, 15, 10)
    assert me.EMPTY.union(b) == b
    assert Rect(-5, -5, 10, 10).clip(3, 3) == Rect(0, 0, 3, 3)
    assert Rect(10, 10, 2, 2).clip(5, 5).is_empty
