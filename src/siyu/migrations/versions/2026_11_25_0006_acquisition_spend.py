"""analytics: acquisition spend per channel, campaign and period

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acquisition_spend",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_acquisition_spend_amount")),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_acquisition_spend_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquisition_spend")),
        sa.UniqueConstraint("channel", "campaign", "start_date", "end_date", name=op.f("uq_acquisition_spend_channel")),
    )


def downgrade() -> None:
    op.drop_table("acquisition_spend")
