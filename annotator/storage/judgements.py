"""The reasoning judge's verdicts: scores per proposal, pairwise preferences, and what a run
has judged already (it resumes by the model asked for, the prompt version and the reference)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from annotator.core.errors import NotFoundError
from annotator.core.judge_criteria import Reference
from annotator.core.judgement import (
    MAX_REPLY_KEPT,
    JudgeIdentity,
    Judgement,
    PairwiseJudgement,
)
from annotator.storage import tables as t

j = t.judgements.c
pj = t.pairwise_judgements.c
p = t.proposals.c

Row = Mapping[str, Any]


# -- writing ----------------------------------------------------------------------------------
def add(conn: Connection, items: Sequence[Judgement]) -> list[int]:
    """Store judgements of stored proposals (all or none, in the caller's transaction)."""
    if not items:
        return []
    _require_proposals(conn, [(i.conversation_id, i.proposal_id, i.turn_index) for i in items])
    rows = [
        {
            "conversation_id": i.conversation_id,
            "turn_index": i.turn_index,
            "proposal_id": i.proposal_id,
            "proposer": i.proposer,
            "proposer_version": i.proposer_version,
            "answer": i.answer,
            "scores": dict(i.scores) if i.scores is not None else None,
            "failure": i.failure,
            **_judge_values(i.judge, i.reply, i.actor),
            "created_at": i.created_at,
        }
        for i in items
    ]
    return _insert(conn, t.judgements, rows)


def add_pairwise(conn: Connection, items: Sequence[PairwiseJudgement]) -> list[int]:
    if not items:
        return []
    _require_proposals(
        conn,
        [(i.conversation_id, i.proposal_a, i.turn_index) for i in items]
        + [(i.conversation_id, i.proposal_b, i.turn_index) for i in items],
    )
    rows = [
        {
            "conversation_id": i.conversation_id,
            "turn_index": i.turn_index,
            "proposal_a": i.proposal_a,
            "proposal_b": i.proposal_b,
            "proposer_a": i.proposer_a,
            "proposer_b": i.proposer_b,
            "first": i.first,
            "outcome": i.outcome,
            "per_criterion": dict(i.per_criterion) if i.per_criterion is not None else None,
            "failure": i.failure,
            **_judge_values(i.judge, i.reply, i.actor),
            "created_at": i.created_at,
        }
        for i in items
    ]
    return _insert(conn, t.pairwise_judgements, rows)


def _judge_values(judge: JudgeIdentity, reply: str, actor: str) -> dict[str, Any]:
    return {
        "reference": Reference(judge.reference).value,
        "judge_model": judge.model,
        "judge_requested": judge.requested,
        "prompt_version": judge.prompt_version,
        "reply": reply[:MAX_REPLY_KEPT],
        "actor": actor,
    }


def _insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    return list(
        conn.execute(
            sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )


def _require_proposals(conn: Connection, wanted: Sequence[tuple[int, int, int]]) -> None:
    """Every (conversation, proposal, turn) names a stored proposal of that conversation's
    turn: a verdict never points at an answer it was not about."""
    ids = sorted({pid for _, pid, _ in wanted})
    stored = {
        r.id: (r.conversation_id, r.turn_index)
        for r in conn.execute(sa.select(p.id, p.conversation_id, p.turn_index).where(p.id.in_(ids)))
    }
    for conv_id, pid, turn in wanted:
        if stored.get(pid) != (conv_id, turn):
            raise NotFoundError(
                f"proposal {pid} is not a stored proposal of conversation {conv_id}, turn {turn}"
            )


# -- reading ----------------------------------------------------------------------------------
def load(
    conn: Connection,
    *,
    conversation_id: int | None = None,
    proposer: str | None = None,
    requested: str | None = None,
    prompt_version: str | None = None,
) -> list[Judgement]:
    """Judgements of live conversations, oldest first; the turn is the proposal's now."""
    stmt = (
        sa.select(t.judgements, p.turn_index.label("current_turn"))
        .join_from(t.judgements, t.proposals, p.id == j.proposal_id)
        .join(t.conversations, t.conversations.c.id == j.conversation_id)
        .where(t.LIVE)
    )
    if conversation_id is not None:
        stmt = stmt.where(j.conversation_id == conversation_id)
    if proposer is not None:
        stmt = stmt.where(j.proposer == proposer)
    stmt = _run_filter(stmt, t.judgements, requested, prompt_version)
    return [_judgement(r) for r in conn.execute(stmt.order_by(j.id)).mappings()]


def load_pairwise(
    conn: Connection,
    *,
    conversation_id: int | None = None,
    requested: str | None = None,
    prompt_version: str | None = None,
) -> list[PairwiseJudgement]:
    stmt = (
        sa.select(t.pairwise_judgements, p.turn_index.label("current_turn"))
        .join_from(t.pairwise_judgements, t.proposals, p.id == pj.proposal_a)
        .join(t.conversations, t.conversations.c.id == pj.conversation_id)
        .where(t.LIVE)
    )
    if conversation_id is not None:
        stmt = stmt.where(pj.conversation_id == conversation_id)
    stmt = _run_filter(stmt, t.pairwise_judgements, requested, prompt_version)
    return [_pairwise(r) for r in conn.execute(stmt.order_by(pj.id)).mappings()]


def _run_filter(
    stmt: Select[Any], table: sa.Table, requested: str | None, prompt_version: str | None
) -> Select[Any]:
    if requested is not None:
        stmt = stmt.where(table.c.judge_requested == requested)
    if prompt_version is not None:
        stmt = stmt.where(table.c.prompt_version == prompt_version)
    return stmt


def judged_proposals(
    conn: Connection, conv_id: int, judge: JudgeIdentity, *, scored_only: bool
) -> set[int]:
    """Proposals of ``conv_id`` this judge (model asked for, prompt version, reference) has a
    verdict on; ``scored_only`` leaves out those whose every verdict failed."""
    stmt = sa.select(j.proposal_id).where(j.conversation_id == conv_id, *_same_run(j, judge))
    if scored_only:
        stmt = stmt.where(j.failure.is_(None))
    return set(conn.execute(stmt).scalars())


def judged_pairs(
    conn: Connection, conv_id: int, judge: JudgeIdentity, *, scored_only: bool
) -> set[tuple[int, int]]:
    stmt = sa.select(pj.proposal_a, pj.proposal_b).where(
        pj.conversation_id == conv_id, *_same_run(pj, judge)
    )
    if scored_only:
        stmt = stmt.where(pj.failure.is_(None))
    return {(r.proposal_a, r.proposal_b) for r in conn.execute(stmt)}


def _same_run(cols: Any, judge: JudgeIdentity) -> list[sa.ColumnElement[bool]]:
    return [
        cols.judge_requested == judge.requested,
        cols.prompt_version == judge.prompt_version,
        cols.reference == Reference(judge.reference).value,
    ]


def candidates(conn: Connection, proposers: Sequence[str] | None) -> list[int]:
    """Ids (ascending) of live conversations with proposals (by one of ``proposers``)."""
    stmt = (
        sa.select(p.conversation_id)
        .join(t.conversations, t.conversations.c.id == p.conversation_id)
        .where(t.LIVE)
        .distinct()
        .order_by(p.conversation_id)
    )
    if proposers is not None:
        stmt = stmt.where(p.proposer.in_(list(proposers)))
    return list(conn.execute(stmt).scalars())


# -- rows -> objects --------------------------------------------------------------------------
def _identity(r: Row) -> JudgeIdentity:
    return JudgeIdentity(
        model=r["judge_model"],
        requested=r["judge_requested"],
        prompt_version=r["prompt_version"],
        reference=r["reference"],
    )


def _judgement(r: Row) -> Judgement:
    return Judgement(
        conversation_id=r["conversation_id"],
        turn_index=r["current_turn"],
        proposal_id=r["proposal_id"],
        proposer=r["proposer"],
        proposer_version=r["proposer_version"],
        answer=r["answer"],
        judge=_identity(r),
        scores=dict(r["scores"]) if r["scores"] is not None else None,
        failure=r["failure"],
        reply=r["reply"],
        actor=r["actor"],
        created_at=r["created_at"],
        id=r["id"],
    )


def _pairwise(r: Row) -> PairwiseJudgement:
    return PairwiseJudgement(
        conversation_id=r["conversation_id"],
        turn_index=r["current_turn"],
        proposal_a=r["proposal_a"],
        proposal_b=r["proposal_b"],
        proposer_a=r["proposer_a"],
        proposer_b=r["proposer_b"],
        first=r["first"],
        judge=_identity(r),
        outcome=r["outcome"],
        per_criterion=dict(r["per_criterion"]) if r["per_criterion"] is not None else None,
        failure=r["failure"],
        reply=r["reply"],
        actor=r["actor"],
        created_at=r["created_at"],
        id=r["id"],
    )
