"""Per-pair metrics for many stored masks at once, spread over worker processes.

Masks travel to the workers as compressed RLE (a few hundred bytes each) and are decoded there,
so the parent never holds more than one chunk of arrays. Small batches run in-process: starting
workers costs more than it saves below a few hundred pairs.
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
    Box,
    PairMetrics,
    boundary_width,
    counts_in_box,
    pair_metrics,
    union_box,
)
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
    return _decode((mask.height, mask.width, mask.counts))


def _decode(packed: _Packed) -> BoolArray:
    h, w, counts = packed
    # pycocotools returns a fresh 0/1 uint8 array, which is a valid bool buffer as it is.
    return mask_utils.decode({"size": [h, w], "counts": counts}).view(np.bool_)


def _box(packed: _Packed) -> Box | None:
    """The tight box of an RLE mask in the transposed (row-major view) frame, from the runs."""
    h, w, counts = packed
    x, y, bw, bh = (int(v) for v in mask_utils.toBbox({"size": [h, w], "counts": counts}))
    if bw == 0 or bh == 0:
        return None
    return x, x + bw, y, y + bh  # rows of the transposed view are image columns


def _evaluate_chunk(
    chunk: Sequence[tuple[_Packed, _Packed]], dilation_ratio: float, edge: bool
) -> list[PairMetrics]:
    out = []
    for p, r in chunk:
        if edge:
            out.append(
                pair_metrics(_decode(p), _decode(r), dilation_ratio=dilation_ratio, edge=True)
            )
            continue
        # Boxes from the runs cost microseconds; scanning a decoded frame for them does not.
        d = boundary_width(p[0], p[1], dilation_ratio)
        box = union_box(_box(p), _box(r))
        out.append(counts_in_box(_decode(p).T, _decode(r).T, box, d))
    return out


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would only contend
    _reuse_frame_sized_blocks()


def _reuse_frame_sized_blocks() -> None:
    # Every decode allocates one frame (~0.8 MB). A fresh process's allocator serves blocks that
    # size with mmap and returns them on free, so each frame costs hundreds of page faults (the
    # workers ran ~2x slower than the parent). Freeing one larger block first raises glibc's
    # dynamic mmap threshold above a frame, and frames are then reused from the heap.
    warm = np.ones(8 << 20, dtype=np.uint8)  # below glibc's 32 MB cap on that threshold
    del warm


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
        _reuse_frame_sized_blocks()
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
