"""referral (invite codes, referrals, rewards, the hash-chained ledger and its checkpoint) and channel links

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER referral_ledger_no_{op} BEFORE {OP} ON referral_ledger "
    "BEGIN SELECT RAISE(ABORT, 'referral_ledger is append-only'); END"
)
_APPEND_ONLY_PG_FN = """
CREATE OR REPLACE FUNCTION referral_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'referral_ledger is append-only';
END;
$$ LANGUAGE plpgsql
"""
_APPEND_ONLY_PG = ("CREATE TRIGGER referral_ledger_append_only BEFORE UPDATE OR DELETE ON referral_ledger "
                   "FOR EACH ROW EXECUTE FUNCTION referral_ledger_append_only()")


def upgrade() -> None:
    op.create_table('channel_links',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('target_url', sa.String(length=2000), nullable=False),
    sa.Column('page_path', sa.String(length=512), nullable=True),
    sa.Column('scene', sa.String(length=32), nullable=True),
    sa.Column('source_channel', sa.String(length=16), nullable=False),
    sa.Column('utm_source', sa.String(length=100), nullable=True),
    sa.Column('utm_medium', sa.String(length=100), nullable=True),
    sa.Column('utm_campaign', sa.String(length=100), nullable=True),
    sa.Column('utm_term', sa.String(length=100), nullable=True),
    sa.Column('utm_content', sa.String(length=100), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_links')),
    sa.UniqueConstraint('code', name=op.f('uq_channel_links_code'))
    )
    with op.batch_alter_table('channel_links', schema=None) as batch_op:
        batch_op.create_index('ix_channel_links_created', ['created_at'], unique=False)

    op.create_table('referral_program',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_program'))
    )
    op.create_table('referral_codes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('link_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_referral_codes')),
    sa.UniqueConstraint('person_id', name=op.f('uq_referral_codes_person_id'))
    )
    op.create_table('referrals',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('referrer_person_id', sa.String(length=32), nullable=False),
    sa.Column('invitee_person_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('void_reason', sa.String(length=64), nullable=True),
    sa.Column('first_order_id', sa.String(length=32), nullable=True),
    sa.Column('bound_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('invitee_person_id', name=op.f('uq_referrals_invitee_person_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_referrer', ['referrer_person_id', 'bound_at'], unique=False)

    op.create_table('referral_rewards',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('referral_id', sa.String(length=32), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('beneficiary', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('coupon_template_id', sa.String(length=32), nullable=True),
    sa.Column('coupon_id', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('source_event', sa.String(length=64), nullable=False),
    sa.Column('ledger_seq', sa.BigInteger(), nullable=True),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_rewards')),
    sa.UniqueConstraint('referral_id', 'trigger', 'ref', 'beneficiary', name=op.f('uq_referral_rewards_referral_id'))
    )
    with op.batch_alter_table('referral_rewards', schema=None) as batch_op:
        batch_op.create_index('ix_referral_rewards_person', ['person_id', 'beneficiary', 'at'], unique=False)

    op.create_table('referral_ledger',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_referral_ledger'))
    )
    op.create_table('referral_ledger_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_ledger_head'))
    )
    # Append-only in the database too: an UPDATE or DELETE of an entry is refused (whoever can drop the
    # trigger can still tamper; verify detects that).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_PG_FN)
        op.execute(_APPEND_ONLY_PG)
    else:
        for name in ("update", "delete"):
            op.execute(_APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS referral_ledger_append_only ON referral_ledger")
        op.execute("DROP FUNCTION IF EXISTS referral_ledger_append_only()")
    op.drop_table('referral_ledger_head')
    op.drop_table('referral_ledger')
    with op.batch_alter_table('referral_rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_rewards_person')

    op.drop_table('referral_rewards')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_referrer')

    op.drop_table('referrals')
    op.drop_table('referral_codes')
    op.drop_table('referral_program')
    with op.batch_alter_table('channel_links', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_links_created')

    op.drop_table('channel_links')
