"""The conversation list: filters, sort orders, pages and counts.

A page reads only the conversations row (denormalised counters) joined to its image, so its cost
is one indexed range scan whatever the page size of the turns and masks behind it; the flag codes
of its flagged rows come from one more indexed query per page (none when no row is flagged).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from annotator.core.listing import ConversationSummary, ListQuery
from annotator.core.model import Decision
from annotator.core.review_rules import JUDGING
from annotator.core.status import Status
from annotator.storage import tables as t

c = t.conversations.c
f = t.flags.c

# Workflow order, so that "status" sorts drafts first and finished work last.
_STATUS_RANK = sa.case(
    {s.value: i for i, s in enumerate(Status)},
    value=c.status,
    else_=len(Status),
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, pattern: str, dialect: str) -> ColumnElement[bool]:
    # SQLite's LIKE already ignores ASCII case, and its lower() folds nothing beyond ASCII
    # either: ILIKE (lower() on both sides) would scan at half the speed for the same answer.
    if dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def filters(query: ListQuery | None, dialect: str) -> list[ColumnElement[bool]]:
    """WHERE clauses of ``query``; with a text filter they refer to ``images``, so the statement
    must join it (see :func:`filtered`)."""
    if query is None:
        return [t.LIVE]
    out: list[ColumnElement[bool]] = [t.DELETED if query.deleted else t.LIVE]
    if query.status is not None:
        out.append(c.status == Status(query.status).value)
    if query.flagged is True:
        out.append(c.flag_count > 0)
    elif query.flagged is False:
        out.append(c.flag_count == 0)
    if query.flag_code is not None:
        # IN, not a correlated EXISTS: the index on flags.code yields the conversations that
        # carry the code, so the cost follows how many do; EXISTS would walk the list until a
        # page is full, which for a rare code is most of the table.
        out.append(c.id.in_(sa.select(f.conversation_id).where(f.code == query.flag_code)))
    if query.ids is not None:
        out.append(c.id.in_(list(query.ids)))
    if query.image_id is not None:
        out.append(c.image_id == query.image_id)
    if query.reviewer is not None:
        out.append(
            sa.exists().where(
                t.reviews.c.conversation_id == c.id, t.reviews.c.reviewer == query.reviewer
            )
        )
    if query.queue == "stale":
        out.append(c.stale_verdicts > 0)
    elif query.queue == "second":
        out.append(c.id.in_(awaiting_second_review()))
    if query.text:
        pattern = _like_pattern(query.text)
        in_focus = _contains(c.focus, pattern, dialect)
        out.append(sa.or_(in_focus, _contains(t.images.c.path, pattern, dialect)))
    return out


def filtered(
    stmt: sa.Select[Any], query: ListQuery | None, dialect: str, *, joined: bool = False
) -> sa.Select[Any]:
    """``stmt`` (selecting from conversations) restricted to ``query``; joins images when the
    text filter needs it and ``joined`` says the statement has not joined it already."""
    if not joined:
        stmt = _join_images_for_text(stmt, query)
    return stmt.where(*filters(query, dialect))


def _join_images_for_text(stmt: sa.Select[Any], query: ListQuery | None) -> sa.Select[Any]:
    """The text filter also looks at the image path: join images when there is one."""
    if query is not None and query.text:
        stmt = stmt.join_from(t.conversations, t.images, t.images.c.id == c.image_id)
    return stmt


def order_by(sort: str) -> list[Any]:
    if sort == "id":
        return [c.id]
    if sort == "-id":
        return [c.id.desc()]
    if sort == "updated":
        return [c.updated_at, c.id]
    if sort == "-updated":
        return [c.updated_at.desc(), c.id.desc()]
    if sort == "status":
        return [_STATUS_RANK, c.id]
    if sort == "focus":
        return [c.focus, c.id]
    if sort == "correction":
        # Largest correction first; conversations without one go last on every backend.
        return [c.correction_pixels.is_(None), c.correction_pixels.desc(), c.id]
    raise ValueError(f"unknown sort {sort!r}")


def _summary_select() -> sa.Select[Any]:
    return sa.select(
        c.id,
        t.images.c.path.label("image_path"),
        t.images.c.width.label("image_width"),
        t.images.c.height.label("image_height"),
        c.focus,
        c.status,
        c.flag_count,
        c.turn_count,
        c.last_reviewer,
        c.updated_at,
        c.correction_pixels,
        c.stale_verdicts,
    ).join_from(t.conversations, t.images, t.images.c.id == c.image_id)


def _summaries(conn: Connection, rows: Sequence[Any]) -> list[ConversationSummary]:
    summaries = [
        ConversationSummary(
            id=r.id,
            image_path=r.image_path,
            image_width=r.image_width,
            image_height=r.image_height,
            focus=r.focus,
            status=Status(r.status),
            flag_count=r.flag_count,
            turn_count=r.turn_count,
            last_reviewer=r.last_reviewer,
            updated_at=r.updated_at,
            correction_pixels=r.correction_pixels,
            stale_verdicts=r.stale_verdicts,
        )
        for r in rows
    ]
    flagged = [s.id for s in summaries if s.flag_count]
    if not flagged:
        return summaries
    codes: dict[int, list[str]] = defaultdict(list)
    for conv_id, code in conn.execute(
        sa.select(f.conversation_id, f.code)
        .where(f.conversation_id.in_(flagged))
        .distinct()
        .order_by(f.conversation_id, f.code)
    ):
        codes[conv_id].append(code)
    return [replace(s, flag_codes=tuple(codes[s.id])) if s.flag_count else s for s in summaries]


def page(conn: Connection, query: ListQuery, offset: int, limit: int) -> list[ConversationSummary]:
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")
    stmt = (
        filtered(_summary_select(), query, conn.dialect.name, joined=True)
        .order_by(*order_by(query.sort))
        .offset(offset)
        .limit(limit)
    )
    return _summaries(conn, conn.execute(stmt).all())


def page_after(
    conn: Connection, query: ListQuery, after_id: int | None, limit: int
) -> list[ConversationSummary]:
    """Keyset page in id order (``sort`` "id" or "-id"): rows after ``after_id``.

    Unlike OFFSET, its cost does not grow with the position in the list.
    """
    if query.sort not in ("id", "-id"):
        raise ValueError("keyset pages are available for the id orders only")
    stmt = filtered(_summary_select(), query, conn.dialect.name, joined=True)
    if after_id is not None:
        stmt = stmt.where(c.id > after_id if query.sort == "id" else c.id < after_id)
    stmt = stmt.order_by(*order_by(query.sort)).limit(limit)
    return _summaries(conn, conn.execute(stmt).all())


def count(conn: Connection, query: ListQuery) -> int:
    stmt = filtered(
        sa.select(sa.func.count()).select_from(t.conversations), query, conn.dialect.name
    )
    return int(conn.execute(stmt).scalar_one())


def ids_after(
    conn: Connection, query: ListQuery | None, after_id: int, limit: int | None
) -> list[int]:
    stmt = filtered(sa.select(c.id), query, conn.dialect.name)
    stmt = stmt.where(c.id > after_id).order_by(c.id).limit(limit)
    return list(conn.execute(stmt).scalars())


def flag_counts(conn: Connection, query: ListQuery | None) -> dict[str, int]:
    """Every flag code stored, mapped to how many conversations matching ``query`` carry it
    (0 when none do), in code order. ``query`` applies as given, its flag filters included."""
    wanted = filters(query, conn.dialect.name)
    if wanted:
        # One pass over the flags whatever the filters: the codes of records the filters hide
        # stay listed (with 0), so a list of codes offered to choose from does not shift.
        matching = sa.case((sa.and_(*wanted), f.conversation_id))
        stmt = sa.select(f.code, sa.func.count(sa.distinct(matching))).join_from(
            t.flags, t.conversations, c.id == f.conversation_id
        )
        stmt = _join_images_for_text(stmt, query)
    else:
        stmt = sa.select(f.code, sa.func.count(sa.distinct(f.conversation_id)))
    stmt = stmt.group_by(f.code).order_by(f.code)
    return {code: int(n) for code, n in conn.execute(stmt)}


def awaiting_second_review() -> sa.Select[tuple[int]]:
    """Conversations with a request for a second review that no other reviewer has judged
    since."""
    req, later = t.reviews.alias("req"), t.reviews.alias("later")
    judged_since = sa.exists().where(
        later.c.conversation_id == req.c.conversation_id,
        later.c.id > req.c.id,
        later.c.reviewer != req.c.reviewer,
        later.c.decision.in_([d.value for d in JUDGING]),
    )
    return sa.select(req.c.conversation_id).where(
        req.c.decision == Decision.REQUEST_SECOND.value, ~judged_since
    )
