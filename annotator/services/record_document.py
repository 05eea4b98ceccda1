"""The working copy of one record while it is being edited.

Masks are held as full-size boolean arrays per (turn, layer), decoded lazily from the stored
RLE; undo commands edit them in place. ``to_conversation`` turns the working copy back into the
frozen domain object that storage saves; only layers that were touched are re-encoded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from annotator.core.commands import LayerKey
from annotator.core.mask import Mask, union
from annotator.core.mask_edit import BoolArray, Rect
from annotator.core.model import (
    Conversation,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.core.status import Status

LayerListener = Callable[[LayerKey, Rect], None]
TextListener = Callable[[int, str], None]
StatusListener = Callable[[Status], None]


class RecordDocument:
    """Implements :class:`annotator.core.commands.EditTarget` for one conversation."""

    def __init__(self, conversation: Conversation) -> None:
        self._base = conversation
        h, w = conversation.image.height, conversation.image.width
        self.size = (h, w)
        self._arrays: dict[LayerKey, BoolArray] = {}
        self._touched: set[LayerKey] = set()
        self._prov: dict[LayerKey, Provenance | None] = {}
        self._texts: dict[tuple[int, str], str | None] = {}
        self._status = conversation.status
        self.layer_listeners: list[LayerListener] = []
        self.text_listeners: list[TextListener] = []
        self.status_listeners: list[StatusListener] = []

    # -- identity -----------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The last stored version (revision used for optimistic concurrency)."""
        return self._base

    @property
    def id(self) -> int | None:
        return self._base.id

    @property
    def turn_count(self) -> int:
        return len(self._base.turns)

    @property
    def target_turn(self) -> int:
        return len(self._base.turns) - 1

    def turn(self, index: int) -> Turn:
        return self._base.turns[index]

    # -- masks --------------------------------------------------------------------------
    def layer_array(self, key: LayerKey) -> BoolArray:
        arr = self._arrays.get(key)
        if arr is None:
            turn_index, layer = key
            anns = self._base.turns[turn_index].layer(layer)
            h, w = self.size
            if not anns:
                arr = np.zeros((h, w), dtype=bool)
            elif len(anns) == 1:
                arr = anns[0].mask.to_array()
            else:
                arr = union((a.mask for a in anns), h, w).to_array()
            arr = np.ascontiguousarray(arr)
            self._arrays[key] = arr
        return arr

    def has_mask(self, key: LayerKey) -> bool:
        if key in self._arrays:
            return bool(self._arrays[key].any())
        turn_index, layer = key
        return any(not a.mask.is_empty for a in self._base.turns[turn_index].layer(layer))

    def layer_changed(self, key: LayerKey, rect: Rect) -> None:
        self._touched.add(key)
        for listener in list(self.layer_listeners):
            listener(key, rect)

    def provenance(self, key: LayerKey) -> Provenance | None:
        if key in self._prov:
            return self._prov[key]
        anns = self._base.turns[key[0]].layer(key[1])
        return anns[0].provenance if anns else None

    def set_provenance(self, key: LayerKey, prov: Provenance | None) -> None:
        self._prov[key] = prov

    # -- text ---------------------------------------------------------------------------
    def text(self, turn_index: int, field: str) -> str | None:
        if (turn_index, field) in self._texts:
            return self._texts[(turn_index, field)]
        return getattr(self._base.turns[turn_index], field)

    def set_text(self, turn_index: int, field: str, value: str | None) -> None:
        self._texts[(turn_index, field)] = value
        for listener in list(self.text_listeners):
            listener(turn_index, field)

    # -- status -------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    def set_status(self, status: Status) -> None:
        self._status = status
        for listener in list(self.status_listeners):
            listener(status)

    # -- saving -------------------------------------------------------------------------
    def to_conversation(self) -> Conversation:
        """The working copy as a domain object, carrying the base revision."""
        turns = []
        for turn in self._base.turns:
            changes: dict[str, object] = {}
            for field in ("question", "final_answer"):
                if (turn.index, field) in self._texts:
                    changes[field] = self._texts[(turn.index, field)]
            masks = list(turn.masks)
            for layer in MaskLayer:
                key = (turn.index, layer)
                if key not in self._touched:
                    continue
                masks = [m for m in masks if m.layer != layer]
                arr = self._arrays[key]
                if arr.any():
                    prov = self.provenance(key) or Provenance(MaskSource.HUMAN, "unknown")
                    masks.append(MaskAnnotation(Mask.from_array(arr), layer, prov))
            changes["masks"] = tuple(masks)
            turns.append(dataclasses.replace(turn, **changes))
        return dataclasses.replace(self._base, turns=tuple(turns), status=self._status)

    def rebase(self, stored: Conversation) -> None:
        """Adopt the stored result of a save (new revision, ids) keeping the working arrays."""
        self._base = stored
        self._touched.clear()
        self._texts.clear()
        self._prov.clear()
        self._status = stored.status
