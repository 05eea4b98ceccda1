"""The correction: how far a reviewer moved the model's proposal to reach the final mask.

One rule for "the proposal" everywhere (the editor's diff, the quality report, the list's
correction column in storage): the latest proposal of a turn (by creation time, then id), whose
masks are united; a proposal without a mask proposes the empty mask; a proposal with a mask of
another size than the image is not comparable pixel by pixel."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from annotator.core.mask import BoolArray, Mask, union
from annotator.core.model import Proposal


def latest_per_turn(proposals: Iterable[Proposal]) -> dict[int, Proposal]:
    """Each turn's latest proposal: the greatest (created_at, id); a later one in the input wins
    a tie."""
    latest: dict[int, Proposal] = {}
    for p in proposals:
        best = latest.get(p.turn_index)
        if best is None or (p.created_at, p.id or 0) >= (best.created_at, best.id or 0):
            latest[p.turn_index] = p
    return latest


def united(masks: Sequence[Mask], height: int, width: int) -> Mask | None:
    """The union of ``masks`` on a ``height`` × ``width`` image (the empty mask when there are
    none); None when one of them is of another size."""
    if any(m.size != (height, width) for m in masks):
        return None
    if len(masks) == 1:
        return masks[0]
    return union(masks, height, width)


def proposed_mask(proposal: Proposal, height: int, width: int) -> Mask | None:
    """What ``proposal`` proposes for the turn on this image (see the module's rule)."""
    return united(proposal.masks, height, width)


@dataclass(frozen=True)
class MaskDiff:
    """Proposal → final: pixels added and removed by the reviewer, and the IoU of the two
    (None when both are empty)."""

    added: int
    removed: int
    iou: float | None

    @property
    def changed(self) -> int:
        return self.added + self.removed


def mask_diff(proposed: BoolArray, final: BoolArray) -> MaskDiff:
    if proposed.shape != final.shape:
        raise ValueError(f"masks of different sizes: {proposed.shape} and {final.shape}")
    added = int(np.count_nonzero(final & ~proposed))
    removed = int(np.count_nonzero(proposed & ~final))
    inter = int(np.count_nonzero(final & proposed))
    union_px = inter + added + removed
    return MaskDiff(added, removed, inter / union_px if union_px else None)
