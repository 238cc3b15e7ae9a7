"""The operational database: engine, sessions and the declarative base.

SQLite (a file in the data directory) by default, PostgreSQL by URL. One transaction owner per request
or message: routers get a session from :func:`session_scope` (or the FastAPI dependency in
``siyu.deps``), services only ``flush``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, DateTime, Engine, MetaData, Result, TypeDecorator, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from siyu.errors import SiyuError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


M = TypeVar("M", bound=Base)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Connections are cheap: enough for every request thread (40) and the workers, so requests wait for
        # SQLite's write lock, not for a connection.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10,
                               max_overflow=60)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (conditional writes check it). Not for INSERT ... ON CONFLICT: with
    psycopg it reports -1; use RETURNING there."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def get_or_raise(session: Session, model: type[M], key: Any, error: type[SiyuError], field: str,
                 *, fresh: bool = False) -> M:
    """The row of ``model`` with primary key ``key``, or ``error`` (a domain's not-found error) with the key in
    its details as ``field``. ``fresh`` reloads a row the session already holds (under a lock just taken)."""
    row = session.get(model, key, populate_existing=fresh)
    if row is None:
        raise error(details={field: key})
    return row


def upsert(session: Session, model: Any) -> Any:
    """An INSERT of the session's dialect, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``
    (both dialects spell them the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commit on success, roll back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
