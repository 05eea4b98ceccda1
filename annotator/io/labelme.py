"""LabelMe annotation files: reading, turning shapes into filled polygons, matching a focus.

A LabelMe file holds ``shapes`` with a ``label``, ``points`` and a ``shape_type``. Rectangles
(two corners) and circles (centre and a point on the rim) become filled polygons here, so they
are never rasterised as two-point slivers. Masks are always rasterised with the PRIST loader's
rule (:meth:`Mask.from_polygons`: int32 truncation, ``cv2.fillPoly``, union).

Matching a record's focus to shapes:

* ``exact`` (default): label equals focus after stripping, ignoring case. Shapes with no area
  are left out. Reported as ambiguous when the loader's substring rule would take more shapes.
* ``substring``: the PRIST loader's rule — every shape whose lower-cased label contains the
  lower-cased focus, all filled and merged, degenerate ones included. Reported as ambiguous when
  the focus matches several distinct labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from annotator.core.mask import Mask
from annotator.core.model import Flag, FlagCode
from annotator.core.rle import MAX_SIDE
from annotator.io import safe_json
from annotator.io.images import DEFAULT_MAX_PIXELS

MatchRule = Literal["exact", "substring"]
MATCH_RULES: tuple[MatchRule, ...] = ("exact", "substring")

LABELME_LIMITS = safe_json.JsonLimits(max_bytes=128 * 1024 * 1024, max_string=96 * 1024 * 1024)
# Coordinates far beyond any image are junk, and would overflow the int32 truncation.
MAX_COORD = 1_000_000.0
AREA_SHAPES = frozenset({"polygon", "rectangle", "circle"})


@dataclass(frozen=True)
class LabelmeShape:
    index: int
    label: str
    shape_type: str
    points: tuple[tuple[float, float], ...]
    line: int | None = None


@dataclass(frozen=True)
class LabelmeFile:
    path: str
    height: int
    width: int
    shapes: tuple[LabelmeShape, ...]


@dataclass(frozen=True)
class MatchResult:
    mask: Mask | None  # None when nothing usable matched (then ``flags`` says why)
    labels: tuple[str, ...]  # distinct labels of the shapes used, in file order
    shape_indices: tuple[int, ...]
    flags: tuple[Flag, ...]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _size_field(doc: safe_json.JsonDocument, data: dict[str, Any], key: str) -> int:
    v = data.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise doc.error(f"{key} must be a whole number, got {v!r}", key)
    if not 0 < v <= MAX_SIDE:
        raise doc.error(f"{key} {v} is outside 1..{MAX_SIDE}", key)
    return v


def parse_labelme(doc: safe_json.JsonDocument) -> LabelmeFile:
    """Check the structure of a parsed LabelMe document; :class:`InputError` names file:line."""
    data = doc.value
    if not isinstance(data, dict):
        raise doc.error("a LabelMe file must hold a JSON object")
    height = _size_field(doc, data, "imageHeight")
    width = _size_field(doc, data, "imageWidth")
    if height * width > DEFAULT_MAX_PIXELS:  # the image loader's cap: masks are drawn this big
        raise doc.error(f"image size {height}x{width} is larger than allowed", "imageHeight")
    raw_shapes = data.get("shapes")
    if not isinstance(raw_shapes, list):
        raise doc.error("'shapes' must be a list", "shapes")
    shapes: list[LabelmeShape] = []
    for i, s in enumerate(raw_shapes):
        where = ("shapes", i)
        if not isinstance(s, dict):
            raise doc.error(f"shape {i} must be an object", *where, record=f"shape {i}")
        label = s.get("label")
        if not isinstance(label, str):
            raise doc.error(f"shape {i}: label must be text", *where, "label", record=f"shape {i}")
        shape_type = s.get("shape_type")
        if shape_type is None:
            shape_type = "polygon"  # LabelMe's default
        if not isinstance(shape_type, str):
            raise doc.error(
                f"shape {i}: shape_type must be text", *where, "shape_type", record=f"shape {i}"
            )
        pts = s.get("points")
        if not isinstance(pts, list):
            raise doc.error(
                f"shape {i}: points must be a list", *where, "points", record=f"shape {i}"
            )
        points: list[tuple[float, float]] = []
        for j, p in enumerate(pts):
            if not (isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)):
                raise doc.error(
                    f"shape {i}: point {j} must be [x, y] numbers, got {p!r:.60}",
                    *where,
                    "points",
                    j,
                    record=f"shape {i}",
                )
            x, y = float(p[0]), float(p[1])
            if not (abs(x) <= MAX_COORD and abs(y) <= MAX_COORD):
                raise doc.error(
                    f"shape {i}: point {j} ({x}, {y}) is far outside any image",
                    *where,
                    "points",
                    j,
                    record=f"shape {i}",
                )
            points.append((x, y))
        shapes.append(
            LabelmeShape(i, label, shape_type.strip().lower(), tuple(points), doc.line_of(*where))
        )
    return LabelmeFile(doc.file, height, width, tuple(shapes))


def read_labelme(path: str | Path, *, name: str | None = None) -> LabelmeFile:
    return parse_labelme(safe_json.load(path, limits=LABELME_LIMITS, name=name))


# -- shapes to polygons -------------------------------------------------------------------------
def _circle_polygon(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    # About one vertex per pixel of rim keeps the chord error far below a pixel. The loader's
    # rule truncates (+0.5 turns that into rounding, so the disc is not shifted up-left) and
    # fills every pixel the outline touches (a radius 0.5 smaller compensates): the result is
    # close to the pixels whose centres lie within ``r``.
    n = int(min(1440, max(16, math.ceil(2 * math.pi * r))))
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    rr = max(r - 0.5, 0.0)
    xs = (cx + 0.5 + rr * np.cos(t)).tolist()
    ys = (cy + 0.5 + rr * np.sin(t)).tolist()
    return list(zip(xs, ys, strict=True))


def shape_polygon(shape: LabelmeShape) -> tuple[list[tuple[float, float]], str | None]:
    """The filled outline of a shape and, when it has no area, why (else ``None``).

    The outline of a degenerate shape is its raw points: that is what the PRIST loader fills.
    """
    pts = list(shape.points)
    kind = shape.shape_type
    if kind == "rectangle" and len(pts) == 2:
        (x1, y1), (x2, y2) = pts
        if x1 == x2 or y1 == y2:
            return pts, "rectangle with zero width or height"
        return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)], None
    if kind == "circle" and len(pts) == 2:
        (cx, cy), (px, py) = pts
        r = math.hypot(px - cx, py - cy)
        if r == 0:
            return pts, "circle with zero radius"
        return _circle_polygon(cx, cy, r), None
    if kind not in AREA_SHAPES:
        return pts, f"a {kind!r} shape has no area"
    if len(set(pts)) < 3:
        return pts, f"{len(set(pts))} distinct point(s); a polygon needs 3"
    if _polygon_area(pts) == 0.0:
        return pts, "all points on one line (zero area)"
    return pts, None


def _polygon_area(pts: list[tuple[float, float]]) -> float:
    a = np.asarray(pts, dtype=np.float64)
    x, y = a[:, 0], a[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


# -- matching -----------------------------------------------------------------------------------
def _exact_key(s: str) -> str:
    return s.strip().casefold()


def _substring_hit(label: str, focus: str) -> bool:
    return focus.lower() in label.lower()  # the loader's rule, verbatim


def match_focus(
    lm: LabelmeFile, focus: str, *, match: MatchRule = "exact", height: int, width: int
) -> MatchResult:
    """Build the mask of ``focus`` from ``lm`` on a ``height`` x ``width`` canvas."""
    if match not in MATCH_RULES:
        raise ValueError(f"unknown match rule {match!r}")
    name = Path(lm.path).name
    by_substring = [s for s in lm.shapes if _substring_hit(s.label, focus)]
    flags: list[Flag] = []
    if match == "exact":
        chosen = [s for s in lm.shapes if _exact_key(s.label) == _exact_key(focus)]
        extra = sorted({s.label for s in by_substring if s not in chosen})
        if not chosen:
            hint = f"; substring matching would take {extra}" if extra else ""
            return MatchResult(
                None,
                (),
                (),
                (Flag(FlagCode.NO_MATCH, f"{name}: no shape labelled {focus!r}{hint}"),),
            )
        if extra:
            flags.append(
                Flag(
                    FlagCode.AMBIGUOUS_MATCH, f"{name}: substring matching would also take {extra}"
                )
            )
    else:
        chosen = by_substring
        if not chosen:
            return MatchResult(
                None,
                (),
                (),
                (Flag(FlagCode.NO_MATCH, f"{name}: no shape label contains {focus!r}"),),
            )
        distinct = sorted({s.label for s in chosen}, key=_exact_key)
        if len({_exact_key(label) for label in distinct}) > 1:
            flags.append(
                Flag(
                    FlagCode.AMBIGUOUS_MATCH, f"{name}: {focus!r} matches several labels {distinct}"
                )
            )
    polygons: list[list[tuple[float, float]]] = []
    used: list[LabelmeShape] = []
    for shape in chosen:
        outline, problem = shape_polygon(shape)
        if problem is not None:
            at = f" (line {shape.line})" if shape.line is not None else ""
            flags.append(
                Flag(
                    FlagCode.DEGENERATE_POLYGON,
                    f"{name}: shape {shape.index}{at} {shape.label!r}: {problem}",
                )
            )
            if match == "exact" or not outline:
                continue
        polygons.append(outline)
        used.append(shape)
    labels = tuple(dict.fromkeys(s.label for s in used))
    indices = tuple(s.index for s in used)
    mask = Mask.from_polygons(polygons, height, width) if polygons else None
    if mask is None or mask.is_empty:
        why = "no shape with an area" if mask is None else "the shapes cover no pixel of the image"
        flags.append(Flag(FlagCode.EMPTY_MASK, f"{name}: mask of {focus!r} is empty ({why})"))
        return MatchResult(None, labels, indices, tuple(flags))
    return MatchResult(mask, labels, indices, tuple(flags))


def check_size(lm: LabelmeFile, height: int, width: int) -> Flag | None:
    """A SIZE_MISMATCH flag when the LabelMe file was drawn on a differently sized image."""
    if (lm.height, lm.width) == (height, width):
        return None
    return Flag(
        FlagCode.SIZE_MISMATCH,
        f"{Path(lm.path).name} says {lm.width}x{lm.height} but the image is "
        f"{width}x{height}; polygons were drawn on the image as they are",
    )
