"""The plan audit table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("evidence_version", sa.String(64), nullable=False),
        sa.Column("subtype", sa.String(32), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
    )
    op.create_index("ix_plan_audit_created_at", "plan_audit", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_plan_audit_created_at", table_name="plan_audit")
    op.drop_table("plan_audit")
