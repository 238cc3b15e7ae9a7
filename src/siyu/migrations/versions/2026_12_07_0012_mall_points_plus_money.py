"""points mall: points plus money (a redemption waits for the order that pays its cash part until expires_at)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_redemptions_status_expires', ['status', 'expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_status_expires')
        batch_op.drop_column('expires_at')
