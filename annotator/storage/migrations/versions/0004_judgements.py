"""The reasoning judge's verdicts: scores per criterion for one proposal (or why the judge's
reply gave none), and pairwise preferences between two proposals of the same turn with the
order they were shown in. Both go with their proposals.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-10 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _judge_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("judge_model", sa.String(length=200), nullable=False),
        sa.Column("judge_requested", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "judgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("proposer", sa.String(length=200), nullable=False),
        sa.Column("proposer_version", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        *_judge_columns(),
        sa.Column("scores", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(scores IS NULL) <> (failure IS NULL)",
            name=op.f("ck_judgements_scores_or_failure"),
        ),
        sa.CheckConstraint(
            "reference IN ('verified', 'draft')", name=op.f("ck_judgements_reference")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_judgements_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_judgements_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgements")),
    )
    op.create_index("ix_judgements_conversation_id", "judgements", ["conversation_id"])
    op.create_index("ix_judgements_proposal_id", "judgements", ["proposal_id"])
    op.create_index(
        "ix_judgements_judge_requested_run",
        "judgements",
        ["judge_requested", "prompt_version", "reference", "conversation_id"],
    )

    op.create_table(
        "pairwise_judgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("proposal_a", sa.Integer(), nullable=False),
        sa.Column("proposal_b", sa.Integer(), nullable=False),
        sa.Column("proposer_a", sa.String(length=200), nullable=False),
        sa.Column("proposer_b", sa.String(length=200), nullable=False),
        sa.Column("first", sa.String(length=1), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        sa.Column("per_criterion", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        *_judge_columns(),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(outcome IS NULL) <> (failure IS NULL)",
            name=op.f("ck_pairwise_judgements_outcome_or_failure"),
        ),
        sa.CheckConstraint("first IN ('a', 'b')", name=op.f("ck_pairwise_judgements_first")),
        sa.CheckConstraint(
            "outcome IN ('a', 'b', 'tie')", name=op.f("ck_pairwise_judgements_outcome")
        ),
        sa.CheckConstraint(
            "reference IN ('verified', 'draft')", name=op.f("ck_pairwise_judgements_reference")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_pairwise_judgements_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_a"],
            ["proposals.id"],
            name=op.f("fk_pairwise_judgements_proposal_a_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_b"],
            ["proposals.id"],
            name=op.f("fk_pairwise_judgements_proposal_b_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairwise_judgements")),
    )
    op.create_index(
        "ix_pairwise_judgements_conversation_id", "pairwise_judgements", ["conversation_id"]
    )
    op.create_index("ix_pairwise_judgements_proposal_a", "pairwise_judgements", ["proposal_a"])
    op.create_index("ix_pairwise_judgements_proposal_b", "pairwise_judgements", ["proposal_b"])
    op.create_index(
        "ix_pairwise_judgements_judge_requested_run",
        "pairwise_judgements",
        ["judge_requested", "prompt_version", "reference", "conversation_id"],
    )


def downgrade() -> None:
    op.drop_table("pairwise_judgements")
    op.drop_table("judgements")
