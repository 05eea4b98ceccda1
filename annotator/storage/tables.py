"""The database schema as SQLAlchemy Core tables (schema v2).

Conversations carry denormalised list columns (turn_count, flag_count, last_reviewer,
correction_pixels) so that a page of the list is one indexed query with no aggregates; the
repositories keep them in step inside the same transaction as the rows they summarise.
Masks hold zlib-compressed COCO RLE counts (about 4-5x smaller than the counts string, and far
smaller than PNG), plus their area so statistics never decode a mask.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Constraint names are fixed so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: stored as naive UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _fk(target: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("root", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    # One row per file version: the same file shared by several conversations is stored once.
    sa.UniqueConstraint("root", "path", "sha256"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("image_id", sa.Integer, _fk("images.id", "RESTRICT"), nullable=False, index=True),
    sa.Column("focus", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False, default=""),
    # NULL when the importer gave no key; unique otherwise (idempotent re-import).
    sa.Column("key", sa.String(128), nullable=True, unique=True),
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("turn_count", sa.Integer, nullable=False, default=0),
    sa.Column("flag_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_reviewer", sa.Text, nullable=True),
    sa.Column("correction_pixels", sa.Integer, nullable=True),
    sa.Column("deleted_at", UTCDateTime, nullable=True),  # soft delete: out of lists and exports
    # Turn verdicts given on content that has changed since (core.review_rules.stale_turns).
    sa.Column("stale_verdicts", sa.Integer, nullable=False, default=0, server_default="0"),
    # Team mode (docs/adr/0023): who last changed the content (four eyes: never their own
    # review) and to whom an admin handed the record. On PostgreSQL the database writes
    # ``last_editor`` from the login role; clients cannot name someone else.
    sa.Column("last_editor", sa.Text, nullable=True),
    sa.Column("assignee", sa.Text, nullable=True, index=True),
    # The transaction that last passed the team's edit rule (written by the database only).
    sa.Column("edit_txid", sa.BigInteger, nullable=True),
    sa.CheckConstraint(
        "status IN ('draft', 'proposed', 'in_review', 'approved', 'rejected')", name="status"
    ),
    sa.Index("ix_conversations_status_id", "status", "id"),
    sa.Index("ix_conversations_updated_at_id", "updated_at", "id"),
    sa.Index("ix_conversations_focus_id", "focus", "id"),
    sa.Index("ix_conversations_correction_pixels_id", "correction_pixels", "id"),
    sa.Index("ix_conversations_flag_count_id", "flag_count", "id"),
)
# Soft delete: a live conversation is in lists, counts and exports; a deleted one only in the
# list of what can be restored.
LIVE = conversations.c.deleted_at.is_(None)
DELETED = conversations.c.deleted_at.is_not(None)

turns = sa.Table(
    "turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("draft_answer", sa.Text, nullable=False, default=""),
    sa.Column("final_answer", sa.Text, nullable=True),
    sa.Column("text_changed_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("conversation_id", "idx"),
)

proposals = sa.Table(
    "proposals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False),
    sa.Column("turn_index", sa.Integer, nullable=False),
    sa.Column("proposer", sa.String(200), nullable=False),
    sa.Column("proposer_version", sa.String(200), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("scores", sa.JSON, nullable=False),
    sa.Column("elapsed_s", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False, default=dict, server_default="{}"),
    sa.Index(
        "ix_proposals_conversation_proposer",
        "conversation_id",
        "proposer",
        "proposer_version",
        "turn_index",
    ),
)

proposal_masks = sa.Table(
    "proposal_masks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("proposal_id", sa.Integer, _fk("proposals.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("rle", sa.LargeBinary, nullable=False),
    sa.Column("area", sa.Integer, nullable=False),
)

masks = sa.Table(
    "masks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # conversation_id is redundant with turn_id but lets a batch of conversations load its masks
    # with one indexed query.
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("turn_id", sa.Integer, _fk("turns.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("layer", sa.String(16), nullable=False),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("rle", sa.LargeBinary, nullable=False),
    sa.Column("area", sa.Integer, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("proposal_id", sa.Integer, _fk("proposals.id", "SET NULL"), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
)

flags = sa.Table(
    "flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("code", sa.String(32), nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("turn_index", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # What the review judged (core.fingerprint), computed from the stored content.
    sa.Column("fingerprint", sa.String(64), nullable=False, default="", server_default=""),
    sa.Column("turn_fingerprints", sa.JSON, nullable=False, default=list, server_default="[]"),
    # The judged turn's verified mask (the target's for a whole-record review) as COCO RLE:
    # what two reviewers' masks are compared by.
    sa.Column("judged_mask", sa.JSON, nullable=True),
    sa.Column("resolved_by", sa.Text, nullable=True),  # a comment marked resolved
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Index("ix_reviews_reviewer_conversation", "reviewer", "conversation_id"),
)

# The project's reason codes for rejecting; a retired code is kept for the reviews that use it.
reason_codes = sa.Table(
    "reason_codes",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("retired_at", UTCDateTime, nullable=True),
)

# Project-wide settings every client obeys (e.g. blind-first review required), as JSON values.
project_settings = sa.Table(
    "project_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)

# A person's hold on one record while it is open for editing or review ("Next record"). It
# lapses when the heartbeat stops (the app renews it while the record is open), so a killed
# client does not keep the record from the others.
work_claims = sa.Table(
    "work_claims",
    metadata,
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), primary_key=True),
    sa.Column("holder", sa.Text, nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("role IN ('annotator', 'reviewer')", name="role"),
)

# A worker's hold on one conversation for one proposer version; a row past ``expires_at`` is
# free to be taken over (a worker that died does not block the batch for ever).
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), primary_key=True),
    sa.Column("proposer", sa.String(200), primary_key=True),
    sa.Column("proposer_version", sa.String(200), primary_key=True),
    sa.Column("worker", sa.Text, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# What the reasoning judge said about one proposal (docs/adr/0019): scores per criterion, or
# why its reply gave none. A judgement belongs to its proposal: it goes when the proposal goes
# (a removed turn), and its turn is the proposal's, so a moved turn keeps its judgements;
# ``turn_index`` records the turn as it was judged.
judgements = sa.Table(
    "judgements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("turn_index", sa.Integer, nullable=False),
    sa.Column("proposal_id", sa.Integer, _fk("proposals.id"), nullable=False, index=True),
    sa.Column("proposer", sa.String(200), nullable=False),
    sa.Column("proposer_version", sa.String(200), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("reference", sa.String(16), nullable=False),
    sa.Column("judge_model", sa.String(200), nullable=False),  # as the server named it
    sa.Column("judge_requested", sa.String(200), nullable=False),  # as asked for (resume key)
    sa.Column("prompt_version", sa.String(32), nullable=False),
    sa.Column("scores", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("(scores IS NULL) <> (failure IS NULL)", name="scores_or_failure"),
    sa.CheckConstraint("reference IN ('verified', 'draft')", name="reference"),
    sa.Index(
        "ix_judgements_judge_requested_run",
        "judge_requested",
        "prompt_version",
        "reference",
        "conversation_id",
    ),
)

# Which of two proposers' answers to one turn the judge preferred, and which it was shown first
# (drawn at random per item to cancel position bias). Goes with either proposal.
pairwise_judgements = sa.Table(
    "pairwise_judgements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, _fk("conversations.id"), nullable=False, index=True),
    sa.Column("turn_index", sa.Integer, nullable=False),
    sa.Column("proposal_a", sa.Integer, _fk("proposals.id"), nullable=False, index=True),
    sa.Column("proposal_b", sa.Integer, _fk("proposals.id"), nullable=False, index=True),
    sa.Column("proposer_a", sa.String(200), nullable=False),
    sa.Column("proposer_b", sa.String(200), nullable=False),
    sa.Column("first", sa.String(1), nullable=False),
    sa.Column("outcome", sa.String(8), nullable=True),
    sa.Column("per_criterion", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("reference", sa.String(16), nullable=False),
    sa.Column("judge_model", sa.String(200), nullable=False),
    sa.Column("judge_requested", sa.String(200), nullable=False),
    sa.Column("prompt_version", sa.String(32), nullable=False),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("(outcome IS NULL) <> (failure IS NULL)", name="outcome_or_failure"),
    sa.CheckConstraint("first IN ('a', 'b')", name="first"),
    sa.CheckConstraint("outcome IN ('a', 'b', 'tie')", name="outcome"),
    sa.CheckConstraint("reference IN ('verified', 'draft')", name="reference"),
    sa.Index(
        "ix_pairwise_judgements_judge_requested_run",
        "judge_requested",
        "prompt_version",
        "reference",
        "conversation_id",
    ),
)
