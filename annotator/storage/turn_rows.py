"""Saving a conversation's turns: texts, masks, and the turn structure (added, removed and
reordered turns).

Turns are matched to their rows by id, so a moved turn keeps its row and its masks, and the
proposals and reviews of each turn (kept by turn index) follow it to its new index; those of a
removed turn go with it. Turns without ids (a file's records, written over stored ones) are
matched by index, as before turns could move. A turn whose question or answers change, or the
target turn when the focus changes, records when (``text_changed_at``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.commands import TEXT_FIELDS
from annotator.core.model import Turn
from annotator.storage import tables as t
from annotator.storage.convert import mask_values, turn_values


@dataclass(frozen=True)
class _Stored:
    id: int
    idx: int
    texts: tuple[str | None, ...]  # TEXT_FIELDS, in order


def replace_turns(
    conn: Connection, cid: int, turns: Sequence[Turn], *, now: datetime, focus_changed: bool
) -> bool:
    """Write what changed; True when any turn or mask row was written or removed."""
    stored = {
        r.id: _Stored(r.id, r.idx, tuple(getattr(r, n) for n in TEXT_FIELDS))
        for r in conn.execute(
            sa.select(t.turns.c.id, t.turns.c.idx, *(t.turns.c[n] for n in TEXT_FIELDS)).where(
                t.turns.c.conversation_id == cid
            )
        )
    }
    rows = _match(stored, turns)  # position -> stored row (None: a new turn)
    kept = {row.id: pos for pos, row in enumerate(rows) if row is not None}
    gone = [row for row in stored.values() if row.id not in kept]
    _follow_turns(conn, cid, {stored[i].idx: pos for i, pos in kept.items()}, gone)
    written = bool(gone)
    if gone:
        ids = [row.id for row in gone]
        conn.execute(sa.delete(t.masks).where(t.masks.c.turn_id.in_(ids)))
        conn.execute(sa.delete(t.turns).where(t.turns.c.id.in_(ids)))
    moved = [turn_id for turn_id, pos in kept.items() if stored[turn_id].idx != pos]
    if moved:  # off the unique (conversation, idx) range first: any order of moves is allowed
        conn.execute(
            sa.update(t.turns).where(t.turns.c.id.in_(moved)).values(idx=-1 - t.turns.c.idx)
        )
    stored_masks = {
        r["id"]: dict(r)
        for r in conn.execute(sa.select(t.masks).where(t.masks.c.conversation_id == cid)).mappings()
    }
    last = len(turns) - 1
    kept_masks: set[int] = set()
    inserts: list[dict[str, Any]] = []
    for pos, (turn, row) in enumerate(zip(turns, rows, strict=True)):
        values = turn_values(cid, turn)
        values["idx"] = pos
        texts = tuple(getattr(turn, n) for n in TEXT_FIELDS)
        changed = row is None or row.texts != texts
        stamp = changed or (focus_changed and pos == last)
        if stamp:
            values["text_changed_at"] = now
        written = written or row is None or stamp or row.idx != pos
        if row is None:
            turn_id = conn.execute(
                sa.insert(t.turns).values(values).returning(t.turns.c.id)
            ).scalar_one()
        else:
            turn_id = row.id
            if stamp or row.idx != pos:
                conn.execute(sa.update(t.turns).where(t.turns.c.id == turn_id).values(values))
        for mpos, ann in enumerate(turn.masks):
            mrow = mask_values(cid, turn_id, mpos, ann)
            old = stored_masks.get(ann.id) if ann.id is not None else None
            if old is not None and old["turn_id"] == turn_id and ann.id not in kept_masks:
                kept_masks.add(ann.id)
                if any(old[k] != v for k, v in mrow.items()):  # most masks did not change
                    written = True
                    conn.execute(sa.update(t.masks).where(t.masks.c.id == ann.id).values(mrow))
            else:
                inserts.append(mrow)
    stale = [mid for mid in stored_masks if mid not in kept_masks]
    if stale:
        conn.execute(sa.delete(t.masks).where(t.masks.c.id.in_(stale)))
    if inserts:
        conn.execute(sa.insert(t.masks), inserts)
    return written or bool(stale) or bool(inserts)


def _match(stored: dict[int, _Stored], turns: Sequence[Turn]) -> list[_Stored | None]:
    if any(turn.id in stored for turn in turns):
        return [stored.get(turn.id) if turn.id is not None else None for turn in turns]
    by_index = {row.idx: row for row in stored.values()}
    return [by_index.get(pos) for pos in range(len(turns))]


def _follow_turns(
    conn: Connection, cid: int, moved: dict[int, int], gone: Sequence[_Stored]
) -> None:
    """Proposals and turn reviews are kept by index: they follow their turn (old -> new
    index), and those of a removed turn are removed with it."""
    gone_idx = [row.idx for row in gone]
    changes = {old: new for old, new in moved.items() if old != new}
    for table in (t.proposals, t.reviews):
        if gone_idx:
            conn.execute(
                sa.delete(table).where(
                    table.c.conversation_id == cid, table.c.turn_index.in_(gone_idx)
                )
            )
        if not changes:
            continue
        mapping = sa.case(changes, value=table.c.turn_index, else_=table.c.turn_index)
        conn.execute(
            sa.update(table)
            .where(table.c.conversation_id == cid, table.c.turn_index.in_(list(changes)))
            .values(turn_index=mapping)
        )
