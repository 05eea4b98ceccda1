"""Decode only a box of a COCO RLE mask, straight from its runs.

The metrics need pixels only inside the union box of a prediction and its reference, which is
usually a small part of the frame. pycocotools can only decode whole frames (one byte written per
pixel), so for the batch metrics the compressed counts are turned into runs with numpy and only
the image columns of the box are expanded: RLE is column-major, so those columns are one
contiguous stretch of the runs.

Results are in the transposed frame (rows are image columns), which is how the runs lie; every
metric here is invariant under transposition.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.mask import BoolArray, Mask

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


def runs(mask: Mask) -> NDArray[np.int64]:
    """Run lengths (background first) of the compressed counts, as pycocotools stores them.

    Each run is a little-endian base-32 number in 6-bit characters (bit 5: more to come, bit 4
    of the last character: negative); from the fourth run on, each is stored as the difference
    from the run two places before.
    """
    chars = np.frombuffer(mask.counts, dtype=np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        raise MaskError("RLE counts are empty")
    last = (chars & 0x20) == 0
    if not last[-1]:
        raise MaskError("RLE counts end inside a number")
    first = np.concatenate(([True], last[:-1]))
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    shift = 5 * (np.arange(chars.size) - starts[group])
    values = np.add.reduceat((chars & 0x1F) << shift, starts)
    ends = np.flatnonzero(last)
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (shift[ends][negative] + 5)
    out = values.copy()
    if out.size > 3:
        out[3::2] = values[1] + np.cumsum(values[3::2])
    if out.size > 4:
        out[4::2] = values[2] + np.cumsum(values[4::2])
    if (out < 0).any() or int(out.sum()) != mask.height * mask.width:
        raise MaskError(f"RLE runs do not cover the {mask.height}x{mask.width} frame")
    return out


def box_of(mask: Mask) -> Box | None:
    """The mask's tight box in the transposed frame (rows = image columns); None when empty."""
    x, y, w, h = (int(v) for v in mask_utils.toBbox(mask.rle()))
    if w == 0 or h == 0:
        return None
    return x, x + w, y, y + h


def decode_box(mask: Mask, box: Box) -> BoolArray:
    """``mask``'s pixels inside ``box`` (transposed frame), equal to ``decode(mask).T[box]``."""
    col0, col1, row0, row1 = box  # the transposed frame's rows are image columns
    h = mask.height
    r = runs(mask)
    ends = np.cumsum(r)
    begin = ends - r
    lo, hi = col0 * h, col1 * h  # the box's columns are this stretch of the runs
    lengths = np.clip(ends, lo, hi) - np.clip(begin, lo, hi)
    values = (np.arange(r.size) & 1).astype(np.uint8)  # runs alternate, background first
    strip = np.repeat(values, lengths).view(np.bool_)
    return strip.reshape(col1 - col0, h)[:, row0:row1]
