"""The project's reason codes: added, renamed and retired by the team, never deleted (old
reviews keep naming them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.errors import NotFoundError, WorkflowError
from annotator.core.model import REASON_CODE, ReasonEntry, utcnow
from annotator.storage import tables as t


def load(conn: Connection, *, include_retired: bool = False) -> list[ReasonEntry]:
    query = sa.select(t.reason_codes).order_by(t.reason_codes.c.position, t.reason_codes.c.code)
    if not include_retired:
        query = query.where(t.reason_codes.c.retired_at.is_(None))
    return [ReasonEntry(r.code, r.label, r.retired_at is not None) for r in conn.execute(query)]


def require_active(conn: Connection, code: str) -> None:
    row = conn.execute(
        sa.select(t.reason_codes.c.retired_at).where(t.reason_codes.c.code == code)
    ).first()
    if row is None:
        known = ", ".join(e.code for e in load(conn))
        raise WorkflowError(f"unknown reason code {code!r} (the project's codes: {known})")
    if row.retired_at is not None:
        raise WorkflowError(f"reason code {code!r} is retired")


def add(conn: Connection, code: str, label: str) -> ReasonEntry:
    if not REASON_CODE.fullmatch(code):
        raise WorkflowError(f"reason code {code!r}: use 1-32 of a-z, 0-9 and _")
    label = label.strip() or code.replace("_", " ").capitalize()
    exists = conn.execute(
        sa.select(t.reason_codes.c.code).where(t.reason_codes.c.code == code)
    ).first()
    if exists is not None:
        raise WorkflowError(f"reason code {code!r} exists already")
    position = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(t.reason_codes.c.position), -1) + 1)
    ).scalar_one()
    conn.execute(sa.insert(t.reason_codes).values(code=code, label=label, position=position))
    return ReasonEntry(code, label)


def rename(conn: Connection, code: str, label: str) -> ReasonEntry:
    """A new label; the code, which reviews store, stays."""
    if not label.strip():
        raise WorkflowError("a reason code needs a label")
    _update(conn, code, label=label.strip())
    return _one(conn, code)


def set_retired(conn: Connection, code: str, retired: bool) -> ReasonEntry:
    _update(conn, code, retired_at=utcnow() if retired else None)
    return _one(conn, code)


def _update(conn: Connection, code: str, **values: object) -> None:
    done = conn.execute(
        sa.update(t.reason_codes).where(t.reason_codes.c.code == code).values(**values)
    )
    if done.rowcount != 1:
        raise NotFoundError(f"no reason code {code!r}")


def _one(conn: Connection, code: str) -> ReasonEntry:
    return next(e for e in load(conn, include_retired=True) if e.code == code)
