"""CDS Hooks: the cards issued and the feedback on them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_card",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("card", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason", sa.String(128), nullable=True),
        sa.Column("outcome_timestamp", sa.String(64), nullable=True),
    )
    op.create_index("ix_cds_feedback_received_at", "cds_feedback", ["received_at"])
    op.create_index("ix_cds_feedback_card", "cds_feedback", ["card"])


def downgrade() -> None:
    op.drop_index("ix_cds_feedback_card", table_name="cds_feedback")
    op.drop_index("ix_cds_feedback_received_at", table_name="cds_feedback")
    op.drop_table("cds_feedback")
    op.drop_table("cds_card")
