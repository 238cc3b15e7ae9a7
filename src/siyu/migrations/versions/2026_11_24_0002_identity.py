"""identity graph: persons, identifiers, channels, traits, counters, merges, conflicts, clock; token scopes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from siyu.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("merged_into", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index(op.f("ix_persons_merged_into"), "persons", ["merged_into"])
    op.create_table(
        "identifiers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifiers")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_identifiers_kind")),
    )
    op.create_index("ix_identifiers_person_id", "identifiers", ["person_id"])
    op.create_index("ix_identifiers_seq", "identifiers", ["seq"])
    op.create_table(
        "identifier_channels",
        sa.Column("identifier_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("identifier_id", "channel", name=op.f("pk_identifier_channels")),
    )
    op.create_table(
        "identifier_traits",
        sa.Column("identifier_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("identifier_id", "key", name=op.f("pk_identifier_traits")),
    )
    op.create_table(
        "trait_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identifier_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trait_history")),
        sa.UniqueConstraint("identifier_id", "key", "message_id", name=op.f("uq_trait_history_identifier_id")),
    )
    op.create_index(op.f("ix_trait_history_identifier_id"), "trait_history", ["identifier_id"])
    op.create_table(
        "person_counters",
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("first_order_at", UTCDateTime(), nullable=True),
        sa.Column("last_order_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_counters")),
    )
    op.create_table(
        "identity_merges",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("into_person", sa.String(32), nullable=False),
        sa.Column("from_person", sa.String(32), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("undone_at", UTCDateTime(), nullable=True),
        sa.Column("undone_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_merges")),
    )
    op.create_index(op.f("ix_identity_merges_into_person"), "identity_merges", ["into_person"])
    op.create_index(op.f("ix_identity_merges_from_person"), "identity_merges", ["from_person"])
    op.create_table(
        "identity_conflicts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("other_person_id", sa.String(32), nullable=False),
        sa.Column("identifier_kind", sa.String(24), nullable=False),
        sa.Column("identifier_value", sa.String(256), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_conflicts")),
        sa.UniqueConstraint("reason", "person_id", "other_person_id", "identifier_kind", "identifier_value",
                            name=op.f("uq_identity_conflicts_reason")),
    )
    op.create_index(op.f("ix_identity_conflicts_person_id"), "identity_conflicts", ["person_id"])
    op.create_table(
        "identity_separations",
        sa.Column("person_a", sa.String(32), nullable=False),
        sa.Column("person_b", sa.String(32), nullable=False),
        sa.Column("merge_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_a", "person_b", name=op.f("pk_identity_separations")),
    )
    clock = op.create_table(
        "identity_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_clock")),
    )
    op.bulk_insert(clock, [{"id": 1, "seq": 0}])
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
    )


def downgrade() -> None:
    for table in ("signing_keys", "identity_clock", "identity_separations",
                  "identity_conflicts", "identity_merges", "person_counters",
                  "trait_history", "identifier_traits", "identifier_channels", "identifiers", "persons"):
        op.drop_table(table)
