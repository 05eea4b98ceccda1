"""Conversations with their image, turns, masks and flags: bulk add, batched load, save."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.errors import InputError, MaskError, NotFoundError, StorageError
from annotator.core.fingerprint import record_fingerprint
from annotator.core.model import Conversation, HistoryEvent, MaskAnnotation, Turn, utcnow
from annotator.core.progress import Task
from annotator.core.review_rules import check_approvable, verdicts_of
from annotator.core.status import Status, check_transition
from annotator.core.turn_commands import SetDeleted
from annotator.storage import correction, history, verdicts
from annotator.storage import tables as t
from annotator.storage.api_types import AddResult, ConflictError
from annotator.storage.convert import (
    flag_from_row,
    image_from_row,
    image_values,
    mask_from_row,
    mask_values,
    turn_from_row,
    turn_values,
)
from annotator.storage.turn_rows import replace_turns

# Rows per statement when looking keys up with IN (...): well below SQLite's variable limit.
LOOKUP_CHUNK = 500
# Conversations per insert round during an import (progress is reported per chunk).
ADD_CHUNK = 500


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def check_shape(conv: Conversation) -> None:
    """Turn indices are 0..n-1 in order and every mask fits the image."""
    for pos, turn in enumerate(conv.turns):
        if turn.index != pos:
            raise StorageError(
                f"conversation {conv.key or conv.id}: turn at position {pos} has index {turn.index}"
            )
        for ann in turn.masks:
            if ann.mask.size != (conv.image.height, conv.image.width):
                raise MaskError(
                    f"mask {ann.mask.height}x{ann.mask.width} does not fit image "
                    f"{conv.image.height}x{conv.image.width}",
                    record=conv.source or conv.key or conv.id,
                )


# -- add ---------------------------------------------------------------------------------------
def add(
    conn: Connection,
    convs: Sequence[Conversation],
    actor: str,
    task: Task | None,
    action: str = "import",
    detail: Mapping[str, Any] | None = None,
) -> AddResult:
    """``detail`` joins the source in each added conversation's first history event (e.g. a
    model draft's prompt version and raw reply), in the same transaction."""
    task = task or Task()
    task.start(len(convs), "storing conversations")
    for conv in convs:
        check_shape(conv)
    existing = _existing_keys(conn, [cv.key for cv in convs if cv.key])
    fresh: list[Conversation] = []
    skipped = 0
    for conv in convs:
        if conv.key and conv.key in existing:
            skipped += 1
            continue
        if conv.key:
            existing.add(conv.key)  # a duplicate inside the same batch is skipped too
        fresh.append(conv)
    added: list[int] = []
    for chunk in _chunks(fresh, ADD_CHUNK):
        added.extend(_add_chunk(conn, chunk, actor, action, detail or {}))
        task.step(len(chunk))
    task.step(skipped)
    return AddResult(added_ids=added, skipped=skipped)


def _existing_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(set(keys)), LOOKUP_CHUNK):
        found.update(
            conn.execute(
                sa.select(t.conversations.c.key).where(t.conversations.c.key.in_(chunk))
            ).scalars()
        )
    return found


def _image_ids(conn: Connection, convs: Sequence[Conversation]) -> list[int]:
    """Image row ids for each conversation, inserting the images not stored yet."""
    wanted = {(cv.image.root, cv.image.path, cv.image.sha256): cv.image for cv in convs}
    ids: dict[tuple[str, str, str], int] = {}
    paths = sorted({k[1] for k in wanted})
    for chunk in _chunks(paths, LOOKUP_CHUNK):
        rows = conn.execute(
            sa.select(
                t.images.c.id,
                t.images.c.root,
                t.images.c.path,
                t.images.c.sha256,
                t.images.c.width,
                t.images.c.height,
            ).where(t.images.c.path.in_(chunk))
        )
        for r in rows:
            key = (r.root, r.path, r.sha256)
            if key in wanted:
                offered = wanted[key]
                if (offered.width, offered.height) != (r.width, r.height):
                    # One file content has one size: masks of either size would not fit.
                    raise InputError(
                        f"image {r.path} is stored as {r.width}x{r.height}, but a record names "
                        f"it {offered.width}x{offered.height}; nothing was stored"
                    )
                ids[key] = r.id
    missing = [k for k in wanted if k not in ids]
    if missing:
        new_ids = conn.execute(
            sa.insert(t.images).returning(t.images.c.id, sort_by_parameter_order=True),
            [image_values(wanted[k]) for k in missing],
        ).scalars()
        ids.update(zip(missing, new_ids, strict=True))
    return [ids[(cv.image.root, cv.image.path, cv.image.sha256)] for cv in convs]


def _add_chunk(
    conn: Connection,
    convs: Sequence[Conversation],
    actor: str,
    action: str,
    detail: Mapping[str, Any],
) -> list[int]:
    now = utcnow()
    image_ids = _image_ids(conn, convs)
    conv_ids = list(
        conn.execute(
            sa.insert(t.conversations).returning(
                t.conversations.c.id, sort_by_parameter_order=True
            ),
            [
                {
                    "image_id": image_id,
                    "focus": cv.focus,
                    "status": Status(cv.status).value,
                    "source": cv.source,
                    "key": cv.key or None,
                    "revision": 0,
                    "created_at": now,
                    "updated_at": now,
                    "turn_count": len(cv.turns),
                    "flag_count": len(cv.flags),
                    "last_reviewer": None,
                    "last_editor": actor,
                    "correction_pixels": None,
                }
                for cv, image_id in zip(convs, image_ids, strict=True)
            ],
        ).scalars()
    )
    turn_rows = [
        turn_values(cid, turn) for cv, cid in zip(convs, conv_ids, strict=True) for turn in cv.turns
    ]
    turn_ids: list[int] = []
    if turn_rows:
        turn_ids = list(
            conn.execute(
                sa.insert(t.turns).returning(t.turns.c.id, sort_by_parameter_order=True), turn_rows
            ).scalars()
        )
    mask_rows: list[dict[str, Any]] = []
    tid = iter(turn_ids)
    for cv, cid in zip(convs, conv_ids, strict=True):
        for turn in cv.turns:
            turn_id = next(tid)
            mask_rows.extend(
                mask_values(cid, turn_id, pos, ann) for pos, ann in enumerate(turn.masks)
            )
    if mask_rows:
        conn.execute(sa.insert(t.masks), mask_rows)
    flag_rows = [
        {"conversation_id": cid, "code": f.code.value, "message": f.message}
        for cv, cid in zip(convs, conv_ids, strict=True)
        for f in cv.flags
    ]
    if flag_rows:
        conn.execute(sa.insert(t.flags), flag_rows)
    history.record_many(
        conn,
        [
            (cid, HistoryEvent(actor=actor, action=action, detail={**detail, "source": cv.source}))
            for cv, cid in zip(convs, conv_ids, strict=True)
        ],
    )
    return conv_ids


# -- load --------------------------------------------------------------------------------------
def load(conn: Connection, ids: Sequence[int]) -> list[Conversation]:
    """Full conversations for ``ids``, in the order given (missing ids are left out)."""
    if not ids:
        return []
    id_list = list(ids)
    conv_rows = {
        r["id"]: r
        for r in conn.execute(
            sa.select(t.conversations).where(t.conversations.c.id.in_(id_list))
        ).mappings()
    }
    image_ids = {r["image_id"] for r in conv_rows.values()}
    images = {
        r["id"]: image_from_row(r)
        for r in conn.execute(sa.select(t.images).where(t.images.c.id.in_(image_ids))).mappings()
    }
    masks_by_turn: dict[int, list[MaskAnnotation]] = defaultdict(list)
    for r in conn.execute(
        sa.select(t.masks)
        .where(t.masks.c.conversation_id.in_(id_list))
        .order_by(t.masks.c.turn_id, t.masks.c.position, t.masks.c.id)
    ).mappings():
        masks_by_turn[r["turn_id"]].append(mask_from_row(r))
    turns_by_conv: dict[int, list[Turn]] = defaultdict(list)
    for r in conn.execute(
        sa.select(t.turns)
        .where(t.turns.c.conversation_id.in_(id_list))
        .order_by(t.turns.c.conversation_id, t.turns.c.idx)
    ).mappings():
        turns_by_conv[r["conversation_id"]].append(turn_from_row(r, masks_by_turn[r["id"]]))
    flags_by_conv: dict[int, list[Any]] = defaultdict(list)
    for r in conn.execute(
        sa.select(t.flags).where(t.flags.c.conversation_id.in_(id_list)).order_by(t.flags.c.id)
    ).mappings():
        flags_by_conv[r["conversation_id"]].append(flag_from_row(r))
    out: list[Conversation] = []
    for cid in id_list:
        row = conv_rows.get(cid)
        if row is None:
            continue
        out.append(
            Conversation(
                image=images[row["image_id"]],
                focus=row["focus"],
                turns=tuple(turns_by_conv[cid]),
                status=Status(row["status"]),
                source=row["source"],
                key=row["key"] or "",
                flags=tuple(flags_by_conv[cid]),
                updated_at=row["updated_at"],
                revision=row["revision"],
                id=cid,
                deleted_at=row["deleted_at"],
            )
        )
    return out


def require(conn: Connection, conv_id: int) -> None:
    """NotFoundError for an unknown id (reading its masks only to find it is costly)."""
    found = conn.execute(
        sa.select(t.conversations.c.id).where(t.conversations.c.id == conv_id)
    ).first()
    if found is None:
        raise NotFoundError(f"conversation {conv_id} does not exist")


def load_one(conn: Connection, conv_id: int) -> Conversation:
    found = load(conn, [conv_id])
    if not found:
        raise NotFoundError(f"conversation {conv_id} does not exist")
    return found[0]


# -- save --------------------------------------------------------------------------------------
def save(
    conn: Connection, conv: Conversation, actor: str, events: Sequence[HistoryEvent]
) -> Conversation:
    if conv.id is None:
        raise NotFoundError("cannot save a conversation that was never stored (id is None)")
    check_shape(conv)
    cid = conv.id
    current = conn.execute(
        sa.select(
            t.conversations.c.status,
            t.conversations.c.revision,
            t.conversations.c.focus,
            t.conversations.c.stale_verdicts,
        ).where(t.conversations.c.id == cid)
    ).first()
    if current is None:
        raise NotFoundError(f"conversation {cid} does not exist")
    if current.revision != conv.revision:
        raise ConflictError(cid, conv.revision, current.revision)
    old_status, new_status = Status(current.status), Status(conv.status)
    why = ""
    if old_status == new_status == Status.APPROVED and _content_changed(conn, conv):
        # An approval covers the content it saw: an edit sends the record back to review.
        new_status, why = Status.IN_REVIEW, "edited after approval"
    check_transition(old_status, new_status)
    stored_reviews = verdicts.load(conn, cid)
    if new_status == Status.APPROVED and old_status != Status.APPROVED:
        check_approvable(conv, verdicts_of(stored_reviews, conv.turns))
    now = utcnow()
    updated = conn.execute(
        sa.update(t.conversations)
        .where(t.conversations.c.id == cid, t.conversations.c.revision == conv.revision)
        .values(
            focus=conv.focus,
            status=new_status.value,
            source=conv.source,
            revision=t.conversations.c.revision + 1,
            updated_at=now,
            turn_count=len(conv.turns),
            flag_count=len(conv.flags),
            deleted_at=conv.deleted_at,
        )
    )
    if updated.rowcount != 1:  # another writer got in between the read and the update
        stored = conn.execute(
            sa.select(t.conversations.c.revision).where(t.conversations.c.id == cid)
        ).scalar_one()
        raise ConflictError(cid, conv.revision, stored)
    focus_changed = current.focus != conv.focus
    if replace_turns(conn, cid, conv.turns, now=now, focus_changed=focus_changed) or focus_changed:
        # On PostgreSQL the database's triggers write the login role instead (migration 0005).
        conn.execute(
            sa.update(t.conversations).where(t.conversations.c.id == cid).values(last_editor=actor)
        )
    conn.execute(sa.delete(t.flags).where(t.flags.c.conversation_id == cid))
    if conv.flags:
        conn.execute(
            sa.insert(t.flags),
            [
                {"conversation_id": cid, "code": f.code.value, "message": f.message}
                for f in conv.flags
            ],
        )
    recorded = list(events)
    if new_status != old_status:
        detail = {"from": old_status.value, "to": new_status.value}
        if why:
            detail["why"] = why
        recorded.append(HistoryEvent(actor=actor, action="status", detail=detail, created_at=now))
    history.record(conn, cid, recorded)
    correction.refresh(conn, cid)
    saved = load_one(conn, cid)
    if stored_reviews or current.stale_verdicts:
        verdicts.refresh_stale(conn, saved, stored_reviews)
    return saved


def _content_changed(conn: Connection, conv: Conversation) -> bool:
    assert conv.id is not None
    return record_fingerprint(load_one(conn, conv.id)) != record_fingerprint(conv)


# -- soft delete -------------------------------------------------------------------------------
def set_deleted(conn: Connection, conv_id: int, deleted: bool, actor: str) -> Conversation:
    """Hide a conversation from lists and exports (``deleted``), or bring it back; one history
    event either way. Its rows stay: a restore gives back everything."""
    now = utcnow()
    updated = conn.execute(
        sa.update(t.conversations)
        .where(t.conversations.c.id == conv_id, t.LIVE if deleted else t.DELETED)
        .values(
            deleted_at=now if deleted else None,
            revision=t.conversations.c.revision + 1,
            updated_at=now,
        )
    )
    if updated.rowcount != 1:
        require(conn, conv_id)
        state = "is deleted already" if deleted else "is not deleted"
        raise StorageError(f"conversation {conv_id} {state}")
    action = SetDeleted(deleted).action  # the history reads as the app's undoable step
    history.record(conn, conv_id, [HistoryEvent(actor=actor, action=action, created_at=now)])
    return load_one(conn, conv_id)
