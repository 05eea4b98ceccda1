"""The ``Mask`` value type: a binary image mask held as compressed COCO RLE.

RLE is the source of truth everywhere (database, COCO, JSONL); arrays and polygons are views of
it. Equal masks have equal RLE because pycocotools' encoding is canonical.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.rle import validate_rle

BoolArray = NDArray[np.bool_]
Polygon = NDArray[np.float64]  # (N, 2) x, y points


@dataclass(frozen=True)
class Mask:
    height: int
    width: int
    counts: bytes  # compressed COCO RLE counts (ASCII)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_array(cls, array: NDArray[Any]) -> Mask:
        if array.ndim != 2:
            raise MaskError(f"a mask must be 2-D, got shape {array.shape}")
        h, w = array.shape
        if h == 0 or w == 0:
            raise MaskError(f"a mask must not be empty-sized, got {h}x{w}")
        rle = mask_utils.encode(np.asfortranarray(array.astype(bool, copy=False).astype(np.uint8)))
        return cls(int(h), int(w), bytes(rle["counts"]))

    @classmethod
    def empty(cls, height: int, width: int) -> Mask:
        return cls.from_array(np.zeros((height, width), dtype=bool))

    @classmethod
    def from_rle(
        cls, rle: Mapping[str, Any], *, expect_size: tuple[int, int] | None = None
    ) -> Mask:
        """Build from an RLE dict of unknown origin; validated before pycocotools touches it."""
        clean = validate_rle(rle, expect_size=expect_size)
        h, w = clean["size"]
        return cls(h, w, clean["counts"].encode("ascii"))

    @classmethod
    def from_polygons(
        cls, polygons: Iterable[Sequence[Sequence[float]]], height: int, width: int
    ) -> Mask:
        """Rasterise polygons exactly as the PRIST loader does: points truncated to int32, each
        polygon filled with ``cv2.fillPoly``, union of all."""
        canvas = np.zeros((height, width), dtype=np.uint8)
        for poly in polygons:
            pts = np.asarray(poly, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
                raise MaskError(f"a polygon must be a list of [x, y] points, got shape {pts.shape}")
            if not np.isfinite(pts).all():
                raise MaskError("a polygon has a non-finite coordinate")
            cv2.fillPoly(canvas, [pts.astype(np.int32)], 1)
        return cls.from_array(canvas.astype(bool))

    # -- views --------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def rle(self) -> dict[str, Any]:
        """RLE as pycocotools takes it (bytes counts)."""
        return {"size": [self.height, self.width], "counts": self.counts}

    def to_rle(self) -> dict[str, Any]:
        """RLE as JSON takes it (str counts)."""
        return {"size": [self.height, self.width], "counts": self.counts.decode("ascii")}

    def to_array(self) -> BoolArray:
        return mask_utils.decode(self.rle()).astype(bool)

    @cached_property
    def area(self) -> int:
        return int(mask_utils.area(self.rle()))

    @property
    def is_empty(self) -> bool:
        return self.area == 0

    @cached_property
    def bbox(self) -> tuple[float, float, float, float]:
        """COCO bbox ``(x, y, w, h)``; all zeros for an empty mask."""
        x, y, w, h = mask_utils.toBbox(self.rle()).tolist()
        return (float(x), float(y), float(w), float(h))

    def polygons(self, *, keep_holes: bool = True, min_area: float = 0.0) -> list[Polygon]:
        """Outline polygons (pixel-corner coordinates are not used: points are pixel centres).

        With ``keep_holes`` each outer contour is joined to its holes by zero-width cuts, so a
        fill of the single resulting polygon leaves the holes empty. Parts smaller than
        ``min_area`` pixels are dropped; callers that must not lose parts leave it at 0.
        """
        arr = self.to_array().astype(np.uint8)
        mode = cv2.RETR_CCOMP if keep_holes else cv2.RETR_EXTERNAL
        contours, hierarchy = cv2.findContours(arr, mode, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return []
        hier = hierarchy[0]
        out: list[Polygon] = []
        for i, contour in enumerate(contours):
            if hier[i][3] != -1:
                continue  # a hole: attached to its parent below
            if cv2.contourArea(contour) < min_area and len(contour) > 2:
                continue
            outer = contour.reshape(-1, 2).astype(np.float64)
            if keep_holes:
                child = hier[i][2]
                while child != -1:
                    outer = _join_hole(outer, contours[child].reshape(-1, 2).astype(np.float64))
                    child = hier[child][0]
            out.append(outer)
        return out

    def __repr__(self) -> str:
        return f"Mask({self.height}x{self.width}, area={self.area})"


def _join_hole(outer: Polygon, hole: Polygon) -> Polygon:
    """Splice ``hole`` into ``outer`` through the closest pair of vertices (a keyhole cut)."""
    d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    hole_loop = np.concatenate([hole[j:], hole[: j + 1]])
    return np.concatenate([outer[: i + 1], hole_loop, outer[i:]])


def union(masks: Iterable[Mask], height: int, width: int) -> Mask:
    """Union of masks of one image (an empty mask when there are none)."""
    acc = np.zeros((height, width), dtype=bool)
    for m in masks:
        if m.size != (height, width):
            raise MaskError(f"mask {m.height}x{m.width} does not fit image {height}x{width}")
        acc |= m.to_array()
    return Mask.from_array(acc)
