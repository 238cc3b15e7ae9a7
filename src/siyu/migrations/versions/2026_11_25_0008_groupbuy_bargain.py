"""group-buy (rules, groups, members), bargains (campaigns, bargains, cuts) and promotion share links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_buy_rules',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sku_id', sa.String(length=32), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('group_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('leader_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=False),
    sa.Column('max_quantity', sa.Integer(), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('size >= 2', name=op.f('ck_group_buy_rules_size')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_buy_rules'))
    )
    op.create_index(op.f('ix_group_buy_rules_sku_id'), 'group_buy_rules', ['sku_id'], unique=False)
    op.create_table('group_buy_groups',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.String(length=32), nullable=False),
    sa.Column('leader_person_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('seats_paid', sa.Integer(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('opened_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint('seats_paid >= 0 AND seats_paid <= size', name=op.f('ck_group_buy_groups_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_buy_groups'))
    )
    op.create_index(op.f('ix_group_buy_groups_leader_person_id'), 'group_buy_groups', ['leader_person_id'],
                    unique=False)
    op.create_index('ix_group_buy_groups_rule_status', 'group_buy_groups', ['rule_id', 'status'], unique=False)
    op.create_index('ix_group_buy_groups_status_expires', 'group_buy_groups', ['status', 'expires_at'], unique=False)
    op.create_table('group_buy_members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=True),
    sa.Column('slot', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('seated_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_buy_members')),
    sa.UniqueConstraint('group_id', 'seat', name=op.f('uq_group_buy_members_group_id')),
    sa.UniqueConstraint('order_id', name=op.f('uq_group_buy_members_order_id')),
    sa.UniqueConstraint('rule_id', 'person_id', 'slot', name=op.f('uq_group_buy_members_rule_id'))
    )
    op.create_index(op.f('ix_group_buy_members_group_id'), 'group_buy_members', ['group_id'], unique=False)
    op.create_index('ix_group_buy_members_person', 'group_buy_members', ['person_id', 'status'], unique=False)
    op.create_table('promotion_shares',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.String(length=32), nullable=False),
    sa.Column('sharer_person_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('utm_source', sa.String(length=100), nullable=False),
    sa.Column('utm_medium', sa.String(length=100), nullable=False),
    sa.Column('utm_campaign', sa.String(length=100), nullable=False),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_shares')),
    sa.UniqueConstraint('kind', 'target_id', 'sharer_person_id', 'channel', 'utm_source', 'utm_medium',
                        'utm_campaign', name=op.f('uq_promotion_shares_kind'))
    )
    op.create_table('bargain_campaigns',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sku_id', sa.String(length=32), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('start_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('floor_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('helpers_needed', sa.Integer(), nullable=False),
    sa.Column('min_cut_fen', sa.BigInteger(), nullable=False),
    sa.Column('max_cut_fen', sa.BigInteger(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=False),
    sa.Column('helper_daily_limit', sa.Integer(), nullable=False),
    sa.Column('buy_before_floor', sa.Boolean(), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('floor_price_fen >= 0 AND floor_price_fen < start_price_fen',
                       name=op.f('ck_bargain_campaigns_prices')),
    sa.CheckConstraint('min_cut_fen >= 1 AND min_cut_fen <= max_cut_fen', name=op.f('ck_bargain_campaigns_cuts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_campaigns'))
    )
    op.create_index(op.f('ix_bargain_campaigns_sku_id'), 'bargain_campaigns', ['sku_id'], unique=False)
    op.create_table('bargains',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=32), nullable=False),
    sa.Column('initiator_person_id', sa.String(length=32), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('start_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('floor_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('current_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('helpers', sa.Integer(), nullable=False),
    sa.Column('helpers_needed', sa.Integer(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('reached_at', UTCDateTime(), nullable=True),
    sa.Column('order_id', sa.String(length=32), nullable=True),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint('current_price_fen >= floor_price_fen', name=op.f('ck_bargains_floor')),
    sa.CheckConstraint('helpers >= 0 AND helpers <= helpers_needed', name=op.f('ck_bargains_helpers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargains')),
    sa.UniqueConstraint('campaign_id', 'initiator_person_id', 'slot', name=op.f('uq_bargains_campaign_id'))
    )
    op.create_index(op.f('ix_bargains_initiator_person_id'), 'bargains', ['initiator_person_id'], unique=False)
    op.create_index(op.f('ix_bargains_order_id'), 'bargains', ['order_id'], unique=False)
    op.create_index('ix_bargains_status_expires', 'bargains', ['status', 'expires_at'], unique=False)
    op.create_table('bargain_cuts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('bargain_id', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=32), nullable=False),
    sa.Column('helper_person_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('price_after_fen', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('day_slot', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_bargain_cuts_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_cuts')),
    sa.UniqueConstraint('bargain_id', 'helper_person_id', name='uq_bargain_cuts_helper'),
    sa.UniqueConstraint('bargain_id', 'seq', name='uq_bargain_cuts_seq'),
    sa.UniqueConstraint('campaign_id', 'helper_person_id', 'day', 'day_slot', name='uq_bargain_cuts_day_slot')
    )


def downgrade() -> None:
    op.drop_table('bargain_cuts')
    op.drop_index('ix_bargains_status_expires', table_name='bargains')
    op.drop_index(op.f('ix_bargains_order_id'), table_name='bargains')
    op.drop_index(op.f('ix_bargains_initiator_person_id'), table_name='bargains')
    op.drop_table('bargains')
    op.drop_index(op.f('ix_bargain_campaigns_sku_id'), table_name='bargain_campaigns')
    op.drop_table('bargain_campaigns')
    op.drop_table('promotion_shares')
    op.drop_index('ix_group_buy_members_person', table_name='group_buy_members')
    op.drop_index(op.f('ix_group_buy_members_group_id'), table_name='group_buy_members')
    op.drop_table('group_buy_members')
    op.drop_index('ix_group_buy_groups_status_expires', table_name='group_buy_groups')
    op.drop_index('ix_group_buy_groups_rule_status', table_name='group_buy_groups')
    op.drop_index(op.f('ix_group_buy_groups_leader_person_id'), table_name='group_buy_groups')
    op.drop_table('group_buy_groups')
    op.drop_index(op.f('ix_group_buy_rules_sku_id'), table_name='group_buy_rules')
    op.drop_table('group_buy_rules')
