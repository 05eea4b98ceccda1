"""A save that met a newer revision: mine (the working copy) beside theirs (the stored record),
and the merge the user chooses.

Turns are paired by index; a turn that one side has and the other has not is *absent* on the
other side. Per pair the view holds the three texts and, per mask layer, both masks (each the
union of the layer's annotations) with their IoU and the pixels that differ; the record-level
fields (focus, status, deleted) are one more pair. ``base`` (the stored version the working copy
started from) tells who changed what, which gives each pair its default: the side that edited it,
mine where both did.

:meth:`SaveConflict.merge` builds the conversation to save on theirs (their revision, ids, flags)
with the chosen side's content per pair, and ONE history event ``merge`` whose detail holds both
revisions, every choice, and the side that was not kept wherever it differs (its texts, and its
masks as COCO RLE with their provenance), so a reader of history can recover it
(:func:`discarded_turns`). The detail is bounded by one version of the record: only pairs that
differ, each at most one turn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from annotator.core.correction import MaskDiff, mask_diff
from annotator.core.errors import InputError, MaskError
from annotator.core.mask import Mask, union
from annotator.core.model import (
    Conversation,
    HistoryEvent,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.core.status import ALLOWED, Status

TEXT_FIELDS = ("question", "draft_answer", "final_answer")
MERGE_ACTION = "merge"


class Side(StrEnum):
    MINE = "mine"
    THEIRS = "theirs"


# -- the view -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextPair:
    field: str  # a Turn field name, or "focus"
    mine: str | None  # None: not verified yet (final_answer), or the turn is absent
    theirs: str | None

    @property
    def changed(self) -> bool:
        return self.mine != self.theirs


@dataclass(frozen=True)
class LayerPair:
    """One mask layer of one turn on both sides (None: the turn is absent on that side)."""

    layer: MaskLayer
    mine: Mask | None
    theirs: Mask | None
    diff: MaskDiff  # theirs -> mine: ``added`` only in mine, ``removed`` only in theirs

    @property
    def changed(self) -> bool:
        return self.diff.changed > 0

    @property
    def only_mine(self) -> int:
        return self.diff.added

    @property
    def only_theirs(self) -> int:
        return self.diff.removed

    @property
    def iou(self) -> float | None:
        """None when both are empty."""
        return self.diff.iou


@dataclass(frozen=True)
class TurnConflict:
    index: int
    mine: Turn | None  # None: absent on this side
    theirs: Turn | None
    texts: tuple[TextPair, ...]
    layers: tuple[LayerPair, ...]  # every layer either side has a mask on
    mine_edited: bool  # differs from the version both started from
    theirs_edited: bool

    @property
    def changed(self) -> bool:
        return (
            (self.mine is None) != (self.theirs is None)
            or any(t.changed for t in self.texts)
            or any(layer.changed for layer in self.layers)
        )

    @property
    def default(self) -> Side:
        return _default(self.changed, self.mine_edited, self.theirs_edited)


@dataclass(frozen=True)
class RecordConflict:
    focus: TextPair
    status: tuple[Status, Status]  # (mine, theirs)
    deleted: tuple[bool, bool]
    mine_edited: bool
    theirs_edited: bool

    @property
    def changed(self) -> bool:
        return (
            self.focus.changed
            or self.status[0] != self.status[1]
            or self.deleted[0] != self.deleted[1]
        )

    @property
    def default(self) -> Side:
        return _default(self.changed, self.mine_edited, self.theirs_edited)


def _default(changed: bool, mine_edited: bool, theirs_edited: bool) -> Side:
    """Keep whoever changed it; where both did, mine (the user decides in the dialog)."""
    if changed and mine_edited:
        return Side.MINE
    return Side.THEIRS


@dataclass(frozen=True)
class MergeChoice:
    """Which side to keep: for the record's own fields and for each turn, by index."""

    record: Side
    turns: tuple[Side, ...]

    @classmethod
    def all_of(cls, side: Side, turns: int) -> MergeChoice:
        return cls(side, (side,) * turns)


@dataclass(frozen=True)
class Merge:
    conversation: Conversation  # on theirs' revision: it saves
    event: HistoryEvent


@dataclass(frozen=True)
class SaveConflict:
    conv_id: int
    base: Conversation  # the stored version the working copy started from
    mine: Conversation  # the working copy
    theirs: Conversation  # stored now
    theirs_by: str  # who made the latest stored change ("" when unknown)
    record: RecordConflict
    turns: tuple[TurnConflict, ...]

    @property
    def mine_revision(self) -> int:
        return self.base.revision

    @property
    def theirs_revision(self) -> int:
        return self.theirs.revision

    @property
    def changed_turns(self) -> list[int]:
        return [t.index for t in self.turns if t.changed]

    def default_choices(self) -> MergeChoice:
        return MergeChoice(self.record.default, tuple(t.default for t in self.turns))

    def choose_all(self, side: Side) -> MergeChoice:
        return MergeChoice.all_of(side, len(self.turns))

    def merge(self, choice: MergeChoice, *, actor: str) -> Merge:
        if len(choice.turns) != len(self.turns):
            raise ValueError(f"{len(choice.turns)} choices for {len(self.turns)} turns")
        merged: list[Turn] = []
        for pair, side in zip(self.turns, choice.turns, strict=True):
            turn = pair.mine if side == Side.MINE else pair.theirs
            if turn is None:
                continue  # absent on the kept side: the turn goes
            # Theirs' row at this index carries mine's content, so proposals and reviews kept
            # by index stay with it; a turn only mine has is a new row.
            row = pair.theirs.id if pair.theirs is not None else None
            masks = turn.masks if row is not None else _unsaved(turn.masks)
            merged.append(dataclasses.replace(turn, index=len(merged), id=row, masks=masks))
        kept = self.mine if choice.record == Side.MINE else self.theirs
        status = kept.status
        if status != self.theirs.status and status not in ALLOWED[self.theirs.status]:
            status = self.theirs.status  # the workflow allows no such move (e.g. out of approved)
        conversation = dataclasses.replace(
            self.theirs,
            focus=kept.focus,
            status=status,
            deleted_at=kept.deleted_at,
            turns=tuple(merged),
        )
        return Merge(conversation, HistoryEvent(actor, MERGE_ACTION, self._detail(choice)))

    def _detail(self, choice: MergeChoice) -> dict[str, Any]:
        """What the history keeps of the merge (JSON values only)."""
        lost_turns: list[dict[str, Any]] = []
        for pair, side in zip(self.turns, choice.turns, strict=True):
            if not pair.changed:
                continue
            other = Side.THEIRS if side == Side.MINE else Side.MINE
            turn = pair.theirs if other == Side.THEIRS else pair.mine
            lost_turns.append({"turn": pair.index, "side": str(other), **_turn_json(turn)})
        detail: dict[str, Any] = {
            "mine_revision": self.mine_revision,
            "theirs_revision": self.theirs_revision,
            "record": str(choice.record),
            "turns": [str(side) for side in choice.turns],
            "discarded_turns": lost_turns,
        }
        if self.record.changed:
            other_record = self.theirs if choice.record == Side.MINE else self.mine
            detail["discarded_record"] = {
                "side": str(Side.THEIRS if choice.record == Side.MINE else Side.MINE),
                "focus": other_record.focus,
                "status": str(other_record.status),
                "deleted": other_record.deleted_at is not None,
            }
        return detail

    def summary(self, choice: MergeChoice) -> str:
        """What ``choice`` keeps, in a few words, turns counted from 1: "mine on turns 1, 3;
        theirs on turn 2" ("" when the two sides are the same)."""
        kept = [
            (p.index + 1, s) for p, s in zip(self.turns, choice.turns, strict=True) if p.changed
        ]
        parts: list[str] = []
        for side in Side:
            numbers = [n for n, s in kept if s == side]
            if numbers:
                parts.append(f"{side} on turn{'s' if len(numbers) > 1 else ''} {_listed(numbers)}")
        if self.record.changed:
            parts.append(f"{choice.record} for the focus and status")
        return "; ".join(parts)


def _listed(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _unsaved(masks: tuple[MaskAnnotation, ...]) -> tuple[MaskAnnotation, ...]:
    return tuple(dataclasses.replace(m, id=None) for m in masks)


# -- building the view ------------------------------------------------------------------------
def compare(
    base: Conversation, mine: Conversation, theirs: Conversation, *, theirs_by: str = ""
) -> SaveConflict:
    """The view of a conflict between the working copy ``mine`` (started from ``base``) and
    ``theirs``, stored since."""
    if mine.id is None or mine.id != theirs.id:
        raise ValueError(f"records {mine.id} and {theirs.id} are not one record")
    size = (theirs.image.height, theirs.image.width)
    count = max(len(mine.turns), len(theirs.turns))
    turns = tuple(
        _turn_conflict(i, _at(mine, i), _at(theirs, i), _at(base, i), size) for i in range(count)
    )
    record = RecordConflict(
        focus=TextPair("focus", mine.focus, theirs.focus),
        status=(mine.status, theirs.status),
        deleted=(mine.deleted_at is not None, theirs.deleted_at is not None),
        mine_edited=_record_fields(mine) != _record_fields(base),
        theirs_edited=_record_fields(theirs) != _record_fields(base),
    )
    return SaveConflict(mine.id, base, mine, theirs, theirs_by, record, turns)


def _at(conv: Conversation, index: int) -> Turn | None:
    return conv.turns[index] if index < len(conv.turns) else None


def _record_fields(conv: Conversation) -> tuple[str, Status, bool]:
    return (conv.focus, conv.status, conv.deleted_at is not None)


def _texts(turn: Turn | None) -> tuple[str | None, ...]:
    return tuple(getattr(turn, f) if turn is not None else None for f in TEXT_FIELDS)


def _layer_mask(turn: Turn | None, layer: MaskLayer, size: tuple[int, int]) -> Mask | None:
    if turn is None:
        return None
    anns = turn.layer(layer)
    if len(anns) == 1:
        return anns[0].mask
    return union((a.mask for a in anns), *size)


def _same_content(a: Turn | None, b: Turn | None, size: tuple[int, int]) -> bool:
    """Texts and masks (by pixels, not by who made them) are the same."""
    if a is None or b is None:
        return a is b
    if _texts(a) != _texts(b):
        return False
    for layer in MaskLayer:
        ma, mb = _layer_mask(a, layer, size), _layer_mask(b, layer, size)
        if ma != mb and not (ma is not None and mb is not None and ma.area == mb.area == 0):
            return False
    return True


def _pair_diff(mine: Mask | None, theirs: Mask | None, size: tuple[int, int]) -> MaskDiff:
    if mine is not None and mine == theirs:  # canonical RLE: equal counts, equal pixels
        return MaskDiff(0, 0, 1.0 if mine.area else None)
    empty = np.zeros(size, dtype=bool)
    a = mine.to_array() if mine is not None else empty
    b = theirs.to_array() if theirs is not None else empty
    return mask_diff(b, a)


def _turn_conflict(
    index: int, mine: Turn | None, theirs: Turn | None, base: Turn | None, size: tuple[int, int]
) -> TurnConflict:
    texts = tuple(
        TextPair(f, m, t) for f, m, t in zip(TEXT_FIELDS, _texts(mine), _texts(theirs), strict=True)
    )
    layers: list[LayerPair] = []
    for layer in sorted(MaskLayer, key=lambda m: m != MaskLayer.FINAL):  # the verified first
        m, t = _layer_mask(mine, layer, size), _layer_mask(theirs, layer, size)
        if (m is None or m.is_empty) and (t is None or t.is_empty):
            continue  # nothing to show on either side
        layers.append(LayerPair(layer, m, t, _pair_diff(m, t, size)))
    return TurnConflict(
        index,
        mine,
        theirs,
        texts,
        tuple(layers),
        mine_edited=not _same_content(mine, base, size),
        theirs_edited=not _same_content(theirs, base, size),
    )


# -- the history's copy of the side not kept ----------------------------------------------------
def _turn_json(turn: Turn | None) -> dict[str, Any]:
    if turn is None:
        return {"absent": True}
    return {
        "absent": False,
        **{f: getattr(turn, f) for f in TEXT_FIELDS},
        "masks": [
            {
                "layer": str(a.layer),
                "rle": a.mask.to_rle(),
                "label": a.label,
                "source": str(a.provenance.source),
                "author": a.provenance.author,
                "created_at": a.provenance.created_at.isoformat(),
            }
            for a in turn.masks
        ],
    }


def discarded_turns(event: HistoryEvent, height: int, width: int) -> dict[int, Turn | None]:
    """The turns a merge did not keep, by index, as they stood (None: the turn was absent on
    the discarded side). Masks are checked against the image size before they are decoded."""
    if event.action != MERGE_ACTION:
        raise InputError(f"history event {event.id} is a {event.action!r}, not a merge")
    entries = event.detail.get("discarded_turns")
    if not isinstance(entries, list):
        raise InputError("the merge event has no list of discarded turns", record=event.id)
    out: dict[int, Turn | None] = {}
    for n, entry in enumerate(entries):
        where = f"{event.id}, discarded turn {n}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("turn"), int):
            raise InputError("a discarded turn has no index", record=where)
        index = int(entry["turn"])
        if entry.get("absent") is True:
            out[index] = None
            continue
        out[index] = _turn_from_json(entry, index, (height, width), where)
    return out


def _turn_from_json(
    entry: Mapping[str, Any], index: int, size: tuple[int, int], where: str
) -> Turn:
    question, draft, final = (entry.get(f) for f in TEXT_FIELDS)
    if not isinstance(question, str) or not isinstance(draft, str):
        raise InputError("a discarded turn's question or draft answer is not text", record=where)
    if final is not None and not isinstance(final, str):
        raise InputError("a discarded turn's answer is not text", record=where)
    raw_masks = entry.get("masks")
    if not isinstance(raw_masks, list):
        raise InputError("a discarded turn has no list of masks", record=where)
    masks: list[MaskAnnotation] = []
    for m in raw_masks:
        if not isinstance(m, Mapping):
            raise InputError("a discarded mask is not an object", record=where)
        try:
            layer = MaskLayer(m.get("layer"))
            source = MaskSource(m.get("source"))
            mask = Mask.from_rle(m.get("rle"), expect_size=size)
        except (ValueError, MaskError) as exc:
            raise InputError(f"a discarded mask is not readable: {exc}", record=where) from exc
        author, label = m.get("author", ""), m.get("label", "")
        prov = Provenance(source, author if isinstance(author, str) else "")
        masks.append(MaskAnnotation(mask, layer, prov, label if isinstance(label, str) else ""))
    return Turn(index, question, draft, final, tuple(masks))
