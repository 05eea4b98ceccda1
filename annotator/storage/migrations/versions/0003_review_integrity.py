"""Review integrity: a review stores the fingerprint of what it judged (and the mask, for the
agreement of double reviews) and comments can be resolved; the list carries each record's
count of stale verdicts; the project's reason codes and settings (blind-first review required)
live in the database; a proposal keeps how it came about (``detail``: a model's box and raw
reply, SAM's candidates).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The four codes every project had before the list was editable.
SEEDED = [
    ("mask_wrong", "Mask wrong"),
    ("text_wrong", "Text wrong"),
    ("ungroundable", "Ungroundable"),
    ("ambiguous_reference", "Ambiguous reference"),
]


def upgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fingerprint", sa.String(64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("turn_fingerprints", sa.JSON, nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("judged_mask", sa.JSON, nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.Text, nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stale_verdicts", sa.Integer, nullable=False, server_default="0")
        )
    reasons = op.create_table(
        "reason_codes",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reason_codes")),
    )
    op.bulk_insert(
        reasons,
        [{"code": c, "label": label, "position": i} for i, (c, label) in enumerate(SEEDED)],
    )
    op.create_table(
        "project_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_project_settings")),
    )


def downgrade() -> None:
    op.drop_table("project_settings")
    op.drop_table("reason_codes")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("stale_verdicts")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_column("detail")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("judged_mask")
        batch_op.drop_column("turn_fingerprints")
        batch_op.drop_column("fingerprint")
