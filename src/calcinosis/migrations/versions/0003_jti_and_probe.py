"""The CDS Hooks JWT replay cache, and the row the health probe rewrites.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_jti",
        sa.Column("key", sa.String(64), primary_key=True),  # SHA-256 of (issuer, jti)
        sa.Column("expires_at", sa.BigInteger(), nullable=False),  # Unix seconds
    )
    op.create_index("ix_cds_jti_expires_at", "cds_jti", ["expires_at"])
    probe = op.create_table(
        "storage_probe",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(probe, [{"id": 1, "checked_at": datetime.now(UTC).replace(microsecond=0)}])


def downgrade() -> None:
    op.drop_table("storage_probe")
    op.drop_index("ix_cds_jti_expires_at", table_name="cds_jti")
    op.drop_table("cds_jti")
