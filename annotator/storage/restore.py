"""Restoring exported conversations together with their reviews and proposals."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.model import Conversation, Decision, Proposal, Review
from annotator.core.progress import Task
from annotator.storage import conversations, verdicts
from annotator.storage import proposals as proposal_repo
from annotator.storage import tables as t
from annotator.storage.api_types import AddResult
from annotator.storage.convert import review_values

RestoreEntry = tuple[Conversation, Sequence[Review], Sequence[Proposal]]


def restore(
    conn: Connection, entries: Sequence[RestoreEntry], actor: str, task: Task | None
) -> AddResult:
    """Add the conversations (skipping stored keys, like an import) and, for the ones added,
    their reviews as they were and their proposals. The exported status is kept: reviews are
    history here, not new decisions."""
    result = conversations.add(conn, [conv for conv, _, _ in entries], actor, task)
    added = set(result.added_ids)
    keys = [conv.key for conv, _, _ in entries if conv.key]
    rows = conn.execute(
        sa.select(t.conversations.c.key, t.conversations.c.id).where(
            t.conversations.c.key.in_(keys)
        )
    )
    id_of: dict[str, int] = {key: cid for key, cid in rows}
    for conv, reviews, proposals in entries:
        cid = id_of.get(conv.key)
        if cid is None or cid not in added:
            continue
        for review in reviews:
            conn.execute(sa.insert(t.reviews).values(review_values(cid, review)))
        if reviews:
            verdicts.refresh_stale(conn, conversations.load_one(conn, cid), list(reviews))
        deciders = [r.reviewer for r in reviews if Decision(r.decision) != Decision.COMMENT]
        if deciders:  # the list column that reviews keep in step
            conn.execute(
                sa.update(t.conversations)
                .where(t.conversations.c.id == cid)
                .values(last_reviewer=deciders[-1])
            )
        if proposals:
            proposal_repo.add(conn, cid, proposals)
            conn.execute(
                sa.update(t.conversations)
                .where(t.conversations.c.id == cid)
                .values(status=conv.status.value)
            )
    return result
