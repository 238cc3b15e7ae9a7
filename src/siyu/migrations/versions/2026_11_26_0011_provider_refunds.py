"""refunds made by the payment provider on its own: their id there, recorded once per payment

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_ref', sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_refunds_payment_id'), ['payment_id', 'provider_ref'])


def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_refunds_payment_id'), type_='unique')
        batch_op.drop_column('provider_ref')
