"""A click's low-resolution logits, upscaled where they are needed first.

Each 4 × 4 patch of SAM's 256 × 256 logit map comes from one cell of the 64 × 64 token grid
alone (the decoder's upscaling is two transposed convolutions with stride = kernel = 2), so the
cells can be upscaled in any order. The full-resolution masks read only the cells the image
covers; the others lie on the encoder input's padding (a quarter of the grid for a 4:3 image,
more than 40 % for 16:9) and are needed only when the logits go back to the model as a
refining click's ``mask_input``, which must be the whole map. So a click upscales the covered
cells, and the padding is upscaled the first time the whole map is asked for; the app asks
right after showing the answer, while the user looks at it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from annotator.proposers.sam.geometry import LOW_RES_SIDE, low_res_extent

if TYPE_CHECKING:
    from annotator.proposers.sam.backend import Decoded, DecoderState, SamBackend

FloatArray = NDArray[np.float32]
# (cells (R, W, C), hyper (n, 32)) -> logits (n, R, W, 16); see factored_decoder.UpscaleGraph
Upscaler = Callable[[FloatArray, FloatArray], FloatArray]

GRID_SIDE = 64  # token cells per side
_PATCH = LOW_RES_SIDE // GRID_SIDE  # logits per cell and side


def covered_cells(input_size: tuple[int, int]) -> tuple[int, int]:
    """Rows and columns of token cells whose logits a full-resolution mask of an image with
    this ``input_size`` (its ``(h, w)`` in the encoder frame) reads: the cells holding
    :func:`~annotator.proposers.sam.geometry.low_res_extent`."""
    rows, cols = low_res_extent(input_size)
    return math.ceil(rows / _PATCH), math.ceil(cols / _PATCH)


class LowResLogits:
    """The ``(n, 256, 256)`` logits of one click's ``n`` candidates: the covered cells' come
    with the click (:class:`Decoded`), the rest are upscaled on the first :meth:`whole`
    (thread-safe, once)."""

    def __init__(self, upscale: Upscaler, decoded: Decoded) -> None:
        self._upscale = upscale
        self._hyper = decoded.hyper
        self._grid = np.zeros((len(decoded.hyper), LOW_RES_SIDE, LOW_RES_SIDE), np.float32)
        rows, cols = decoded.logits.shape[1:3]
        self._place(decoded.logits, 0, 0)
        blocks = ((decoded.below, rows, 0), (decoded.right, 0, cols))
        self._padding = [(tokens, r, c) for tokens, r, c in blocks if tokens.size]
        self._lock = threading.Lock()
        if not self._padding:
            self._grid.setflags(write=False)

    def covered(self, index: int) -> FloatArray:
        """Candidate ``index``'s map, right wherever the image is (the padding may be zeros
        until :meth:`whole`); read-only."""
        view = self._grid[index].view()
        view.setflags(write=False)
        return view

    def complete(self, index: int) -> FloatArray:
        """Candidate ``index``'s whole map (see :meth:`whole`); read-only."""
        return self.whole()[index]

    def whole(self) -> FloatArray:
        """All candidates' whole maps ``(n, 256, 256)``, upscaling the padding cells the first
        time; read-only."""
        with self._lock:
            if self._padding:
                for tokens, row, col in self._padding:
                    self._place(self._upscale(tokens, self._hyper), row, col)
                self._padding = []  # their tokens (up to 4 MB a click) are not needed any more
                self._grid.setflags(write=False)
        return self._grid

    def _place(self, logits: FloatArray, row: int, col: int) -> None:
        """Put a block's logits ``(n, R, W, 16)``, sub-pixels (i1, j1, i2, j2), at cell
        ``(row, col)``: a cell's patch is rows ``4y + 2·i1 + i2``, columns ``4x + 2·j1 + j2``.

        Moved as opaque units (exact bytes): in 8-byte pairs (j2) swap j1 and i2; then each
        patch row (i1, i2) of a cell is one 16-byte unit (j1, j2), and one strided copy puts
        them in place (twice as fast as one copy with 4-byte units)."""
        n, rows, cols = logits.shape[:3]
        pairs = np.ascontiguousarray(logits).view("V8").reshape(n, rows, cols, 2, 2, 2)
        patch_rows = np.ascontiguousarray(pairs.transpose(0, 1, 2, 3, 5, 4)).view("V16")
        p = _PATCH
        target = self._grid[:, row * p : (row + rows) * p, col * p : (col + cols) * p]
        units = target.view("V16")
        # Splitting an axis of a view never copies; assigning the shape raises if it would.
        units.shape = (n, rows, 4, cols)  # (mask, y, patch row, x)
        units[...] = patch_rows.reshape(n, rows, cols, 4).transpose(0, 1, 3, 2)


def decode_whole(
    backend: SamBackend,
    state: DecoderState,
    coords: FloatArray,
    labels: FloatArray,
    outputs: Sequence[int],
    mask_input: FloatArray | None = None,
    covered: tuple[int, int] = (GRID_SIDE, GRID_SIDE),
) -> tuple[FloatArray, FloatArray]:
    """One click's whole logits ``(n, 256, 256)`` and scores ``(4,)`` at once (for checks:
    ``covered`` picks the cells upscaled with the click, the rest are upscaled after)."""
    decoded = backend.decode(state, coords, labels, outputs, covered, mask_input)
    return LowResLogits(backend.upscale, decoded).whole(), decoded.scores
