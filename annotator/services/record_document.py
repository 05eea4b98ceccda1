"""The working copy of one record while it is being edited.

Each turn is a slot: the turn as last stored, the texts changed since, and its masks as
full-size boolean arrays per layer, decoded lazily from the stored RLE; undo commands edit them
in place. Turns can be added, removed and moved: a slot moves with everything in it, and commands
address turns by their current index (the undo history is linear, so when a command is undone
every later one, moves included, has been undone first and the indices are those it was made
with). ``to_conversation`` turns the working copy back into the frozen domain object that storage
saves; only layers that were touched are re-encoded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

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
    utcnow,
)
from annotator.core.status import Status

LayerListener = Callable[[LayerKey, Rect], None]
TextListener = Callable[[int, str], None]  # turn (-1: the conversation, for its focus), field
StatusListener = Callable[[Status], None]
StructureListener = Callable[[], None]


@dataclass
class _Slot:
    base: Turn  # as last stored (or as inserted)
    texts: dict[str, str | None] = field(default_factory=dict)
    arrays: dict[MaskLayer, BoolArray] = field(default_factory=dict)
    touched: set[MaskLayer] = field(default_factory=set)
    prov: dict[MaskLayer, Provenance | None] = field(default_factory=dict)


class RecordDocument:
    """Implements :class:`annotator.core.turn_commands.TurnsTarget` for one conversation."""

    def __init__(self, conversation: Conversation) -> None:
        self._base = conversation
        h, w = conversation.image.height, conversation.image.width
        self.size = (h, w)
        self._slots = [_Slot(t) for t in conversation.turns]
        self._focus: str | None = None  # None: as stored
        self._deleted: bool | None = None  # None: as stored
        self._status = conversation.status
        self.layer_listeners: list[LayerListener] = []
        self.text_listeners: list[TextListener] = []
        self.status_listeners: list[StatusListener] = []
        self.structure_listeners: list[StructureListener] = []

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
        return len(self._slots)

    @property
    def target_turn(self) -> int:
        return len(self._slots) - 1

    def turn(self, index: int) -> Turn:
        """The turn at ``index`` as last stored (its texts: :meth:`text`)."""
        return self._slots[index].base

    # -- masks --------------------------------------------------------------------------
    def layer_array(self, key: LayerKey) -> BoolArray:
        turn_index, layer = key
        slot = self._slots[turn_index]
        arr = slot.arrays.get(layer)
        if arr is None:
            anns = slot.base.layer(layer)
            h, w = self.size
            if not anns:
                arr = np.zeros((h, w), dtype=bool)
            elif len(anns) == 1:
                arr = anns[0].mask.to_array()
            else:
                arr = union((a.mask for a in anns), h, w).to_array()
            arr = np.ascontiguousarray(arr)
            slot.arrays[layer] = arr
        return arr

    def has_mask(self, key: LayerKey) -> bool:
        turn_index, layer = key
        slot = self._slots[turn_index]
        if layer in slot.arrays:
            return bool(slot.arrays[layer].any())
        return any(not a.mask.is_empty for a in slot.base.layer(layer))

    def layer_changed(self, key: LayerKey, rect: Rect) -> None:
        self._slots[key[0]].touched.add(key[1])
        for listener in list(self.layer_listeners):
            listener(key, rect)

    def provenance(self, key: LayerKey) -> Provenance | None:
        slot = self._slots[key[0]]
        if key[1] in slot.prov:
            return slot.prov[key[1]]
        anns = slot.base.layer(key[1])
        return anns[0].provenance if anns else None

    def set_provenance(self, key: LayerKey, prov: Provenance | None) -> None:
        self._slots[key[0]].prov[key[1]] = prov

    # -- text ---------------------------------------------------------------------------
    def text(self, turn_index: int, field: str) -> str | None:
        slot = self._slots[turn_index]
        if field in slot.texts:
            return slot.texts[field]
        return getattr(slot.base, field)

    def set_text(self, turn_index: int, field: str, value: str | None) -> None:
        self._slots[turn_index].texts[field] = value
        self._notify_text(turn_index, field)

    @property
    def focus(self) -> str:
        return self._base.focus if self._focus is None else self._focus

    def set_focus(self, focus: str) -> None:
        self._focus = focus
        self._notify_text(-1, "focus")

    def _notify_text(self, turn_index: int, field: str) -> None:
        for listener in list(self.text_listeners):
            listener(turn_index, field)

    # -- structure ----------------------------------------------------------------------
    def insert_turn(self, index: int, turn: Turn) -> None:
        """Put ``turn`` (texts and masks as they stood) at ``index``; later turns move down."""
        slot = _Slot(turn)
        # Its masks are written again (the rows may be gone), whatever they were.
        slot.touched.update(a.layer for a in turn.masks)
        self._slots.insert(index, slot)
        self._notify_structure()

    def remove_turn(self, index: int) -> Turn:
        """Take the turn at ``index`` out and return it as it stood (see :meth:`snapshot`)."""
        turn = self.snapshot(index)
        del self._slots[index]
        self._notify_structure()
        return turn

    def move_turn(self, source: int, dest: int) -> None:
        self._slots.insert(dest, self._slots.pop(source))
        self._notify_structure()

    def snapshot(self, index: int) -> Turn:
        """The turn at ``index`` with its current texts and masks, as storage would save it."""
        return self._turn_for_saving(index, self._slots[index])

    def _notify_structure(self) -> None:
        for listener in list(self.structure_listeners):
            listener()

    @property
    def deleted(self) -> bool:
        return self._base.deleted_at is not None if self._deleted is None else self._deleted

    def set_deleted(self, deleted: bool) -> None:
        self._deleted = deleted
        self._notify_text(-1, "deleted")

    # -- status -------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    def set_status(self, status: Status) -> None:
        self._status = status
        for listener in list(self.status_listeners):
            listener(status)

    # -- saving -------------------------------------------------------------------------
    def _turn_for_saving(self, index: int, slot: _Slot) -> Turn:
        turn = slot.base
        changes: dict[str, object] = dict(slot.texts)
        masks = list(turn.masks)
        for layer in MaskLayer:
            if layer not in slot.touched:
                continue
            masks = [m for m in masks if m.layer != layer]
            arr = slot.arrays.get(layer)
            if arr is None:  # touched by an insert: the masks it came with
                masks.extend(m for m in turn.masks if m.layer == layer)
            elif arr.any():
                prov = self.provenance((index, layer)) or Provenance(MaskSource.HUMAN, "unknown")
                masks.append(MaskAnnotation(Mask.from_array(arr), layer, prov))
        changes["masks"] = tuple(masks)
        changes["index"] = index
        return dataclasses.replace(turn, **changes)

    def to_conversation(self) -> Conversation:
        """The working copy as a domain object, carrying the base revision."""
        turns = tuple(self._turn_for_saving(i, slot) for i, slot in enumerate(self._slots))
        deleted_at = self._base.deleted_at
        if self._deleted is not None and self._deleted != (deleted_at is not None):
            deleted_at = utcnow() if self._deleted else None
        return dataclasses.replace(
            self._base, turns=turns, status=self._status, focus=self.focus, deleted_at=deleted_at
        )

    def rebase(self, stored: Conversation, *, replace: bool = False) -> None:
        """Adopt the stored result of a save (new revision, ids) keeping the working arrays;
        a stored version whose turns are not ours in our order (changed elsewhere) replaces
        the working copy, and so does any with ``replace`` (a merge kept some of theirs)."""
        self._base = stored
        self._focus = None
        self._deleted = None
        self._status = stored.status
        ours = len(stored.turns) == len(self._slots) and all(
            slot.base.id in (None, turn.id)
            for slot, turn in zip(self._slots, stored.turns, strict=True)
        )
        if replace or not ours:
            self._slots = [_Slot(t) for t in stored.turns]
            self._notify_structure()
            return
        for slot, turn in zip(self._slots, stored.turns, strict=True):
            slot.base = turn
            slot.texts.clear()
            slot.touched.clear()
            slot.prov.clear()
