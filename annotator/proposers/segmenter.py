"""The ``Segmenter`` protocol: interactive segmentation by clicks and boxes on one image.

A caller first prepares an image (computes or loads its embedding: the slow part, done once per
image), then calls ``segment`` for every click. Each answer holds every candidate mask with the
model's own quality score, in the model's output order, ranked by that score discounted by the
mask's stability (:attr:`Candidate.quality`); the caller (a person, usually) picks one, and that
candidate's low-resolution logits go back in as ``mask_input`` on the next click of the
same object, so the model refines its previous answer instead of starting over
(:class:`annotator.proposers.click_session.ClickSession` does that bookkeeping).

Nothing here holds a torch tensor: embeddings and logits are numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from annotator.core.mask import Mask
from annotator.core.progress import Task

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
# A candidate's area with the threshold one logit above 0, over its area one logit below: SAM's
# stability score, with SAM's offset.
STABILITY_OFFSET = 1.0
UNSTABLE_BELOW = 0.9  # under this a mask is speckle more than object (the app says so)
Upsampler = Callable[[FloatArray], FloatArray]  # low-res logits -> full-resolution logits
ImageLoader = Callable[[], NDArray[np.uint8]]
ImageSource = NDArray[np.uint8] | ImageLoader  # pixels, or how to read them when wanted


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image ready for clicks: its embedding and the geometry needed to map prompts and masks.

    ``key`` identifies the pixels (the Image's sha256 in the app); ``source`` says where the
    embedding came from this time: "encoded", "memory" or "disk".
    """

    key: str
    model_id: str
    original_size: tuple[int, int]  # (height, width) of the image
    input_size: tuple[int, int]  # (height, width) inside the model's input square
    embedding: FloatArray  # read-only
    source: str = "encoded"

    @property
    def height(self) -> int:
        return self.original_size[0]

    @property
    def width(self) -> int:
        return self.original_size[1]


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate mask. The full-resolution mask is computed on first access (cheap, but most
    candidates are never looked at) and then kept."""

    score: float  # the model's predicted IoU of this mask with the object
    output_index: int  # which of the model's outputs this is (0: single-mask output)
    # (256, 256), right wherever the image is: all the full-resolution mask reads, which is
    # the top left ``_extent`` (rows, columns).
    _image_logits: FloatArray = field(repr=False)
    # The whole (256, 256) map, made on first call where the model's input was padding.
    _all_logits: Callable[[], FloatArray] = field(repr=False)
    _upsample: Upsampler = field(repr=False)
    _extent: tuple[int, int] = field(default=(256, 256), repr=False)

    @cached_property
    def stability(self) -> float:
        """How little the mask moves with its threshold, in [0, 1]: its area at logit > +1 over
        its area at logit > −1, on the low-resolution logits the mask is made from (within 0.01
        of the same ratio at full resolution, for a fraction of the cost). A clean object is
        0.95–1; the speckled union of textures SAM sometimes scores highest is 0.1–0.6."""
        rows, cols = self._extent
        grid = self._image_logits[:rows, :cols]
        loose = int(np.count_nonzero(grid > -STABILITY_OFFSET))
        strict = int(np.count_nonzero(grid > STABILITY_OFFSET))
        return strict / loose if loose else 1.0

    @property
    def quality(self) -> float:
        """What candidates are ranked by: the predicted IoU discounted by the stability, since
        the model's IoU head does not see speckle (on photos its top candidate is at times a
        speckled mask 0.01 above a clean one)."""
        return self.score * self.stability

    @property
    def low_res_logits(self) -> FloatArray:
        """``(256, 256)``, read-only: pass back as ``mask_input`` to refine this candidate.
        The first access among an answer's candidates may compute the part that lies outside
        the image (a few milliseconds)."""
        return self._all_logits()

    @cached_property
    def logits(self) -> FloatArray:
        """Logits at the image's full resolution (mask = logits > 0)."""
        return self._upsample(self._image_logits)

    @cached_property
    def mask(self) -> BoolArray:
        """Boolean mask ``(H, W)`` at the image's full resolution: ``logits > 0`` (the logits
        are not kept for it: at camera resolution they are 48 MB a candidate)."""
        out = self._upsample(self._image_logits) > 0
        out.setflags(write=False)
        return out

    def to_mask(self) -> Mask:
        return Mask.from_array(self.mask)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The answer to one ``segment`` call: every candidate, in the model's output order;
    :attr:`best` and :meth:`ranked_indices` go by :attr:`Candidate.quality`."""

    candidates: tuple[Candidate, ...]

    @property
    def scores(self) -> list[float]:
        return [c.score for c in self.candidates]

    @property
    def masks(self) -> list[BoolArray]:
        """Every candidate's full-resolution mask (computes those not yet computed)."""
        return [c.mask for c in self.candidates]

    @property
    def best_index(self) -> int:
        return self.ranked_indices()[0]

    @property
    def best(self) -> Candidate:
        return self.candidates[self.best_index]

    def ranked_indices(self) -> list[int]:
        """Candidate indices by quality, best first."""
        return sorted(range(len(self.candidates)), key=lambda i: -self.candidates[i].quality)


@runtime_checkable
class Segmenter(Protocol):
    """Click/box segmentation. Implementations are thread-safe: ``prepare`` may run on a worker
    thread while ``segment`` answers clicks on another image."""

    @property
    def model_id(self) -> str: ...

    def prepare(
        self, image: NDArray[np.uint8], key: str | None = None, task: Task | None = None
    ) -> PreparedImage:
        """Embedding of ``image`` (RGB uint8, H × W × 3) whose pixels ``key`` identifies (the
        image's sha256; computed from the pixels when not given); from a cache when possible.
        Cancellable through ``task`` (raises ``Cancelled``)."""
        ...

    def segment(
        self,
        handle: PreparedImage,
        points: Sequence[Sequence[float]] | NDArray[np.floating] | None,
        labels: Sequence[int] | NDArray[np.integer] | None,
        box: Sequence[float] | None = None,
        mask_input: FloatArray | None = None,
        multimask: bool = True,
    ) -> Segmentation:
        """Masks for clicks ``points`` (x, y pixels; label 1 = object, 0 = not object), an
        optional ``box`` (x0, y0, x1, y1) and the ``mask_input`` logits of an earlier candidate.
        ``multimask`` asks for three alternatives (for an ambiguous prompt such as one click)
        instead of one."""
        ...


class ClickEngine(Segmenter, Protocol):
    """The app's SAM engine (``annotator.proposers.sam.SamEngine``): a segmenter that also
    prepares the next images of the queue in the background, and is closed when the app ends."""

    def prefetch(self, items: Iterable[tuple[str, ImageSource]]) -> list[Future[PreparedImage]]:
        """Prepare these ``(key, image or loader)`` in the background, in order; replaces the
        previous list. Never blocks a click."""
        ...

    def close(self) -> None: ...
