"""People's claims on records ("Next record"), assignments and each person's progress.

A claim lives while its holder's app sends heartbeats; past the time to live (the project
setting ``claim_ttl_s``, default five minutes) anyone may take the record. A person holds one
record at a time: claiming the next releases the previous one. On PostgreSQL the next record is
picked with ``FOR UPDATE SKIP LOCKED`` so that two people asking at once get different records
(the insert happens in the same transaction, under that row lock); on SQLite the write
transaction (``BEGIN IMMEDIATE``) serialises the askers. The database's rules
(:mod:`annotator.storage.team_sql`) refuse edits of a record someone else holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.errors import InputError, RefusedError
from annotator.core.model import utcnow
from annotator.core.status import ANNOTATOR_WORK, Status
from annotator.storage import tables as t
from annotator.storage.team_sql import CLAIM_TTL_SETTING, DEFAULT_CLAIM_TTL_S

c = t.conversations.c
w = t.work_claims.c

# Which records each role works on, most urgent first.
WORK_STATUSES = {
    "annotator": tuple(s.value for s in ANNOTATOR_WORK),
    "reviewer": (Status.IN_REVIEW.value,),
}


@dataclass(frozen=True)
class Claim:
    conversation_id: int
    holder: str
    role: str
    claimed_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Progress:
    person: str
    claimed: int
    done_today: int  # records whose content they changed today (UTC)
    reviewed_today: int
    approved: int  # of the records they edited last, how many are approved now
    rejected: int


def ttl(conn: Connection) -> timedelta:
    raw = conn.execute(
        sa.select(t.project_settings.c.value).where(t.project_settings.c.key == CLAIM_TTL_SETTING)
    ).scalar_one_or_none()
    seconds = float(raw) if isinstance(raw, int | float) and raw > 0 else DEFAULT_CLAIM_TTL_S
    return timedelta(seconds=seconds)


def _live(cutoff: datetime) -> sa.ColumnElement[bool]:
    """A claim renewed after ``cutoff`` (now minus the time to live) is live."""
    return w.heartbeat_at > cutoff


def holder_of(conn: Connection, conv_id: int) -> Claim | None:
    """The live claim on a record, whoever holds it."""
    cutoff = utcnow() - ttl(conn)
    row = conn.execute(
        sa.select(t.work_claims).where(w.conversation_id == conv_id, _live(cutoff))
    ).first()
    return None if row is None else Claim(*row)


def next_record(
    conn: Connection, me: str, role: str, *, skip_locked: bool = True, attempts: int = 8
) -> int | None:
    """Claim the next record ``me`` should work on as ``role``; None when there is none.
    ``skip_locked=False`` is the naive way (askers queue on one row lock), for the benchmark.

    A record whose claim another asker committed after this query's snapshot can still come
    back (its row lock was free again by then); the claim table refuses it and the next
    candidate is tried."""
    if role not in WORK_STATUSES:
        raise InputError(f"unknown role {role!r} for the next record: annotator or reviewer")
    statuses = WORK_STATUSES[role]
    urgency = sa.case({s: i for i, s in enumerate(statuses)}, value=c.status)
    time_to_live = ttl(conn)
    tried: list[int] = []
    for _ in range(attempts):
        now = utcnow()
        # Held by anyone, me included: "next" moves on from the record I hold now.
        held = sa.exists().where(w.conversation_id == c.id, _live(now - time_to_live))
        stmt = (
            sa.select(c.id)
            .where(
                t.LIVE,
                c.status.in_(statuses),
                sa.or_(c.assignee.is_(None), c.assignee == me),
                ~held,
                c.id.not_in(tried),
            )
            .order_by((c.assignee == me).desc(), urgency, c.id)
            .limit(1)
        )
        if role == "reviewer":  # four eyes: never the reviewer's own last edit
            stmt = stmt.where(sa.or_(c.last_editor.is_(None), c.last_editor != me))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=skip_locked, of=t.conversations)
        found = conn.execute(stmt).scalar_one_or_none()
        if found is None:
            return None
        if _take(conn, found, me, role, now, now - time_to_live).holder == me:
            return int(found)
        tried.append(int(found))
    return None


def take(conn: Connection, conv_id: int, me: str, role: str) -> Claim:
    """Hold ``conv_id`` (releasing any other record ``me`` holds). Someone else's live claim is
    refused, naming them (the database refuses it too)."""
    now = utcnow()
    claim = _take(conn, conv_id, me, role, now, now - ttl(conn))
    if claim.holder != me:
        raise RefusedError(
            f"record {conv_id} is being edited by {claim.holder} since "
            f"{claim.claimed_at:%Y-%m-%d %H:%M} UTC"
        )
    return claim


def _take(
    conn: Connection, conv_id: int, me: str, role: str, now: datetime, cutoff: datetime
) -> Claim:
    """``me``'s new claim, or the live claim of whoever else holds the record."""
    conn.execute(sa.delete(t.work_claims).where(w.holder == me, w.conversation_id != conv_id))
    updated = conn.execute(
        sa.update(t.work_claims)
        .where(w.conversation_id == conv_id, sa.or_(w.holder == me, ~_live(cutoff)))
        .values(holder=me, role=role, claimed_at=now, heartbeat_at=now)
    )
    if updated.rowcount == 0:
        row = conn.execute(
            sa.select(t.work_claims).where(w.conversation_id == conv_id, _live(cutoff))
        ).first()
        if row is not None:
            return Claim(*row)
        conn.execute(
            sa.insert(t.work_claims).values(
                conversation_id=conv_id, holder=me, role=role, claimed_at=now, heartbeat_at=now
            )
        )
    return Claim(conv_id, me, role, now, now)


def heartbeat(conn: Connection, conv_id: int, me: str) -> bool:
    """Keep ``me``'s claim alive; False when it was lost (lapsed and taken by someone else)."""
    updated = conn.execute(
        sa.update(t.work_claims)
        .where(w.conversation_id == conv_id, w.holder == me)
        .values(heartbeat_at=utcnow())
    )
    return updated.rowcount == 1


def release(conn: Connection, conv_ids: Sequence[int] | None, me: str | None) -> int:
    """Release ``me``'s claims (all when ``conv_ids`` is None); ``me`` None: anyone's (admin)."""
    stmt = sa.delete(t.work_claims)
    if conv_ids is not None:
        stmt = stmt.where(w.conversation_id.in_(list(conv_ids)))
    if me is not None:
        stmt = stmt.where(w.holder == me)
    return int(conn.execute(stmt).rowcount)


def assign(conn: Connection, conv_ids: Sequence[int], person: str | None) -> int:
    """Hand records to ``person`` (None: to anyone). The database lets only admins do it."""
    return int(
        conn.execute(
            sa.update(t.conversations).where(c.id.in_(list(conv_ids))).values(assignee=person)
        ).rowcount
    )


def progress(conn: Connection) -> list[Progress]:
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    h = t.history.c
    people: dict[str, dict[str, int]] = {}

    def add(rows: Sequence[tuple[str | None, int]], field: str) -> None:
        for person, n in rows:
            if person:
                people.setdefault(person, {})[field] = int(n)

    add(
        conn.execute(
            sa.select(w.holder, sa.func.count()).where(_live(now - ttl(conn))).group_by(w.holder)
        ).all(),
        "claimed",
    )
    add(
        conn.execute(
            sa.select(h.actor, sa.func.count(sa.distinct(h.conversation_id)))
            .where(h.created_at >= today, h.action.not_in(("review", "status")))
            .group_by(h.actor)
        ).all(),
        "done_today",
    )
    r = t.reviews.c
    add(
        conn.execute(
            sa.select(r.reviewer, sa.func.count(sa.distinct(r.conversation_id)))
            .where(r.created_at >= today, r.decision.in_(("approve", "reject")))
            .group_by(r.reviewer)
        ).all(),
        "reviewed_today",
    )
    for status in ("approved", "rejected"):
        add(
            conn.execute(
                sa.select(c.last_editor, sa.func.count())
                .where(t.LIVE, c.status == status)
                .group_by(c.last_editor)
            ).all(),
            status,
        )
    return [
        Progress(
            person,
            counts.get("claimed", 0),
            counts.get("done_today", 0),
            counts.get("reviewed_today", 0),
            counts.get("approved", 0),
            counts.get("rejected", 0),
        )
        for person, counts in sorted(people.items())
    ]
