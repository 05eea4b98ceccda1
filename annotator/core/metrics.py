"""Mask quality metrics: one predicted mask against one reference mask, and over a set.

Per pair: IoU, precision, recall, F1 (Dice), Boundary IoU (Cheng et al. 2021) and, for comparison
with the PRIST paper only, the edge IoU of the MIRAS evaluation code. Over a set: gIoU (mean of
per-sample IoU), cIoU (cumulative: sum of intersections / sum of unions), mean precision and
recall, F1 both as the mean of per-sample F1 and as the paper computes it (2PR/(P+R) of the mean
P and R), and precision@{0.5, ..., 0.9} (share of samples whose IoU is at least the threshold).

Conventions, chosen so that every value is defined and lies in [0, 1]:

* a ratio whose denominator is zero is 1.0 when both masks are empty (agreement on "nothing")
  and 0.0 otherwise (e.g. precision of an empty prediction of a non-empty reference);
* masks are 2-D arrays of the same shape; non-bool arrays are read as ``array != 0``
  (except by :func:`edge_iou`, which reproduces the MIRAS code dtype for dtype).

Boundary IoU takes the band of width ``d = max(1, round(ratio * image diagonal))`` inside each
mask's contour: the mask minus its erosion by a 3x3 square iterated ``d`` times, with everything
outside the image counted as background (so a mask cut by the image border has a band along that
border). The band is therefore the set of mask pixels whose chessboard distance to the nearest
background pixel is at most ``d``; at convex corners it is square, not round as a Euclidean
distance band would be.

Speed: all counting happens on the union bounding box of the two masks, which is exact because
both masks are background outside it (see :func:`pair_metrics`).

Exception to the core's dependency rule: :func:`edge_iou` imports scikit-image lazily inside the
function, because it must reproduce ``skimage.feature.canny`` exactly; nothing else here needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import AnnotatorError, MaskError

BoolArray = NDArray[np.bool_]

DEFAULT_DILATION_RATIO = 0.02
PRECISION_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)

# The MIRAS evaluation code: skimage Canny with sigma 1, absolute thresholds 0.1 / 0.3, and
# intersection / (union + 1e-5), so two empty edge maps score 0 and a perfect match 0.99999...
EDGE_SIGMA = 1.0
EDGE_LOW = 0.1
EDGE_HIGH = 0.3
EDGE_EPS = 1e-5
# Canny output at a pixel depends on input pixels at most 4 (Gaussian, truncate 4 * sigma) + 1
# (Sobel) + 1 (non-maximum suppression) away, and edges only appear within that reach of the
# mask; 16 leaves a wide margin so a crop reproduces the full-frame edge map exactly.
_EDGE_MARGIN = 16

_KERNEL_3x3 = np.ones((3, 3), dtype=np.uint8)


# -- validation ------------------------------------------------------------------------------
def _as_bool(array: NDArray[Any]) -> BoolArray:
    a = np.asarray(array)
    return a if a.dtype == np.bool_ else a != 0


def _check_pair(pred: NDArray[Any], ref: NDArray[Any]) -> tuple[BoolArray, BoolArray]:
    p, r = np.asarray(pred), np.asarray(ref)
    if p.ndim != 2 or r.ndim != 2:
        raise MaskError(f"masks must be 2-D, got shapes {p.shape} and {r.shape}")
    if p.shape != r.shape:
        raise MaskError(f"prediction {p.shape} and reference {r.shape} differ in size")
    return _as_bool(p), _as_bool(r)


def _ratio(num: float, den: float, *, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else 0.0
    return float(num) / float(den)


# -- the per-pair counts ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PairMetrics:
    """Pixel counts of one prediction/reference pair; every per-pair metric derives from them.

    ``edge_iou`` is ``None`` unless it was asked for (it costs far more than the rest).
    """

    pred_area: int
    ref_area: int
    intersection: int
    boundary_intersection: int
    boundary_union: int
    edge_iou: float | None = None

    @property
    def union(self) -> int:
        return self.pred_area + self.ref_area - self.intersection

    @property
    def both_empty(self) -> bool:
        return self.pred_area == 0 and self.ref_area == 0

    @property
    def changed_pixels(self) -> int:
        """Pixels in exactly one of the two masks (the size of the edit from one to the other)."""
        return self.union - self.intersection

    @property
    def iou(self) -> float:
        return _ratio(self.intersection, self.union, both_empty=self.both_empty)

    @property
    def precision(self) -> float:
        return _ratio(self.intersection, self.pred_area, both_empty=self.both_empty)

    @property
    def recall(self) -> float:
        return _ratio(self.intersection, self.ref_area, both_empty=self.both_empty)

    @property
    def f1(self) -> float:
        return _ratio(
            2 * self.intersection, self.pred_area + self.ref_area, both_empty=self.both_empty
        )

    @property
    def boundary_iou(self) -> float:
        return _ratio(self.boundary_intersection, self.boundary_union, both_empty=self.both_empty)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pred_area": self.pred_area,
            "ref_area": self.ref_area,
            "intersection": self.intersection,
            "union": self.union,
            "iou": self.iou,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "boundary_iou": self.boundary_iou,
        }
        if self.edge_iou is not None:
            out["edge_iou_miras"] = self.edge_iou
        return out


def boundary_width(height: int, width: int, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """The Boundary IoU band width ``d`` in pixels for an image of this size."""
    return max(1, round(dilation_ratio * math.hypot(height, width)))


Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


def _bbox(mask: BoolArray) -> Box | None:
    """The tight box of a row-major mask, or None for an empty mask."""
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    if w == 0 or h == 0:
        return None
    return y, y + h, x, x + w


def union_box(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _eroded(mask8: NDArray[np.uint8], d: int) -> NDArray[np.uint8]:
    # Constant 0 beyond the array: outside a crop of the union bounding box both masks are
    # background, and outside the image counts as background, so the crop's erosion is exact.
    return cv2.erode(
        mask8, _KERNEL_3x3, iterations=d, borderType=cv2.BORDER_CONSTANT, borderValue=0
    )


def pair_metrics(
    pred: NDArray[Any],
    ref: NDArray[Any],
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    edge: bool = False,
) -> PairMetrics:
    """All per-pair counts at once, computed on the union bounding box of the two masks.

    With ``edge=True`` the MIRAS edge IoU of the two bool masks is added (slow: two Canny runs).
    """
    pb, rb = _check_pair(pred, ref)
    d = boundary_width(pb.shape[0], pb.shape[1], dilation_ratio)
    p, r, transposed = pb, rb, False
    if p.T.flags.c_contiguous and r.T.flags.c_contiguous and not p.flags.c_contiguous:
        # pycocotools decodes in column-major order; every count is invariant under
        # transposition (square kernel, same diagonal), and OpenCV wants row-major views.
        p, r, transposed = p.T, r.T, True
    else:
        p, r = np.ascontiguousarray(p), np.ascontiguousarray(r)
    box = union_box(_bbox(p), _bbox(r))
    edge_value = None
    if edge:
        if box is None:
            edge_value = 0.0  # no edges at all: 0 / (0 + eps)
        else:
            y0, y1, x0, x1 = box
            edge_value = _edge_iou_in_box(pb, rb, (x0, x1, y0, y1) if transposed else box)
    return counts_in_box(p, r, box, d, edge_value)


def counts_in_box(
    p: BoolArray, r: BoolArray, box: Box | None, d: int, edge_value: float | None = None
) -> PairMetrics:
    """The counts of two row-major masks that are background outside ``box`` (None: both are
    empty), with Boundary IoU band width ``d``. For callers that know the box already."""
    if box is None:
        return PairMetrics(0, 0, 0, 0, 0, edge_value)
    y0, y1, x0, x1 = box
    pc = p[y0:y1, x0:x1].view(np.uint8)
    rc = r[y0:y1, x0:x1].view(np.uint8)
    pred_area = cv2.countNonZero(pc)
    ref_area = cv2.countNonZero(rc)
    both = cv2.bitwise_and(pc, rc)
    intersection = cv2.countNonZero(both)
    pe = _eroded(pc, d)
    re = _eroded(rc, d)
    # band(P) = P - erode(P) since erode(P) lies inside P; the bands meet where both masks hold
    # a pixel that survives neither erosion.
    band_p = pred_area - cv2.countNonZero(pe)
    band_r = ref_area - cv2.countNonZero(re)
    band_both = cv2.countNonZero(cv2.bitwise_and(both, cv2.bitwise_not(cv2.bitwise_or(pe, re))))
    return PairMetrics(
        pred_area=pred_area,
        ref_area=ref_area,
        intersection=intersection,
        boundary_intersection=band_both,
        boundary_union=band_p + band_r - band_both,
        edge_iou=edge_value,
    )


# -- per-pair public functions ---------------------------------------------------------------
def iou(pred: NDArray[Any], ref: NDArray[Any]) -> float:
    """|P ∩ R| / |P ∪ R|; 1.0 when both are empty."""
    p, r = _check_pair(pred, ref)
    inter = int(np.count_nonzero(p & r))
    union = int(np.count_nonzero(p | r))
    return _ratio(inter, union, both_empty=union == 0)


def precision(pred: NDArray[Any], ref: NDArray[Any]) -> float:
    """|P ∩ R| / |P|; 1.0 when both are empty, 0.0 for an empty prediction of something."""
    p, r = _check_pair(pred, ref)
    area_p = int(np.count_nonzero(p))
    empty = area_p == 0 and not r.any()
    return _ratio(int(np.count_nonzero(p & r)), area_p, both_empty=empty)


def recall(pred: NDArray[Any], ref: NDArray[Any]) -> float:
    """|P ∩ R| / |R| (the MIRAS code's "pixel accuracy in ROI"); 1.0 when both are empty."""
    p, r = _check_pair(pred, ref)
    area_r = int(np.count_nonzero(r))
    empty = area_r == 0 and not p.any()
    return _ratio(int(np.count_nonzero(p & r)), area_r, both_empty=empty)


def f1(pred: NDArray[Any], ref: NDArray[Any]) -> float:
    """Per-sample F1 = 2|P ∩ R| / (|P| + |R|) (Dice); 1.0 when both are empty."""
    p, r = _check_pair(pred, ref)
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(r))
    return _ratio(2 * int(np.count_nonzero(p & r)), total, both_empty=total == 0)


def boundary_band(mask: NDArray[Any], dilation_ratio: float = DEFAULT_DILATION_RATIO) -> BoolArray:
    """The Boundary IoU band of one mask: the mask minus its erosion by ``d`` 3x3 steps."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise MaskError(f"a mask must be 2-D, got shape {m.shape}")
    mb = np.ascontiguousarray(_as_bool(m))
    d = boundary_width(m.shape[0], m.shape[1], dilation_ratio)
    return mb & (_eroded(mb.view(np.uint8), d) == 0)


def boundary_iou(
    pred: NDArray[Any], ref: NDArray[Any], dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> float:
    """Boundary IoU (Cheng et al. 2021) with band width ``dilation_ratio`` x image diagonal."""
    return pair_metrics(pred, ref, dilation_ratio=dilation_ratio).boundary_iou


def edge_iou(pred: NDArray[Any], ref: NDArray[Any]) -> float:
    """The MIRAS evaluation code's "BIoU", labelled as such: IoU of Canny edge maps.

    ``skimage.feature.canny(mask, sigma=1, low_threshold=0.1, high_threshold=0.3)`` on each
    array *as given* (dtype matters: that code passed a bool prediction and a uint8 reference,
    which on masks touching the image border scores a perfect prediction about 0.8), then
    ``|E_p ∩ E_r| / (|E_p ∪ E_r| + 1e-5)`` with no distance tolerance. Two empty masks score 0.
    Kept for comparison with the paper's numbers; use :func:`boundary_iou` to judge masks.
    """
    p, r = np.asarray(pred), np.asarray(ref)
    if p.ndim != 2 or r.ndim != 2 or p.shape != r.shape:
        raise MaskError(f"masks must be 2-D and of one size, got {p.shape} and {r.shape}")
    return _edge_ratio(_canny(p), _canny(r))


class MetricUnavailableError(AnnotatorError):
    """A metric whose package this installation leaves out (the desktop bundle has no
    scikit-image)."""


def _canny(image: NDArray[Any]) -> BoolArray:
    try:
        from skimage.feature import canny  # the one scikit-image use in core (see module doc)
    except ImportError:
        raise MetricUnavailableError(
            "the edge IoU of the MIRAS code needs scikit-image, which this installation (the "
            "desktop bundle) leaves out; leave out --edge, or run it from the pip install"
        ) from None

    return canny(image, sigma=EDGE_SIGMA, low_threshold=EDGE_LOW, high_threshold=EDGE_HIGH)


def _edge_ratio(ep: BoolArray, er: BoolArray) -> float:
    inter = int(np.count_nonzero(ep & er))
    union = int(np.count_nonzero(ep | er))
    return inter / (union + EDGE_EPS)


def _edge_iou_in_box(p: BoolArray, r: BoolArray, box: Box) -> float:
    """:func:`edge_iou` of two bool masks, computed on their union box plus a margin.

    The same value as on the full frame: outside the margin the smoothed image is exactly 0, and
    where the crop meets the image border it is the image border.
    """
    h, w = p.shape
    y0, y1, x0, x1 = box
    y0, x0 = max(0, y0 - _EDGE_MARGIN), max(0, x0 - _EDGE_MARGIN)
    y1, x1 = min(h, y1 + _EDGE_MARGIN), min(w, x1 + _EDGE_MARGIN)
    pc = np.ascontiguousarray(p[y0:y1, x0:x1])
    rc = np.ascontiguousarray(r[y0:y1, x0:x1])
    return _edge_ratio(_canny(pc), _canny(rc))


# -- set-level ---------------------------------------------------------------------------------
def _pairs(
    preds: Sequence[NDArray[Any]],
    refs: Sequence[NDArray[Any]],
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    edge: bool = False,
) -> list[PairMetrics]:
    if len(preds) != len(refs):
        raise MaskError(f"{len(preds)} predictions but {len(refs)} references")
    return [
        pair_metrics(p, r, dilation_ratio=dilation_ratio, edge=edge)
        for p, r in zip(preds, refs, strict=True)
    ]


def giou(preds: Sequence[NDArray[Any]], refs: Sequence[NDArray[Any]]) -> float:
    """Mean of per-sample IoU (an empty union counts as 1); NaN for an empty set."""
    value = aggregate(_pairs(preds, refs))["giou"]
    return math.nan if value is None else float(value)


def ciou(preds: Sequence[NDArray[Any]], refs: Sequence[NDArray[Any]]) -> float:
    """Cumulative IoU: Σ intersections / Σ unions (1.0 if every mask is empty, NaN for no pairs)."""
    value = aggregate(_pairs(preds, refs))["ciou"]
    return math.nan if value is None else float(value)


def summary(
    preds: Sequence[NDArray[Any]],
    refs: Sequence[NDArray[Any]],
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    edge: bool = False,
) -> dict[str, Any]:
    """Every set-level metric as one dict (see :func:`aggregate` for the keys)."""
    return aggregate(_pairs(preds, refs, dilation_ratio, edge))


def aggregate(pairs: Sequence[PairMetrics]) -> dict[str, Any]:
    """Set-level metrics from per-pair counts.

    Keys: ``n``, ``giou``, ``ciou``, ``precision``, ``recall`` (means of per-sample values),
    ``f1`` (mean of per-sample F1), ``f1_paper`` (2PR/(P+R) of the mean P and R, as the PRIST
    paper reports it), ``precision_at`` (``{"0.5": share of samples with IoU >= 0.5, ...}``),
    ``boundary_iou`` (mean), and ``edge_iou_miras`` (mean, only when every pair has it).
    An empty set gives ``n = 0`` and ``None`` for every value (there is nothing to average).
    """
    n = len(pairs)
    if n == 0:
        return {
            "n": 0,
            **dict.fromkeys(("giou", "ciou", "precision", "recall", "f1", "f1_paper")),
            "precision_at": {f"{t:.1f}": None for t in PRECISION_THRESHOLDS},
            "boundary_iou": None,
        }
    ious = np.fromiter((p.iou for p in pairs), dtype=np.float64, count=n)
    inter = sum(p.intersection for p in pairs)
    union = sum(p.union for p in pairs)
    mean_p = float(np.mean([p.precision for p in pairs]))
    mean_r = float(np.mean([p.recall for p in pairs]))
    out = {
        "n": n,
        "giou": float(ious.mean()),
        "ciou": _ratio(inter, union, both_empty=union == 0),
        "precision": mean_p,
        "recall": mean_r,
        "f1": float(np.mean([p.f1 for p in pairs])),
        "f1_paper": _ratio(2 * mean_p * mean_r, mean_p + mean_r, both_empty=False),
        "precision_at": {f"{t:.1f}": float(np.mean(ious >= t)) for t in PRECISION_THRESHOLDS},
        "boundary_iou": float(np.mean([p.boundary_iou for p in pairs])),
    }
    edges = [p.edge_iou for p in pairs]
    if all(e is not None for e in edges):
        out["edge_iou_miras"] = float(np.mean([e for e in edges if e is not None]))
    return out
