"""flash sales: sessions, reservations, per-customer holdings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flash_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("reservation_ttl_s", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("counter", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= quota", name=op.f("ck_flash_sessions_remaining")),
        sa.CheckConstraint("quota > 0 AND per_member_limit > 0 AND reservation_ttl_s > 0",
                           name=op.f("ck_flash_sessions_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sessions")),
    )
    op.create_index("ix_flash_sessions_ends_at", "flash_sessions", ["ends_at"], unique=False)
    op.create_index(op.f("ix_flash_sessions_sku_id"), "flash_sessions", ["sku_id"], unique=False)
    op.create_table(
        "flash_reservations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_flash_reservations_quantity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_reservations")),
    )
    op.create_index("ix_flash_reservations_session_status", "flash_reservations", ["session_id", "status"],
                    unique=False)
    op.create_index("ix_flash_reservations_status_expires", "flash_reservations", ["status", "expires_at"],
                    unique=False)
    op.create_index("ix_flash_reservations_session_person", "flash_reservations", ["session_id", "person_id"],
                    unique=False)
    op.create_index(op.f("ix_flash_reservations_order_id"), "flash_reservations", ["order_id"], unique=False)
    op.create_table(
        "flash_holdings",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.CheckConstraint("units >= 0", name=op.f("ck_flash_holdings_units")),
        sa.PrimaryKeyConstraint("session_id", "person_id", name=op.f("pk_flash_holdings")),
    )


def downgrade() -> None:
    op.drop_table("flash_holdings")
    op.drop_index(op.f("ix_flash_reservations_order_id"), table_name="flash_reservations")
    op.drop_index("ix_flash_reservations_session_person", table_name="flash_reservations")
    op.drop_index("ix_flash_reservations_status_expires", table_name="flash_reservations")
    op.drop_index("ix_flash_reservations_session_status", table_name="flash_reservations")
    op.drop_table("flash_reservations")
    op.drop_index(op.f("ix_flash_sessions_sku_id"), table_name="flash_sessions")
    op.drop_index("ix_flash_sessions_ends_at", table_name="flash_sessions")
    op.drop_table("flash_sessions")
