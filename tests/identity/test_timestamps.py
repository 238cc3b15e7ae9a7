"""The resolver writes channel times as text straight to SQLite: they must be exactly what SQLAlchemy's
UTCDateTime column would store, or range queries and ordering over them would break."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from siyu.db import Base
from siyu.identity.models import IdentifierChannel
from siyu.identity.repository import sqlite_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = st.integers(min_value=-(10**15), max_value=4 * 10**15)  # 1938 .. 2096


@given(US)
def test_sqlite_timestamp_is_the_datetime_column_text(us: int) -> None:
    d = EPOCH + timedelta(microseconds=us)
    assert sqlite_timestamp(us) == d.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_a_written_timestamp_reads_back_as_the_same_time() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[IdentifierChannel.__table__])  # type: ignore[list-item]
    us = 1_733_600_000_123_456
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO identifier_channels VALUES ('i', 'web', ?, ?)",
                             (sqlite_timestamp(us), sqlite_timestamp(us + 1)))
        row = conn.execute(select(IdentifierChannel.first_seen, IdentifierChannel.last_seen)).one()
    assert row == (EPOCH + timedelta(microseconds=us), EPOCH + timedelta(microseconds=us + 1))
