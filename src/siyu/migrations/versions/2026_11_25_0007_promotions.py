"""promotions: coupon templates and coupons, price schedules, presale early access

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_templates',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('percent_bp', sa.Integer(), nullable=False),
    sa.Column('threshold_fen', sa.BigInteger(), nullable=False),
    sa.Column('max_discount_fen', sa.BigInteger(), nullable=True),
    sa.Column('valid_from', UTCDateTime(), nullable=True),
    sa.Column('valid_until', UTCDateTime(), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('tiers', sa.JSON(), nullable=False),
    sa.Column('new_members_only', sa.Boolean(), nullable=False),
    sa.Column('sku_ids', sa.JSON(), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('stacking_group', sa.String(length=32), nullable=False),
    sa.Column('claimable', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('total IS NULL OR issued <= total', name=op.f('ck_coupon_templates_issued')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_templates'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('valid_from', UTCDateTime(), nullable=False),
    sa.Column('valid_until', UTCDateTime(), nullable=False),
    sa.Column('locked_order_id', sa.String(length=32), nullable=True),
    sa.Column('locked_until', UTCDateTime(), nullable=True),
    sa.Column('redeemed_order_id', sa.String(length=32), nullable=True),
    sa.Column('redeemed_at', UTCDateTime(), nullable=True),
    sa.Column('discount_fen', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('template_id', 'person_id', 'slot', name=op.f('uq_coupons_template_id'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_locked_order', ['locked_order_id'], unique=False)
        batch_op.create_index('ix_coupons_person_status', ['person_id', 'status'], unique=False)

    op.create_table('early_access',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('sku_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('opens_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_access')),
    sa.UniqueConstraint('sku_id', 'channel', 'tier', name=op.f('uq_early_access_sku_id'))
    )
    op.create_table('price_schedules',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('sku_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=True),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_schedules'))
    )
    with op.batch_alter_table('price_schedules', schema=None) as batch_op:
        batch_op.create_index('ix_price_schedules_sku_channel_start', ['sku_id', 'channel', 'starts_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('price_schedules', schema=None) as batch_op:
        batch_op.drop_index('ix_price_schedules_sku_channel_start')

    op.drop_table('price_schedules')
    op.drop_table('early_access')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_person_status')
        batch_op.drop_index('ix_coupons_locked_order')

    op.drop_table('coupons')
    op.drop_table('coupon_templates')
