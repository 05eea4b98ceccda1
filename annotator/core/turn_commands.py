"""Undoable changes to a conversation's shape: its focus, and adding, removing and moving
turns. A turn carries its texts and masks when it moves or is removed (undoing a removal puts
them back); commands address turns by index, which a linear history keeps valid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from annotator.core.commands import EditTarget
from annotator.core.model import Turn


class TurnsTarget(EditTarget, Protocol):
    """A record whose turns can be added, removed and moved, and whose focus can change."""

    @property
    def focus(self) -> str: ...

    def set_focus(self, focus: str) -> None: ...

    def insert_turn(self, index: int, turn: Turn) -> None: ...

    def remove_turn(self, index: int) -> Turn: ...

    def move_turn(self, source: int, dest: int) -> None: ...

    @property
    def deleted(self) -> bool: ...

    def set_deleted(self, deleted: bool) -> None: ...


@dataclass(frozen=True)
class SetFocus:
    before: str
    after: str
    label: str = "Edit focus"
    action: str = "focus"

    def do(self, target: TurnsTarget) -> None:
        target.set_focus(self.after)

    def undo(self, target: TurnsTarget) -> None:
        target.set_focus(self.before)

    def detail(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after}

    @property
    def nbytes(self) -> int:
        return len(self.before) + len(self.after)


def _turn_bytes(turn: Turn) -> int:
    texts = (turn.question, turn.draft_answer, turn.final_answer or "")
    return sum(map(len, texts)) + sum(len(a.mask.counts) for a in turn.masks)


@dataclass(frozen=True)
class AddTurn:
    index: int
    turn: Turn  # what goes in (an empty turn, usually)
    label: str = "Add turn"
    action: str = "turn_add"

    def do(self, target: TurnsTarget) -> None:
        target.insert_turn(self.index, self.turn)

    def undo(self, target: TurnsTarget) -> None:
        target.remove_turn(self.index)

    def detail(self) -> dict[str, Any]:
        return {"turn": self.index}

    @property
    def nbytes(self) -> int:
        return _turn_bytes(self.turn)


@dataclass(frozen=True)
class RemoveTurn:
    index: int
    turn: Turn  # as it stood when removed: what an undo puts back
    label: str = "Remove turn"
    action: str = "turn_remove"

    def do(self, target: TurnsTarget) -> None:
        target.remove_turn(self.index)

    def undo(self, target: TurnsTarget) -> None:
        target.insert_turn(self.index, self.turn)

    def detail(self) -> dict[str, Any]:
        t = self.turn
        return {
            "turn": self.index,
            "question": t.question,
            "answer": t.draft_answer,
            "masks": [str(a.layer) for a in t.masks],
        }

    @property
    def nbytes(self) -> int:
        return _turn_bytes(self.turn)


@dataclass(frozen=True)
class MoveTurn:
    source: int
    dest: int
    label: str = "Move turn"
    action: str = "turn_move"

    def do(self, target: TurnsTarget) -> None:
        target.move_turn(self.source, self.dest)

    def undo(self, target: TurnsTarget) -> None:
        target.move_turn(self.dest, self.source)

    def detail(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.dest}

    @property
    def nbytes(self) -> int:
        return 0


@dataclass(frozen=True)
class SetDeleted:
    """Soft-delete the conversation (out of lists and exports) or restore it."""

    deleted: bool

    @property
    def label(self) -> str:
        return "Delete conversation" if self.deleted else "Restore conversation"

    @property
    def action(self) -> str:
        return "delete" if self.deleted else "undelete"  # "restore": a rescue file's import

    def do(self, target: TurnsTarget) -> None:
        target.set_deleted(self.deleted)

    def undo(self, target: TurnsTarget) -> None:
        target.set_deleted(not self.deleted)

    def detail(self) -> dict[str, Any]:
        return {}

    @property
    def nbytes(self) -> int:
        return 0
