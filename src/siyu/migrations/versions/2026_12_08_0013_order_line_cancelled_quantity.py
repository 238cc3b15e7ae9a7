"""order lines: units taken off before they shipped (refunded before shipping, or the paid order cancelled)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_quantity', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_check_constraint(op.f('ck_order_lines_cancelled'),
                                         'cancelled_quantity >= 0 AND cancelled_quantity <= quantity')


def downgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_order_lines_cancelled'), type_='check')
        batch_op.drop_column('cancelled_quantity')
