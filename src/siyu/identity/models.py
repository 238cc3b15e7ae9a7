"""The identity graph in the operational database.

Everything a person "has" is kept per identifier, not per person: channel presence, traits and counters
hang off the identifier the event or command was anchored to. A person is the set of identifiers that
point at it, so a merge is one UPDATE of ``identifiers.person_id`` and an unmerge moves the same rows back:
the traits, channels and events (mapped through identifiers at query time) follow without being copied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    merged_into: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class Identifier(Base):
    __tablename__ = "identifiers"
    __table_args__ = (
        UniqueConstraint("kind", "value"),
        Index("ix_identifiers_person_id", "person_id"),
        Index("ix_identifiers_seq", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(256))
    person_id: Mapped[str] = mapped_column(String(32))
    # The identity clock value of the last transaction that attached or moved this identifier; the event
    # store's copy of the identifier links is synchronised by it.
    seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentifierChannel(Base):
    __tablename__ = "identifier_channels"

    identifier_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentifierTrait(Base):
    """The newest value of one trait as observed on one identifier."""

    __tablename__ = "identifier_traits"

    identifier_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TraitChange(Base):
    """Every observed trait value (history), one row per identifier, key and message."""

    __tablename__ = "trait_history"
    __table_args__ = (UniqueConstraint("identifier_id", "key", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier_id: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(128))


class PersonCounters(Base):
    """Counters that other domains keep (orders, revenue), per person id. A merged-away person keeps its
    row; a profile adds up the rows of every person merged into it, so an unmerge takes them back."""

    __tablename__ = "person_counters"

    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    revenue_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdentityMerge(Base):
    """An audited merge (automatic or by an operator) or unmerge; ``identifiers`` lists what moved."""

    __tablename__ = "identity_merges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # merge | unmerge
    into_person: Mapped[str] = mapped_column(String(32), index=True)
    from_person: Mapped[str] = mapped_column(String(32), index=True)
    identifiers: Mapped[list[Any]] = mapped_column(JSON)
    trigger: Mapped[str] = mapped_column(String(32))  # identify | alias | login | operator
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class IdentityConflict(Base):
    """An event that would have joined two identified persons, or exceeded a per-kind limit."""

    __tablename__ = "identity_conflicts"
    __table_args__ = (UniqueConstraint("reason", "person_id", "other_person_id", "identifier_kind",
                                       "identifier_value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(24))  # identified_persons | limit
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    other_person_id: Mapped[str] = mapped_column(String(32))  # "" for a limit
    identifier_kind: Mapped[str] = mapped_column(String(24))
    identifier_value: Mapped[str] = mapped_column(String(256))
    message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdentitySeparation(Base):
    """Two persons an operator split apart: resolution never merges them again (only an operator can)."""

    __tablename__ = "identity_separations"

    person_a: Mapped[str] = mapped_column(String(32), primary_key=True)  # the smaller id of the pair
    person_b: Mapped[str] = mapped_column(String(32), primary_key=True)
    merge_id: Mapped[str] = mapped_column(String(32))  # the merge whose undo made it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentityClock(Base):
    """One row. Every identity transaction increments it first, which serialises identity writes (the row
    lock on PostgreSQL, the write lock on SQLite) so the clock orders commits exactly."""

    __tablename__ = "identity_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
