"""loyalty: members, programme, point lots and ledger, growth ledger, check-ins, tier changes, points mall,
redemptions, quests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checkins',
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'day', name=op.f('pk_checkins'))
    )
    op.create_table('growth_ledger',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_growth_ledger')),
    sa.UniqueConstraint('member_id', 'key', name=op.f('uq_growth_ledger_member_id'))
    )
    with op.batch_alter_table('growth_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_growth_ledger_member_day', ['member_id', 'day'], unique=False)

    op.create_table('loyalty_program',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('period_started_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_program'))
    )
    op.create_table('mall_items',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('cash_fen', sa.BigInteger(), nullable=False),
    sa.Column('sku_id', sa.String(length=32), nullable=True),
    sa.Column('coupon_template_id', sa.String(length=32), nullable=True),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('min_tier', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_mall_items_stock')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mall_items'))
    )
    op.create_table('members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('joined_at', UTCDateTime(), nullable=False),
    sa.Column('joined_channel', sa.String(length=16), nullable=False),
    sa.Column('consents', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('tier_since', UTCDateTime(), nullable=False),
    sa.Column('growth', sa.BigInteger(), nullable=False),
    sa.Column('period_growth', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('pending_points', sa.BigInteger(), nullable=False),
    sa.Column('last_birthday_gift_year', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('pending_points >= 0', name=op.f('ck_members_pending')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_members_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('person_id', name=op.f('uq_members_person_id'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_tier_growth', ['tier', 'period_growth'], unique=False)

    op.create_table('point_ledger',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('pending_delta', sa.BigInteger(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('lot_id', sa.String(length=32), nullable=True),
    sa.Column('ref', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_ledger')),
    sa.UniqueConstraint('member_id', 'key', name=op.f('uq_point_ledger_member_id'))
    )
    with op.batch_alter_table('point_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_point_ledger_member_at', ['member_id', 'at'], unique=False)

    op.create_table('point_lots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source_kind', sa.String(length=24), nullable=False),
    sa.Column('source_id', sa.String(length=128), nullable=False),
    sa.Column('earned_at', UTCDateTime(), nullable=False),
    sa.Column('available_at', UTCDateTime(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('remaining >= 0 AND remaining <= amount', name=op.f('ck_point_lots_remaining')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_lots'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_index('ix_point_lots_member_status_expiry', ['member_id', 'status', 'expires_at'], unique=False)
        batch_op.create_index('ix_point_lots_source', ['source_kind', 'source_id'], unique=False)
        batch_op.create_index('ix_point_lots_status_available', ['status', 'available_at'], unique=False)

    op.create_table('point_spend_parts',
    sa.Column('entry_id', sa.String(length=32), nullable=False),
    sa.Column('lot_id', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('entry_id', 'lot_id', name=op.f('pk_point_spend_parts'))
    )
    op.create_table('quest_actions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quest_actions')),
    sa.UniqueConstraint('member_id', 'key', name=op.f('uq_quest_actions_member_id'))
    )
    with op.batch_alter_table('quest_actions', schema=None) as batch_op:
        batch_op.create_index('ix_quest_actions_member_at', ['member_id', 'at'], unique=False)

    op.create_table('quest_completions',
    sa.Column('quest_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=False),
    sa.Column('entry_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('quest_id', 'member_id', name=op.f('pk_quest_completions'))
    )
    op.create_table('quests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('goals', sa.JSON(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('reward_points', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=True),
    sa.Column('ends_at', UTCDateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quests'))
    )
    op.create_table('redemptions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=True),
    sa.Column('order_id', sa.String(length=32), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('cash_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('entry_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_member_item', ['member_id', 'item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemptions_order_id'), ['order_id'], unique=False)

    op.create_table('tier_changes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('from_tier', sa.String(length=32), nullable=False),
    sa.Column('to_tier', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_changes'))
    )
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tier_changes_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tier_changes_member_id'))

    op.drop_table('tier_changes')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemptions_order_id'))
        batch_op.drop_index('ix_redemptions_member_item')

    op.drop_table('redemptions')
    op.drop_table('quests')
    op.drop_table('quest_completions')
    with op.batch_alter_table('quest_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_quest_actions_member_at')

    op.drop_table('quest_actions')
    op.drop_table('point_spend_parts')
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_point_lots_status_available')
        batch_op.drop_index('ix_point_lots_source')
        batch_op.drop_index('ix_point_lots_member_status_expiry')

    op.drop_table('point_lots')
    with op.batch_alter_table('point_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_point_ledger_member_at')

    op.drop_table('point_ledger')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_tier_growth')

    op.drop_table('members')
    op.drop_table('mall_items')
    op.drop_table('loyalty_program')
    with op.batch_alter_table('growth_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_growth_ledger_member_day')

    op.drop_table('growth_ledger')
    op.drop_table('checkins')
