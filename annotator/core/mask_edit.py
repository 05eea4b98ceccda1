"""In-place edits of a boolean mask array, each returning the rectangle it may have changed.

Every operation touches only the crop it needs, so a brush segment on a 4000x3000 mask costs
the same as on a small one; callers redraw and record undo data for the returned rectangle only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
Point = tuple[float, float]  # x, y in image pixels


@dataclass(frozen=True, slots=True)
class Rect:
    """Half-open pixel rectangle ``[x, x+w) x [y, y+h)``; ``w`` or ``h`` of 0 means nothing."""

    x: int
    y: int
    w: int
    h: int

    @property
    def is_empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.y, self.y + self.h), slice(self.x, self.x + self.w))

    def union(self, other: Rect) -> Rect:
        if self.is_empty:
            return other
        if other.is_empty:
            return self
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def clip(self, width: int, height: int) -> Rect:
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.w, width), min(self.y + self.h, height)
        if x1 <= x0 or y1 <= y0:
            return EMPTY
        return Rect(x0, y0, x1 - x0, y1 - y0)


EMPTY = Rect(0, 0, 0, 0)


def bounding_rect(mask: BoolArray) -> Rect:
    """Smallest rectangle holding every set pixel (``EMPTY`` for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return EMPTY
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return Rect(
        int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
    )


def changed_rect(before: BoolArray, after: BoolArray) -> Rect:
    """Bounding rectangle of the pixels that differ."""
    return bounding_rect(before != after)


def paint_segment(mask: BoolArray, p0: Point, p1: Point, radius: float, value: bool) -> Rect:
    """Paint (``value=True``) or erase a round-capped line of the given radius from p0 to p1.

    A stroke is drawn as a chain of such segments; a press without motion is ``p0 == p1`` (a dot).
    """
    h, w = mask.shape
    r = max(0.5, float(radius))
    x0, y0 = p0
    x1, y1 = p1
    pad = int(np.ceil(r)) + 1
    area = Rect(
        int(np.floor(min(x0, x1))) - pad,
        int(np.floor(min(y0, y1))) - pad,
        int(np.ceil(abs(x1 - x0))) + 2 * pad + 1,
        int(np.ceil(abs(y1 - y0))) + 2 * pad + 1,
    ).clip(w, h)
    if area.is_empty:
        return EMPTY
    crop = np.zeros((area.h, area.w), dtype=np.uint8)
    # Fixed-point coordinates (4 fractional bits) keep sub-pixel cursor positions.
    shift = 4
    scale = 1 << shift
    a = (round((x0 - area.x) * scale), round((y0 - area.y) * scale))
    b = (round((x1 - area.x) * scale), round((y1 - area.y) * scale))
    rad = round(r * scale)
    cv2.circle(crop, a, rad, 1, -1, cv2.LINE_8, shift)
    if a != b:
        cv2.circle(crop, b, rad, 1, -1, cv2.LINE_8, shift)
        _fill_capsule_body(crop, a, b, rad, shift)
    hit = crop.astype(bool)
    target = mask[area.slices]
    if value:
        target |= hit
    else:
        target &= ~hit
    return _offset(bounding_rect(hit), area)


def _offset(r: Rect, area: Rect) -> Rect:
    return EMPTY if r.is_empty else Rect(r.x + area.x, r.y + area.y, r.w, r.h)


def _fill_capsule_body(
    crop: NDArray[np.uint8], a: tuple[int, int], b: tuple[int, int], rad: int, shift: int
) -> None:
    """Fill the rectangle joining two end circles (the straight part of a thick line)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = float(np.hypot(dx, dy))
    nx, ny = -dy / length * rad, dx / length * rad
    quad = (
        np.array(
            [
                [a[0] + nx, a[1] + ny],
                [b[0] + nx, b[1] + ny],
                [b[0] - nx, b[1] - ny],
                [a[0] - nx, a[1] - ny],
            ]
        )
        .round()
        .astype(np.int32)
    )
    cv2.fillPoly(crop, [quad], 1, cv2.LINE_8, shift)


def fill_polygon(mask: BoolArray, points: Sequence[Point], value: bool = True) -> Rect:
    """Fill (or erase) a closed polygon: the polygon tool's straight edges."""
    if len(points) < 3:
        return EMPTY
    h, w = mask.shape
    pts = np.asarray(points, dtype=np.float64)
    area = Rect(
        int(np.floor(pts[:, 0].min())) - 1,
        int(np.floor(pts[:, 1].min())) - 1,
        int(np.ceil(np.ptp(pts[:, 0]))) + 3,
        int(np.ceil(np.ptp(pts[:, 1]))) + 3,
    ).clip(w, h)
    if area.is_empty:
        return EMPTY
    crop = np.zeros((area.h, area.w), dtype=np.uint8)
    shift = 4
    local = np.round((pts - [area.x, area.y]) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(crop, [local], 1, cv2.LINE_8, shift)
    hit = crop.astype(bool)
    target = mask[area.slices]
    if value:
        target |= hit
    else:
        target &= ~hit
    return _offset(bounding_rect(hit), area)


def fill_holes(mask: BoolArray) -> Rect:
    """Set every background pixel not connected to the image border (4-connectivity)."""
    box = bounding_rect(mask)
    if box.is_empty:
        return EMPTY
    crop = mask[box.slices]
    padded = np.pad(crop, 1, constant_values=False).astype(np.uint8)
    background = (padded == 0).astype(np.uint8)
    _, labels = cv2.connectedComponents(background, connectivity=4)
    outside = labels[0, 0]
    holes = (labels != outside) & (background == 1)
    holes = holes[1:-1, 1:-1]
    if not holes.any():
        return EMPTY
    crop |= holes
    return _offset(bounding_rect(holes), box)


def keep_largest_component(mask: BoolArray) -> Rect:
    """Clear every 8-connected part except the largest; returns the cleared area."""
    box = bounding_rect(mask)
    if box.is_empty:
        return EMPTY
    crop = mask[box.slices]
    n, labels, stats, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), connectivity=8)
    if n <= 2:
        return EMPTY
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    removed = crop & (labels != largest)
    crop &= ~removed
    return _offset(bounding_rect(removed), box)


def clear(mask: BoolArray) -> Rect:
    box = bounding_rect(mask)
    if not box.is_empty:
        mask[box.slices] = False
    return box


def replace(mask: BoolArray, new: BoolArray) -> Rect:
    """Overwrite ``mask`` with ``new`` (e.g. a SAM candidate); returns the changed area."""
    if new.shape != mask.shape:
        raise ValueError(f"replacement mask {new.shape} does not fit {mask.shape}")
    box = changed_rect(mask, new)
    if not box.is_empty:
        mask[box.slices] = new[box.slices]
    return box


def combine(mask: BoolArray, new: BoolArray, value: bool) -> Rect:
    """Add (``value=True``) or subtract ``new`` from ``mask``; returns the changed area."""
    if new.shape != mask.shape:
        raise ValueError(f"mask {new.shape} does not fit {mask.shape}")
    box = bounding_rect(new)
    if box.is_empty:
        return EMPTY
    before = mask[box.slices].copy()
    if value:
        mask[box.slices] |= new[box.slices]
    else:
        mask[box.slices] &= ~new[box.slices]
    return _offset(changed_rect(before, mask[box.slices]), box)
