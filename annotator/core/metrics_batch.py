"""Per-pair metrics for many stored masks at once, spread over worker processes.

Masks travel to the workers as compressed RLE (a few hundred bytes each) and only the union box
of each pair is decoded there (:mod:`annotator.core.metrics_rle`), so no whole frame is built.
Small batches run in-process: starting workers costs more than it saves below a few hundred
pairs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.mask import BoolArray, Mask
from annotator.core.metrics import (
    DEFAULT_DILATION_RATIO,
    PairMetrics,
    boundary_width,
    counts_in_box,
    pair_metrics,
    union_box,
)
from annotator.core.metrics_rle import box_of, decode_box
from annotator.core.progress import Task

_Packed = tuple[int, int, bytes]
CHUNK_SIZE = 64
INLINE_BELOW = 256  # pairs; fewer run in the calling process


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def decode(mask: Mask) -> BoolArray:
    """The mask as a bool array, without the copy :meth:`Mask.to_array` makes (column-major)."""
    # pycocotools returns a fresh 0/1 uint8 array, which is a valid bool buffer as it is.
    return mask_utils.decode(mask.rle()).view(np.bool_)


def _evaluate_chunk(
    chunk: Sequence[tuple[_Packed, _Packed]], dilation_ratio: float, edge: bool
) -> list[PairMetrics]:
    out = []
    for packed_p, packed_r in chunk:
        p, r = Mask(*packed_p), Mask(*packed_r)
        if edge:  # Canny needs the whole frame (its result depends on the image border)
            out.append(pair_metrics(decode(p), decode(r), dilation_ratio=dilation_ratio, edge=True))
            continue
        box = union_box(box_of(p), box_of(r))
        if box is None:
            out.append(PairMetrics(0, 0, 0, 0, 0))
            continue
        d = boundary_width(p.height, p.width, dilation_ratio)
        crop = (0, box[1] - box[0], 0, box[3] - box[2])
        out.append(counts_in_box(decode_box(p, box), decode_box(r, box), crop, d))
    return out


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would only contend


def evaluate_pairs(
    pairs: Sequence[tuple[Mask, Mask]],
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    edge: bool = False,
    workers: int | None = None,
    task: Task | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[PairMetrics]:
    """:func:`~annotator.core.metrics.pair_metrics` of each ``(prediction, reference)``, in order.

    ``workers`` processes (default: the cores this process may use); progress and cancellation
    go through ``task``, checked between chunks.
    """
    task = task or Task()
    for i, (p, r) in enumerate(pairs):
        if p.size != r.size:
            raise MaskError(
                f"prediction {p.height}x{p.width} and reference {r.height}x{r.width} differ",
                record=i,
            )
    packed = [((p.height, p.width, p.counts), (r.height, r.width, r.counts)) for p, r in pairs]
    chunks = [packed[i : i + chunk_size] for i in range(0, len(packed), chunk_size)]
    task.start(len(packed), "computing mask metrics")
    n_workers = available_cores() if workers is None else max(1, workers)
    if n_workers == 1 or len(packed) < INLINE_BELOW:
        out: list[PairMetrics] = []
        for chunk in chunks:
            out.extend(_evaluate_chunk(chunk, dilation_ratio, edge))
            task.step(len(chunk))
        return out
    return _evaluate_in_pool(chunks, n_workers, dilation_ratio, edge, task)


def _evaluate_in_pool(
    chunks: list[list[tuple[_Packed, _Packed]]],
    n_workers: int,
    dilation_ratio: float,
    edge: bool,
    task: Task,
) -> list[PairMetrics]:
    results: list[list[PairMetrics] | None] = [None] * len(chunks)
    # spawn, not fork: the caller may be a GUI process with threads whose locks fork would copy.
    pool = ProcessPoolExecutor(
        max_workers=min(n_workers, len(chunks)),
        mp_context=get_context("spawn"),
        initializer=_worker_init,
    )
    try:
        pending: dict[Future[list[PairMetrics]], int] = {
            pool.submit(_evaluate_chunk, chunk, dilation_ratio, edge): i
            for i, chunk in enumerate(chunks)
        }
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            task.check()
            for fut in done:
                i = pending.pop(fut)
                results[i] = fut.result()
                task.step(len(chunks[i]))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [m for chunk in results if chunk is not None for m in chunk]
