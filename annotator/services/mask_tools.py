"""Mask editing actions on the open record, free of Qt: live strokes and one-shot operations.

A stroke paints into the working array as the pointer moves (so the canvas can redraw only the
segment just drawn) and becomes one undoable :class:`MaskDelta` when the button is released.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from annotator.core import mask_edit
from annotator.core.commands import LayerKey, MaskDelta
from annotator.core.mask_edit import EMPTY, BoolArray, Point, Rect
from annotator.core.model import MaskSource, Provenance
from annotator.services.record_document import RecordDocument


def _next_provenance(
    doc: RecordDocument, key: LayerKey, source: MaskSource, author: str, info: dict[str, Any]
) -> Provenance:
    """Provenance after an edit: keeps the proposal it started from and counts the edits."""
    old = doc.provenance(key)
    detail: dict[str, Any] = dict(old.detail) if old else {}
    edits: list[dict[str, Any]] = list(detail.get("edits", []))
    edits.append(info)
    detail["edits"] = edits[-200:]  # bounded: enough to tell how the mask was made
    tool = str(info.get("tool", ""))
    if tool:
        counts: dict[str, int] = dict(detail.get("counts", {}))
        counts[tool] = counts.get(tool, 0) + 1
        detail["counts"] = counts
    if old is not None and old.source in (MaskSource.PROPOSER, MaskSource.IMPORTED):
        detail.setdefault("started_from", str(old.source))
    base_source = source
    if old is not None and source == MaskSource.HUMAN and old.source == MaskSource.SAM:
        base_source = MaskSource.SAM  # SAM mask touched up by hand stays SAM-made
    proposal_id = old.proposal_id if old is not None else None
    return Provenance(base_source, author, proposal_id=proposal_id, detail=detail)


class Stroke:
    """One brush or eraser stroke on one layer, from press to release."""

    def __init__(self, doc: RecordDocument, key: LayerKey, radius: float, erase: bool) -> None:
        self.doc = doc
        self.key = key
        self.radius = radius
        self.erase = erase
        self.array = doc.layer_array(key)
        self._before = self.array.copy()  # one memcpy per press, none per segment
        self._rect = EMPTY
        self._last: Point | None = None
        self._segments = 0

    def to(self, point: Point) -> Rect:
        """Extend the stroke to ``point``; returns the area painted by this segment."""
        start = self._last if self._last is not None else point
        rect = mask_edit.paint_segment(self.array, start, point, self.radius, not self.erase)
        self._last = point
        self._segments += 1
        self._rect = self._rect.union(rect)
        if not rect.is_empty:
            self.doc.layer_changed(self.key, rect)
        return rect

    def finish(self, author: str) -> MaskDelta | None:
        """The stroke as one undoable command, or ``None`` when nothing changed."""
        rect = self._rect
        if rect.is_empty:
            return None
        sl = rect.slices
        changed = int(np.count_nonzero(self._before[sl] != self.array[sl]))
        if changed == 0:
            return None
        tool = "eraser" if self.erase else "brush"
        info = {"tool": tool, "radius": self.radius, "segments": self._segments, "pixels": changed}
        prov_before = self.doc.provenance(self.key)
        prov_after = _next_provenance(self.doc, self.key, MaskSource.HUMAN, author, info)
        self.doc.set_provenance(self.key, prov_after)
        return MaskDelta.capture(
            self.key,
            self._before,
            self.array,
            rect,
            "Erase" if self.erase else "Paint",
            prov_before=prov_before,
            prov_after=prov_after,
            info=info,
        )

    def cancel(self) -> None:
        """Undo the live painting (e.g. Escape during a stroke)."""
        if not self._rect.is_empty:
            self.array[self._rect.slices] = self._before[self._rect.slices]
            self.doc.layer_changed(self.key, self._rect)
        self._rect = EMPTY


Operation = Callable[[BoolArray], Rect]


def operation_delta(
    doc: RecordDocument,
    key: LayerKey,
    op: Operation,
    label: str,
    author: str,
    *,
    source: MaskSource = MaskSource.HUMAN,
    info: dict[str, Any] | None = None,
    proposal_id: int | None = None,
) -> MaskDelta | None:
    """Run ``op`` on a scratch copy of the layer and describe the change as a command (not yet
    applied; the session applies it). ``None`` when it changes nothing."""
    current = doc.layer_array(key)
    scratch = current.copy()
    rect = op(scratch)
    if rect.is_empty:
        return None
    local = mask_edit.changed_rect(current[rect.slices], scratch[rect.slices])
    if local.is_empty:
        return None
    box = Rect(rect.x + local.x, rect.y + local.y, local.w, local.h)
    info = dict(info or {})
    info.setdefault("tool", label.lower().replace(" ", "_"))
    info["pixels"] = int(np.count_nonzero(current[box.slices] != scratch[box.slices]))
    prov_after = _next_provenance(doc, key, source, author, info)
    if proposal_id is not None:
        prov_after = replace(prov_after, proposal_id=proposal_id, source=source)
    return MaskDelta.capture(
        key,
        current,
        scratch,
        box,
        label,
        prov_before=doc.provenance(key),
        prov_after=prov_after,
        info=info,
    )
