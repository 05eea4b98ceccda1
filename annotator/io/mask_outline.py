"""Exact outlines of a binary mask along pixel edges, for formats that store polygons.

``Mask.polygons`` traces pixel centres (right for the PRIST/OpenCV fill rule, which fills every
pixel the outline touches). COCO's polygon rasteriser (pycocotools) fills by pixel corners
instead: a square from (0, 0) to (10, 10) covers 10x10 pixels. Outlines that run along pixel
edges therefore re-rasterise to the same pixels there, single pixels and one-pixel lines
included. Holes are joined to their outer outline by a zero-width cut (COCO merges the
polygons of one annotation by union, so a hole written as its own polygon would be filled).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Outline = NDArray[np.float64]  # (N, 2) x, y corner coordinates

# Directions as (dx, dy) in image coordinates (y down); turning right on screen maps
# R -> D -> L -> U -> R.
_R, _D, _L, _U = (1, 0), (0, 1), (-1, 0), (0, -1)
_RIGHT_TURN = {_R: _D, _D: _L, _L: _U, _U: _R}


def _edges(mask: NDArray[np.bool_]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Directed boundary edges, clockwise on screen around set pixels (set pixels on the
    right of travel), as start vertex -> directions."""
    a = np.pad(mask.astype(bool), 1)
    core = a[1:-1, 1:-1]
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    sides = (
        (core & ~a[:-2, 1:-1], 0, 0, _R),  # top edge: (x, y) -> (x+1, y)
        (core & ~a[1:-1, 2:], 1, 0, _D),  # right edge: (x+1, y) -> (x+1, y+1)
        (core & ~a[2:, 1:-1], 1, 1, _L),  # bottom edge: (x+1, y+1) -> (x, y+1)
        (core & ~a[1:-1, :-2], 0, 1, _U),  # left edge: (x, y+1) -> (x, y)
    )
    for hit, ox, oy, d in sides:
        ys, xs = np.nonzero(hit)
        for x, y in zip((xs + ox).tolist(), (ys + oy).tolist(), strict=True):
            out.setdefault((x, y), []).append(d)
    return out


def _loops(edges: dict[tuple[int, int], list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """Chain edges into closed loops of corner vertices (turning right where two loops touch
    at a corner, which keeps diagonal neighbours in separate loops)."""
    loops: list[list[tuple[int, int]]] = []
    while edges:
        start = next(iter(edges))
        v = start
        d = edges[v][0]
        pts: list[tuple[int, int]] = []
        prev_d = d
        while True:
            outs = edges[v]
            if len(outs) == 1:
                d = outs[0]
            elif pts:
                d = _RIGHT_TURN[d] if _RIGHT_TURN[d] in outs else outs[0]
            else:
                d = outs[0]
            outs.remove(d)
            if not outs:
                del edges[v]
            if not pts or d != prev_d:
                pts.append(v)  # a corner: the direction changes here
            prev_d = d
            v = (v[0] + d[0], v[1] + d[1])
            if v == start:
                break
        if len(pts) > 1 and _direction(pts[-1], pts[0]) == _direction(pts[0], pts[1]):
            pts.pop(0)  # the start vertex lay in the middle of a straight run
        loops.append(pts)
    return loops


def _direction(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return (int(np.sign(b[0] - a[0])), int(np.sign(b[1] - a[1])))


def _signed_area(p: Outline) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2.0


def _inside(poly: Outline, x: float, y: float) -> bool:
    """Even-odd ray cast; (x, y) is a pixel centre, so it never lies on an outline."""
    xs, ys = poly[:, 0], poly[:, 1]
    xn, yn = np.roll(xs, -1), np.roll(ys, -1)
    crosses = (ys > y) != (yn > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = xs + (y - ys) * (xn - xs) / (yn - ys)
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


def _hole_probe(hole: Outline) -> tuple[float, float]:
    """Centre of an unset pixel inside a hole: left of the hole outline's first edge."""
    (x0, y0), (x1, y1) = hole[0], hole[1]
    dx, dy = np.sign(x1 - x0), np.sign(y1 - y0)
    # left of travel on screen is (dy, -dx)
    return (x0 + dx * 0.5 + dy * 0.5, y0 + dy * 0.5 - dx * 0.5)


def _join(outer: Outline, hole: Outline) -> Outline:
    """Splice ``hole`` into ``outer`` through their closest pair of vertices."""
    d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    loop = np.concatenate([hole[j:], hole[: j + 1]])
    return np.concatenate([outer[: i + 1], loop, outer[i:]])


def outline_polygons(mask: NDArray[np.bool_]) -> list[Outline]:
    """Pixel-edge outlines of ``mask``: one polygon per outer boundary, holes cut in."""
    loops = [np.asarray(p, dtype=np.float64) for p in _loops(_edges(mask))]
    outers = [p for p in loops if _signed_area(p) > 0]
    holes = [p for p in loops if _signed_area(p) < 0]
    areas = [_signed_area(p) for p in outers]
    boxes = [(p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()) for p in outers]
    owned: list[list[Outline]] = [[] for _ in outers]
    for hole in holes:
        x, y = _hole_probe(hole)
        best = None
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            smaller = best is None or areas[k] < areas[best]
            if x0 < x < x1 and y0 < y < y1 and smaller and _inside(outers[k], x, y):
                best = k
        if best is not None:
            owned[best].append(hole)
    result = []
    for outer, its_holes in zip(outers, owned, strict=True):
        poly = outer
        for hole in sorted(its_holes, key=lambda h: (h[:, 0].min(), h[:, 1].min())):
            poly = _join(poly, hole)
        result.append(poly)
    return result
