"""Undoable edits of one record, and the history that holds them.

A command changes a :class:`EditTarget` (the record being edited) in ``do`` and restores it in
``undo``. Mask edits keep only the changed crop, before and after, bit-packed, so a hundred
brush strokes on a 4000x3000 image cost kilobytes rather than a hundred full masks. The history
tracks which position matches what was last saved (the clean index), so the dirty flag is exact:
undoing back to the saved state is clean again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from annotator.core.mask_edit import BoolArray, Rect
from annotator.core.model import MaskLayer, Provenance
from annotator.core.status import Status

LayerKey = tuple[int, MaskLayer]  # (turn index, layer)
TEXT_FIELDS = ("question", "draft_answer", "final_answer")


class EditTarget(Protocol):
    """What commands edit: the working copy of one record."""

    def layer_array(self, key: LayerKey) -> BoolArray: ...

    def layer_changed(self, key: LayerKey, rect: Rect) -> None: ...

    def provenance(self, key: LayerKey) -> Provenance | None: ...

    def set_provenance(self, key: LayerKey, prov: Provenance | None) -> None: ...

    def text(self, turn_index: int, field: str) -> str | None: ...

    def set_text(self, turn_index: int, field: str, value: str | None) -> None: ...

    @property
    def status(self) -> Status: ...

    def set_status(self, status: Status) -> None: ...


class Command(Protocol):
    label: str  # shown in Edit > Undo <label>
    action: str  # history event action: "mask", "question", "final_answer", "status"

    def do(self, target: EditTarget) -> None: ...

    def undo(self, target: EditTarget) -> None: ...

    def detail(self) -> dict[str, Any]: ...

    @property
    def nbytes(self) -> int: ...


@dataclass(frozen=True)
class PackedCrop:
    """A bit-packed boolean crop."""

    shape: tuple[int, int]
    bits: bytes

    @classmethod
    def pack(cls, crop: BoolArray) -> PackedCrop:
        return cls((int(crop.shape[0]), int(crop.shape[1])), np.packbits(crop, axis=None).tobytes())

    def unpack(self) -> BoolArray:
        n = self.shape[0] * self.shape[1]
        flat = np.unpackbits(np.frombuffer(self.bits, dtype=np.uint8), count=n)
        return flat.reshape(self.shape).astype(bool)


@dataclass(frozen=True)
class MaskDelta:
    """A mask edit on one layer, stored as the changed crop before and after."""

    key: LayerKey
    rect: Rect
    before: PackedCrop
    after: PackedCrop
    label: str
    prov_before: Provenance | None = None
    prov_after: Provenance | None = None
    info: dict[str, Any] = field(default_factory=dict)  # tool, prompts, pixel counts
    action: str = "mask"

    @classmethod
    def capture(
        cls,
        key: LayerKey,
        before: BoolArray,
        after: BoolArray,
        rect: Rect,
        label: str,
        *,
        prov_before: Provenance | None = None,
        prov_after: Provenance | None = None,
        info: dict[str, Any] | None = None,
    ) -> MaskDelta:
        """``before``/``after`` are full-size arrays; only ``rect`` of them is kept."""
        sl = rect.slices
        return cls(
            key,
            rect,
            PackedCrop.pack(before[sl]),
            PackedCrop.pack(after[sl]),
            label,
            prov_before,
            prov_after,
            dict(info or {}),
        )

    def _apply(self, target: EditTarget, crop: PackedCrop, prov: Provenance | None) -> None:
        arr = target.layer_array(self.key)
        arr[self.rect.slices] = crop.unpack()
        target.set_provenance(self.key, prov)
        target.layer_changed(self.key, self.rect)

    def do(self, target: EditTarget) -> None:
        self._apply(target, self.after, self.prov_after)

    def undo(self, target: EditTarget) -> None:
        self._apply(target, self.before, self.prov_before)

    def detail(self) -> dict[str, Any]:
        turn, layer = self.key
        r = self.rect
        return {"turn": turn, "layer": str(layer), "rect": [r.x, r.y, r.w, r.h], **self.info}

    @property
    def nbytes(self) -> int:
        return len(self.before.bits) + len(self.after.bits)


@dataclass(frozen=True)
class SetText:
    """Replace one text field of a turn (question, draft answer or verified answer)."""

    turn_index: int
    field_name: str
    before: str | None
    after: str | None
    label: str = "Edit text"

    def __post_init__(self) -> None:
        if self.field_name not in TEXT_FIELDS:
            raise ValueError(f"not an editable text field: {self.field_name}")

    @property
    def action(self) -> str:
        return self.field_name

    def do(self, target: EditTarget) -> None:
        target.set_text(self.turn_index, self.field_name, self.after)

    def undo(self, target: EditTarget) -> None:
        target.set_text(self.turn_index, self.field_name, self.before)

    def detail(self) -> dict[str, Any]:
        return {"turn": self.turn_index, "before": self.before, "after": self.after}

    @property
    def nbytes(self) -> int:
        return len(self.before or "") + len(self.after or "")


@dataclass(frozen=True)
class SetStatus:
    before: Status
    after: Status
    label: str = "Change status"
    action: str = "status"

    def do(self, target: EditTarget) -> None:
        target.set_status(self.after)

    def undo(self, target: EditTarget) -> None:
        target.set_status(self.before)

    def detail(self) -> dict[str, Any]:
        return {"from": str(self.before), "to": str(self.after)}

    @property
    def nbytes(self) -> int:
        return 0


class UndoHistory:
    """A linear undo history with a clean index (the position that matches the saved record).

    ``limit`` bounds the number of steps; the oldest fall off. Once the saved position has been
    dropped or overwritten by a new branch, no position is clean until the next save.
    """

    def __init__(self, limit: int = 500) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are applied
        self._clean: int = 0

    # -- state --------------------------------------------------------------------------
    @property
    def index(self) -> int:
        return self._index

    @property
    def count(self) -> int:
        return len(self._commands)

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def undo_label(self) -> str:
        return self._commands[self._index - 1].label if self.can_undo else ""

    @property
    def redo_label(self) -> str:
        return self._commands[self._index].label if self.can_redo else ""

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._commands)

    def set_clean(self) -> None:
        self._clean = self._index

    def next_undo(self) -> Command | None:
        return self._commands[self._index - 1] if self.can_undo else None

    def next_redo(self) -> Command | None:
        return self._commands[self._index] if self.can_redo else None

    # -- changes ------------------------------------------------------------------------
    def push(self, command: Command, target: EditTarget, *, applied: bool = False) -> None:
        """Record ``command`` (running it first unless it was ``applied`` live, e.g. a stroke)."""
        if not applied:
            command.do(target)
        if self._clean > self._index:
            self._clean = -1  # the saved state was in the redo branch being discarded
        del self._commands[self._index :]
        self._commands.append(command)
        self._index += 1
        overflow = len(self._commands) - self.limit
        if overflow > 0:
            del self._commands[:overflow]
            self._index -= overflow
            self._clean = self._clean - overflow if self._clean >= overflow else -1

    def undo(self, target: EditTarget) -> Command | None:
        if not self.can_undo:
            return None
        self._index -= 1
        command = self._commands[self._index]
        command.undo(target)
        return command

    def redo(self, target: EditTarget) -> Command | None:
        if not self.can_redo:
            return None
        command = self._commands[self._index]
        command.do(target)
        self._index += 1
        return command
