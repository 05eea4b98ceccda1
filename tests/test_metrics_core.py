"""annotator.core.metrics against independent implementations.

The reference functions below are written differently on purpose: set arithmetic on flat pixel
indices for the region metrics, and scipy's chessboard distance transform (not OpenCV erosion) for
the Boundary IoU band.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage.feature import canny

from annotator.core import metrics as M
from annotator.core.errors import MaskError


# -- independent reference implementations ----------------------------------------------------
def _pixels(mask: np.ndarray) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


def ref_counts(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int, int]:
    p, r = _pixels(pred), _pixels(ref)
    return len(p), len(r), len(p & r), len(p | r)


def ref_ratio(num: float, den: float, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else 0.0
    return num / den


def ref_iou(pred: np.ndarray, ref: np.ndarray) -> float:
    a, b, i, u = ref_counts(pred, ref)
    return ref_ratio(i, u, a == 0 and b == 0)


def ref_band(mask: np.ndarray, ratio: float = 0.02) -> np.ndarray:
    """Mask pixels within chessboard distance d of the background (outside counts as background)."""
    h, w = mask.shape
    d = max(1, round(ratio * math.sqrt(h * h + w * w)))
    padded = np.pad(mask.astype(bool), 1, constant_values=False)
    dist = ndi.distance_transform_cdt(padded, metric="chessboard")[1:-1, 1:-1]
    return mask.astype(bool) & (dist <= d)


def ref_boundary_iou(pred: np.ndarray, ref: np.ndarray, ratio: float = 0.02) -> float:
    bp, br = _pixels(ref_band(pred, ratio)), _pixels(ref_band(ref, ratio))
    both_empty = not pred.any() and not ref.any()
    return ref_ratio(len(bp & br), len(bp | br), both_empty)


def ref_edge_iou(pred: np.ndarray, ref: np.ndarray) -> float:
    ep = canny(pred, sigma=1, low_threshold=0.1, high_threshold=0.3)
    er = canny(ref, sigma=1, low_threshold=0.1, high_threshold=0.3)
    return float(np.logical_and(ep, er).sum() / (np.logical_or(ep, er).sum() + 1e-5))


def random_shape(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """0 to 3 random polygons, some reaching past the image border."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        pts = np.stack([rng.integers(-w // 4, w + w // 4, 6), rng.integers(-h // 4, h + h // 4, 6)])
        cv2.fillPoly(m, [pts.T.astype(np.int32)], 1)
    return m.astype(bool)


# -- per pair ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_random_masks_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 160, 2))
    pred, ref = random_shape(rng, h, w), random_shape(rng, h, w)
    a, b, i, u = ref_counts(pred, ref)
    both_empty = a == 0 and b == 0
    assert M.iou(pred, ref) == pytest.approx(ref_ratio(i, u, both_empty))
    assert M.precision(pred, ref) == pytest.approx(ref_ratio(i, a, both_empty))
    assert M.recall(pred, ref) == pytest.approx(ref_ratio(i, b, both_empty))
    assert M.f1(pred, ref) == pytest.approx(ref_ratio(2 * i, a + b, both_empty))
    assert M.boundary_iou(pred, ref) == pytest.approx(ref_boundary_iou(pred, ref))
    pm = M.pair_metrics(pred, ref)
    assert (pm.pred_area, pm.ref_area, pm.intersection, pm.union) == (a, b, i, u)
    assert pm.iou == pytest.approx(M.iou(pred, ref))
    assert pm.changed_pixels == u - i


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(st.integers(1, 24), st.integers(1, 24)).flatmap(
        lambda shape: st.tuples(arrays(np.bool_, shape), arrays(np.bool_, shape))
    ),
    st.sampled_from([0.0, 0.02, 0.1, 0.5]),
)
def test_arbitrary_pixel_patterns_match_reference(
    pair: tuple[np.ndarray, np.ndarray], ratio: float
) -> None:
    pred, ref = pair
    assert M.iou(pred, ref) == pytest.approx(ref_iou(pred, ref))
    assert M.boundary_iou(pred, ref, ratio) == pytest.approx(ref_boundary_iou(pred, ref, ratio))
    np.testing.assert_array_equal(M.boundary_band(pred, ratio), ref_band(pred, ratio))


def _one_pixel(h: int, w: int, y: int, x: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y, x] = True
    return m


EMPTY = np.zeros((30, 40), bool)
FULL = np.ones((30, 40), bool)
PIXEL = _one_pixel(30, 40, 12, 17)
OTHER_PIXEL = _one_pixel(30, 40, 2, 3)
LEFT = np.zeros((30, 40), bool)
LEFT[:, :20] = True
RIGHT = ~LEFT


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        # (iou, precision, recall, f1, boundary_iou)
        (EMPTY, EMPTY, (1.0, 1.0, 1.0, 1.0, 1.0)),
        (FULL, FULL, (1.0, 1.0, 1.0, 1.0, 1.0)),
        (PIXEL, PIXEL, (1.0, 1.0, 1.0, 1.0, 1.0)),
        (EMPTY, FULL, (0.0, 0.0, 0.0, 0.0, 0.0)),
        (FULL, EMPTY, (0.0, 0.0, 0.0, 0.0, 0.0)),
        (PIXEL, OTHER_PIXEL, (0.0, 0.0, 0.0, 0.0, 0.0)),
        (LEFT, RIGHT, (0.0, 0.0, 0.0, 0.0, 0.0)),
        (PIXEL, FULL, (1 / 1200, 1.0, 1 / 1200, 2 / 1201, None)),
        (FULL, PIXEL, (1 / 1200, 1 / 1200, 1.0, 2 / 1201, None)),
    ],
    ids=["empty", "full", "pixel", "miss", "hallucinate", "pixels", "disjoint", "tiny", "flood"],
)
def test_edge_cases(pred: np.ndarray, ref: np.ndarray, expected: tuple[float, ...]) -> None:
    got = (
        M.iou(pred, ref),
        M.precision(pred, ref),
        M.recall(pred, ref),
        M.f1(pred, ref),
        M.boundary_iou(pred, ref),
    )
    for value, want in zip(got, expected, strict=True):
        if want is not None:
            assert value == pytest.approx(want)
    assert got[4] == pytest.approx(ref_boundary_iou(pred, ref))
    pm = M.pair_metrics(pred, ref)
    assert (pm.iou, pm.precision, pm.recall, pm.f1) == pytest.approx(got[:4])


def test_full_frame_band_runs_along_the_image_border() -> None:
    # A full mask is cut by every image side, so its band is the frame of width d.
    band = M.boundary_band(FULL)
    d = M.boundary_width(30, 40)
    assert d == 1
    assert band.sum() == 30 * 40 - 28 * 38
    big = np.ones((300, 400), bool)
    d = M.boundary_width(300, 400)
    assert d == 10  # round(0.02 * 500)
    assert M.boundary_band(big).sum() == 300 * 400 - (300 - 2 * d) * (400 - 2 * d)


def test_boundary_iou_is_stricter_than_iou_on_contour_errors() -> None:
    ref = np.zeros((300, 400), bool)
    ref[50:250, 50:350] = True
    shifted = np.roll(ref, 3, axis=1)  # a 3 px misplacement of a large object
    assert M.iou(shifted, ref) > 0.95 > M.boundary_iou(shifted, ref)
    assert M.boundary_iou(shifted, ref) == pytest.approx(ref_boundary_iou(shifted, ref))


def test_euclidean_band_differs_only_where_chessboard_distance_is_shorter() -> None:
    """Why a Euclidean-distance band is not the Boundary IoU band: at concave corners and along
    slanted edges a pixel's chessboard distance to the background is shorter than its Euclidean
    distance, so the 3x3-erosion band (Cheng et al.'s definition) is wider there; on axis-aligned
    straight edges the two agree."""
    h, w = 200, 300
    d = M.boundary_width(h, w)
    rect = np.zeros((h, w), bool)
    rect[40:160, 60:240] = True

    def euclid_band(m: np.ndarray) -> np.ndarray:
        dist = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        return m & (dist <= d)

    np.testing.assert_array_equal(M.boundary_band(rect), euclid_band(rect))
    ell = rect.copy()
    ell[100:160, 150:240] = False  # an L: one concave corner
    ours, euclid = M.boundary_band(ell), euclid_band(ell)
    assert (euclid & ~ours).sum() == 0  # the Euclidean band lies inside ours
    extra = ours & ~euclid
    assert extra.sum() > 0
    ys, xs = np.nonzero(extra)
    # every extra pixel sits diagonally off the concave corner at (100, 150)
    assert (ys < 100).all() and (xs < 150).all()
    assert ((100 - ys) <= d + 1).all() and ((150 - xs) <= d + 1).all()


def test_column_major_and_strided_inputs_give_the_same_counts() -> None:
    rng = np.random.default_rng(7)
    pred, ref = random_shape(rng, 97, 131), random_shape(rng, 97, 131)
    base = M.pair_metrics(pred, ref, edge=True)
    assert M.pair_metrics(np.asfortranarray(pred), np.asfortranarray(ref), edge=True) == base
    wide_p = np.zeros((97, 262), bool)
    wide_r = np.zeros((97, 262), bool)
    wide_p[:, ::2], wide_r[:, ::2] = pred, ref
    assert M.pair_metrics(wide_p[:, ::2], wide_r[:, ::2], edge=True) == base
    assert M.pair_metrics(pred.astype(np.uint8) * 255, ref.astype(np.float32)) == M.pair_metrics(
        pred, ref
    )


def test_shape_mismatch_and_bad_rank_are_refused() -> None:
    with pytest.raises(MaskError, match="differ in size"):
        M.iou(np.zeros((3, 4), bool), np.zeros((4, 3), bool))
    with pytest.raises(MaskError, match="2-D"):
        M.pair_metrics(np.zeros((3, 4, 1), bool), np.zeros((3, 4, 1), bool))
    with pytest.raises(MaskError, match="2 predictions but 1 references"):
        M.giou([EMPTY, EMPTY], [EMPTY])


# -- the MIRAS edge IoU ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_edge_iou_matches_skimage_and_the_crop_matches_the_full_frame(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    h, w = (int(v) for v in rng.integers(40, 200, 2))
    pred, ref = random_shape(rng, h, w), random_shape(rng, h, w)
    want = ref_edge_iou(pred, ref)
    assert M.edge_iou(pred, ref) == pytest.approx(want, abs=1e-12)
    assert M.pair_metrics(pred, ref, edge=True).edge_iou == pytest.approx(want, abs=1e-12)


def test_edge_iou_quirks_of_the_miras_code() -> None:
    """A perfect prediction does not score 1 under the MIRAS "BIoU": the evaluation passed a
    bool prediction and a uint8 reference to Canny, and on straight, axis-aligned or
    border-cut outlines the two dtypes give different thin edges. Two empty masks score 0."""
    mask = np.zeros((120, 160), bool)
    mask[30:90, :50] = True  # a text-box-like rectangle cut by the left border
    same_dtype = M.edge_iou(mask, mask)
    assert same_dtype == pytest.approx(1.0, abs=1e-6)
    assert same_dtype < 1.0  # the + 1e-5 in the denominator
    mixed = M.edge_iou(mask, mask.astype(np.uint8))
    assert mixed == pytest.approx(ref_edge_iou(mask, mask.astype(np.uint8)))
    assert 0.5 < mixed < 0.9
    assert M.boundary_iou(mask, mask.astype(np.uint8)) == 1.0  # the standard metric is not fooled
    assert M.edge_iou(EMPTY, EMPTY) == 0.0
    assert M.pair_metrics(EMPTY, EMPTY, edge=True).edge_iou == 0.0


# -- over a set ----------------------------------------------------------------------------------
def test_giou_and_ciou_differ_when_object_sizes_differ() -> None:
    h, w = 100, 100
    small_ref = np.zeros((h, w), bool)
    small_ref[10:14, 10:14] = True  # 16 px, predicted perfectly
    big_ref = np.zeros((h, w), bool)
    big_ref[20:80, 20:80] = True  # 3600 px, half predicted
    big_pred = big_ref.copy()
    big_pred[:, 50:] = False
    preds, refs = [small_ref, big_pred], [small_ref, big_ref]
    assert M.giou(preds, refs) == pytest.approx((1.0 + 0.5) / 2)
    assert M.ciou(preds, refs) == pytest.approx((16 + 1800) / (16 + 3600))
    # a set of equal-sized objects: the two agree
    assert M.giou([big_pred, big_pred], [big_ref, big_ref]) == pytest.approx(
        M.ciou([big_pred, big_pred], [big_ref, big_ref])
    )
    # an empty pair counts as IoU 1 in gIoU and adds nothing to cIoU
    assert M.giou([EMPTY, LEFT], [EMPTY, FULL]) == pytest.approx((1 + 0.5) / 2)
    assert M.ciou([EMPTY, LEFT], [EMPTY, FULL]) == pytest.approx(0.5)


def test_summary_against_reference() -> None:
    rng = np.random.default_rng(42)
    preds, refs = [], []
    for _ in range(25):
        ref = random_shape(rng, 64, 80)
        pred = np.roll(ref, int(rng.integers(-6, 7)), axis=int(rng.integers(0, 2)))
        if rng.random() < 0.3:
            pred = random_shape(rng, 64, 80)
        preds.append(pred)
        refs.append(ref)
    s = M.summary(preds, refs, edge=True)
    counts = [ref_counts(p, r) for p, r in zip(preds, refs, strict=True)]
    ious = [ref_ratio(i, u, a == 0 and b == 0) for a, b, i, u in counts]
    ps = [ref_ratio(i, a, a == 0 and b == 0) for a, b, i, u in counts]
    rs = [ref_ratio(i, b, a == 0 and b == 0) for a, b, i, u in counts]
    f1s = [ref_ratio(2 * i, a + b, a == 0 and b == 0) for a, b, i, u in counts]
    assert s["n"] == 25
    assert s["giou"] == pytest.approx(np.mean(ious))
    assert s["ciou"] == pytest.approx(sum(c[2] for c in counts) / sum(c[3] for c in counts))
    assert s["precision"] == pytest.approx(np.mean(ps))
    assert s["recall"] == pytest.approx(np.mean(rs))
    assert s["f1"] == pytest.approx(np.mean(f1s))
    mp, mr = np.mean(ps), np.mean(rs)
    assert s["f1_paper"] == pytest.approx(2 * mp * mr / (mp + mr))
    assert s["f1_paper"] != pytest.approx(s["f1"])  # the two F1s are different numbers
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        assert s["precision_at"][f"{t:.1f}"] == pytest.approx(np.mean([v >= t for v in ious]))
    assert s["boundary_iou"] == pytest.approx(
        np.mean([ref_boundary_iou(p, r) for p, r in zip(preds, refs, strict=True)])
    )
    assert s["edge_iou_miras"] == pytest.approx(
        np.mean([ref_edge_iou(p, r) for p, r in zip(preds, refs, strict=True)])
    )
    assert "edge_iou_miras" not in M.summary(preds, refs)


def test_precision_at_threshold_is_inclusive_and_empty_set_is_zero() -> None:
    ref = np.zeros((10, 10), bool)
    ref[:, :4] = True
    pred = np.zeros((10, 10), bool)
    pred[:, :2] = True  # IoU exactly 0.5
    s = M.summary([pred], [ref])
    assert s["giou"] == 0.5
    assert s["precision_at"]["0.5"] == 1.0
    assert s["precision_at"]["0.6"] == 0.0
    empty = M.summary([], [])
    assert empty["n"] == 0
    assert empty["giou"] is None and empty["ciou"] is None
    assert empty["precision_at"]["0.5"] is None
    assert math.isnan(M.giou([], [])) and math.isnan(M.ciou([], []))
