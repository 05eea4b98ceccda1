"""Team mode: who last edited a record (for four eyes), to whom it is assigned, and people's
claims on the records they have open. On PostgreSQL the database, not the client, writes who
did something: every column naming the actor of a write takes the login role
(``current_user``), whatever the client sent (docs/adr/0023). Superusers and the team's admins
are trusted to name others (restoring a backup or importing a dataset keeps its recorded
authors); everyone else is what they logged in as.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (function, table, timing/events, body). The bodies only overwrite actor columns; the team's
# rules (roles, four eyes, claims) come with `annotator team init`.
_IDENTITY = (
    (
        "annotator_history_actor",
        "history",
        "BEFORE INSERT OR UPDATE",
        "NEW.actor := current_user;",
    ),
    (
        "annotator_judgement_actor",
        "judgements",
        "BEFORE INSERT OR UPDATE",
        "NEW.actor := current_user;",
    ),
    (
        "annotator_pairwise_judgement_actor",
        "pairwise_judgements",
        "BEFORE INSERT OR UPDATE",
        "NEW.actor := current_user;",
    ),
    (
        "annotator_review_reviewer",
        "reviews",
        "BEFORE INSERT",
        "NEW.reviewer := current_user; "
        "IF NEW.resolved_by IS NOT NULL THEN NEW.resolved_by := current_user; END IF;",
    ),
    (
        "annotator_review_resolver",
        "reviews",
        "BEFORE UPDATE",
        "NEW.reviewer := OLD.reviewer; "
        "IF NEW.resolved_by IS DISTINCT FROM OLD.resolved_by AND NEW.resolved_by IS NOT NULL "
        "THEN NEW.resolved_by := current_user; END IF;",
    ),
    (
        "annotator_conversation_insert_actor",
        "conversations",
        "BEFORE INSERT",
        "NEW.last_editor := current_user; "
        "IF NEW.last_reviewer IS NOT NULL THEN NEW.last_reviewer := current_user; END IF;",
    ),
    (
        "annotator_conversation_update_actor",
        "conversations",
        "BEFORE UPDATE",
        "IF NEW.last_reviewer IS DISTINCT FROM OLD.last_reviewer AND NEW.last_reviewer IS NOT NULL "
        "THEN NEW.last_reviewer := current_user; END IF; "
        "IF NEW.last_editor IS DISTINCT FROM OLD.last_editor OR NEW.focus IS DISTINCT FROM "
        "OLD.focus THEN NEW.last_editor := current_user; END IF;",
    ),
    (
        "annotator_final_mask_author",
        "masks",
        "BEFORE INSERT OR UPDATE",
        "IF NEW.layer = 'final' THEN NEW.author := current_user; END IF;",
    ),
    (
        "annotator_work_claim_holder",
        "work_claims",
        "BEFORE INSERT OR UPDATE",
        "NEW.holder := current_user;",
    ),
)

# Content rows changed -> their record's last editor is whoever changed them. Statement-level
# with transition tables: one UPDATE per statement, not per turn or mask row.
_CONTENT = tuple(
    (table, event, "NEW" if event != "DELETE" else "OLD")
    for table in ("turns", "masks")
    for event in ("INSERT", "UPDATE", "DELETE")
)


# True for a superuser, or a member of the team's ``admin`` role once `team init` made it.
_TRUSTED = (
    "CREATE OR REPLACE FUNCTION annotator_actor_trusted() RETURNS boolean LANGUAGE sql STABLE "
    "AS $$ SELECT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) "
    "OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'admin') "
    "THEN pg_has_role(current_user, 'admin', 'MEMBER') ELSE false END $$"
)


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_editor", sa.Text, nullable=True))
        batch_op.add_column(sa.Column("assignee", sa.Text, nullable=True))
        batch_op.add_column(sa.Column("edit_txid", sa.BigInteger, nullable=True))
        batch_op.create_index(batch_op.f("ix_conversations_assignee"), ["assignee"])
    op.create_table(
        "work_claims",
        sa.Column("conversation_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('annotator', 'reviewer')", name=op.f("ck_work_claims_role")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_work_claims_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_work_claims")),
    )
    op.create_index(op.f("ix_work_claims_holder"), "work_claims", ["holder"])
    # Existing records: their last editor is the actor of their latest content event.
    op.execute(
        "UPDATE conversations SET last_editor = (SELECT h.actor FROM history h "
        "WHERE h.conversation_id = conversations.id "
        "AND h.action NOT IN ('review', 'status', 'claim') "
        "ORDER BY h.created_at DESC, h.id DESC LIMIT 1)"
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_TRUSTED)
    for function, table, timing, body in _IDENTITY:
        op.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF NOT annotator_actor_trusted() THEN {body} END IF; RETURN NEW; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {function} {timing} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {function}()"
        )
    for table, event, side in _CONTENT:
        name = f"annotator_{table}_{event.lower()}_editor"
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF annotator_actor_trusted() THEN RETURN NULL; END IF; "
            "UPDATE conversations SET last_editor = current_user WHERE id IN "
            "(SELECT conversation_id FROM changed) AND last_editor IS DISTINCT FROM current_user; "
            "RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {side} TABLE AS changed "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, event, _side in _CONTENT:
            name = f"annotator_{table}_{event.lower()}_editor"
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        for function, table, _timing, _body in _IDENTITY:
            op.execute(f"DROP TRIGGER IF EXISTS {function} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        op.execute("DROP FUNCTION IF EXISTS annotator_actor_trusted()")
    op.drop_index(op.f("ix_work_claims_holder"), table_name="work_claims")
    op.drop_table("work_claims")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_assignee"))
        batch_op.drop_column("edit_txid")
        batch_op.drop_column("assignee")
        batch_op.drop_column("last_editor")
