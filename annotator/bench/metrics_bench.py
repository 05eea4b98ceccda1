"""Mask metrics for N records of 1024x768 masks (RLE decode + all per-pair metrics + summary).

Synthetic records: a reference polygon of random size (a few pixels to most of the frame, some
cut by the image border) and a prediction derived from it (grown, shrunk, shifted, replaced or
empty), stored as RLE like the database holds them. The timed run decodes and evaluates every
record on ``--workers`` processes. In the same run a sample is timed the naive way (full-frame
numpy and erosion after a whole-frame decode, one process) and with the MIRAS edge IoU added,
and both are extrapolated.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy, OpenCV and the metrics are imported where used: not for `--help`
    import numpy as np
    from numpy.typing import NDArray

    from annotator.core.mask import Mask

TARGET_S = 60.0  # for 10,000 records on 2 cores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=10_000, help="records to evaluate")
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument(
        "--distinct", type=int, default=1000, help="distinct mask pairs, cycled up to --records"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    parser.add_argument("--naive-sample", type=int, default=200, help="pairs timed full-frame")
    parser.add_argument("--edge-sample", type=int, default=100, help="pairs timed with edge IoU")
    parser.add_argument("--seed", type=int, default=0)


def _polygon(rng: np.random.Generator, h: int, w: int) -> NDArray[np.uint8]:
    import cv2
    import numpy as np

    m = np.zeros((h, w), np.uint8)
    radius = math.exp(rng.uniform(math.log(4), math.log(0.6 * max(h, w))))
    cx, cy = rng.uniform(-0.05 * w, 1.05 * w), rng.uniform(-0.05 * h, 1.05 * h)
    k = int(rng.integers(4, 14))
    angles = np.sort(rng.uniform(0, 2 * math.pi, k))
    radii = radius * rng.uniform(0.4, 1.0, k)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    return m


def _prediction(rng: np.random.Generator, ref: NDArray[np.uint8]) -> NDArray[np.uint8]:
    import cv2
    import numpy as np

    kind = rng.random()
    k = int(rng.integers(1, 12)) * 2 + 1
    if kind < 0.35:
        return cv2.dilate(ref, np.ones((k, k), np.uint8))
    if kind < 0.65:
        return cv2.erode(ref, np.ones((k, k), np.uint8))
    if kind < 0.85:
        return np.roll(ref, (int(rng.integers(-20, 21)), int(rng.integers(-20, 21))), axis=(0, 1))
    if kind < 0.95:
        return _polygon(rng, *ref.shape)
    return np.zeros_like(ref)


def make_pairs(n: int, h: int, w: int, seed: int) -> list[tuple[Mask, Mask]]:
    import numpy as np

    from annotator.core.mask import Mask

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ref = _polygon(rng, h, w)
        out.append((Mask.from_array(_prediction(rng, ref)), Mask.from_array(ref)))
    return out


def naive_metrics(pred: NDArray[np.bool_], ref: NDArray[np.bool_], d: int) -> tuple[int, ...]:
    """The same counts computed the straightforward way: whole-frame arrays, padded erosion."""
    import cv2
    import numpy as np

    inter = int(np.logical_and(pred, ref).sum())
    union = int(np.logical_or(pred, ref).sum())
    kernel = np.ones((3, 3), np.uint8)

    def band(m: NDArray[np.bool_]) -> NDArray[np.bool_]:
        padded = cv2.copyMakeBorder(m.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        eroded = cv2.erode(padded, kernel, iterations=d)[1:-1, 1:-1]
        return m & (eroded == 0)

    bp, br = band(pred), band(ref)
    return (
        int(pred.sum()),
        int(ref.sum()),
        inter,
        union,
        int(np.logical_and(bp, br).sum()),
        int(np.logical_or(bp, br).sum()),
    )


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the joined worker processes)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _per_record_ms(fn: Any, pairs: list[tuple[Mask, Mask]]) -> float:
    start = time.perf_counter()
    for p, r in pairs:
        fn(p, r)
    return (time.perf_counter() - start) / max(1, len(pairs)) * 1e3


def run(args: argparse.Namespace) -> dict[str, Any]:
    import cv2
    import numpy as np

    from annotator.core.metrics import aggregate, boundary_width, pair_metrics
    from annotator.core.metrics_batch import available_cores, decode, evaluate_pairs

    cv2.setNumThreads(1)  # figures per process; parallelism comes from --workers only
    h, w = args.height, args.width
    workers = args.workers or available_cores()
    t0 = time.perf_counter()
    distinct = make_pairs(min(args.distinct, args.records), h, w, args.seed)
    records = [distinct[i % len(distinct)] for i in range(args.records)]
    setup_s = time.perf_counter() - t0

    load_before = os.getloadavg()[0]
    cpu_before = _cpu_s()
    start = time.perf_counter()
    pairs = evaluate_pairs(records, workers=workers)
    figures = aggregate(pairs)
    total_s = time.perf_counter() - start
    cpu_s = _cpu_s() - cpu_before

    d = boundary_width(h, w)
    sample = distinct[: args.naive_sample]
    naive_ms = _per_record_ms(lambda p, r: naive_metrics(decode(p), decode(r), d), sample)
    start = time.perf_counter()
    evaluate_pairs(sample, workers=1)  # the batch path (box decode from RLE), one process
    ours_ms = (time.perf_counter() - start) / max(1, len(sample)) * 1e3
    # the naive path must agree with the cropped one, or the comparison means nothing
    for p, r in sample[:20]:
        m = pair_metrics(decode(p), decode(r))
        want = (m.pred_area, m.ref_area, m.intersection, m.union)
        want += (m.boundary_intersection, m.boundary_union)
        if naive_metrics(decode(p), decode(r), d) != want:
            raise AssertionError("naive and cropped metrics disagree")
    edge_sample = distinct[: args.edge_sample]
    edge_ms = _per_record_ms(
        lambda p, r: pair_metrics(decode(p), decode(r), edge=True), edge_sample
    )
    n = args.records
    return {
        "benchmark": "metrics",
        "records": n,
        "distinct_pairs": len(distinct),
        "image": [h, w],
        "boundary_width_px": d,
        "workers": workers,
        "total_s": round(total_s, 3),
        "records_per_s": round(n / total_s, 1),
        "cpu_s": round(cpu_s, 3),
        "load_average_before": round(load_before, 2),
        "target": f"{n} records under {TARGET_S:.0f} s" if n == 10_000 else None,
        "meets_target": total_s < TARGET_S if n == 10_000 else None,
        "one_process_per_record_ms": round(ours_ms, 3),
        "one_process_extrapolated_total_s": round(ours_ms * n / 1e3, 1),
        "naive_full_frame": {
            "sample": len(sample),
            "per_record_ms": round(naive_ms, 3),
            "extrapolated_total_s_one_process": round(naive_ms * n / 1e3, 1),
            "extrapolated_total_s_workers": round(naive_ms * n / 1e3 / workers, 1),
            "speedup_of_crop": round(naive_ms / ours_ms, 2),
        },
        "with_edge_iou_miras": {
            "sample": len(edge_sample),
            "per_record_ms": round(edge_ms, 3),
            "extrapolated_total_s_workers": round(edge_ms * n / 1e3 / workers, 1),
        },
        "setup_s": round(setup_s, 1),
        "mean_area_px": round(float(np.mean([r.area for _, r in distinct])), 1),
        "summary": {k: v for k, v in figures.items() if k != "precision_at"},
    }
