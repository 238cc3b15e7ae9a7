"""Statements of the identity graph that differ by dialect (upserts) or are shared by the resolver and the
operator tools."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.identity.models import (
    Identifier,
    IdentifierChannel,
    IdentifierTrait,
    IdentityClock,
    IdentityConflict,
    IdentityMerge,
    IdentitySeparation,
    Person,
    TraitChange,
)

CHUNK = 2000


def _insert(session: Session, model: Any) -> Any:
    """An INSERT of the dialect (for its ON CONFLICT) on the model's table: a Core statement, so a list of
    rows is one executemany without the ORM's per-row bulk-insert bookkeeping."""
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _least(session: Session, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if session.get_bind().dialect.name == "postgresql" else func.min(a, b)


def _greatest(session: Session, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if session.get_bind().dialect.name == "postgresql" else func.max(a, b)


def tick(session: Session) -> int:
    """Increment the identity clock and return its new value. As the first write of an identity transaction
    it takes the lock that serialises identity writers until commit (row lock / SQLite write lock)."""
    seq = session.execute(
        update(IdentityClock).where(IdentityClock.id == 1).values(seq=IdentityClock.seq + 1)
        .returning(IdentityClock.seq)
    ).scalar()
    if seq is None:  # a database created without the migration's seed row
        session.execute(_insert(session, IdentityClock).values(id=1, seq=1).on_conflict_do_nothing())
        return tick(session)
    return int(seq)


def clock(session: Session) -> int:
    return int(session.scalar(select(IdentityClock.seq).where(IdentityClock.id == 1)) or 0)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _sqlite(session: Session) -> Any | None:
    """The session's DB-API connection when it is SQLite (same transaction), else None. The resolver's bulk
    statements go to it directly on SQLite: its ``executemany`` and ``fetchall`` skip SQLAlchemy's per-row
    parameter and result processing, which costs more there than the statements themselves."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.driver_connection


_EPOCH_NAIVE = datetime(1970, 1, 1)


_DAYS: dict[int, str] = {}


def sqlite_timestamp(us: int) -> str:
    """Microseconds since the epoch as SQLAlchemy stores a UTC datetime in SQLite (``UTCDateTime``). By integer
    arithmetic, the date of each day formatted once (twice as fast as formatting a datetime: a batch formats
    one per channel row it touches)."""
    day, rem = divmod(us, 86_400_000_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = f"{_EPOCH_NAIVE + timedelta(days=day):%Y-%m-%d}"
    h, rem = divmod(rem, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    s, micro = divmod(rem, 1_000_000)
    return f"{date} {h:02d}:{m:02d}:{s:02d}.{micro:06d}"


def find_identifiers(session: Session, kind: str, values: Sequence[str]) -> list[tuple[str, str, str]]:
    """(value, identifier id, person id) for the given values of one kind."""
    out: list[tuple[str, str, str]] = []
    raw = _sqlite(session)
    if raw is not None:
        for part in chunks(values, 900):  # under SQLite's default limit of host parameters
            sql = ("SELECT value, id, person_id FROM identifiers WHERE kind = ? AND value IN ("
                   + ",".join("?" * len(part)) + ")")
            out.extend(raw.execute(sql, (kind, *part)).fetchall())
        return out
    for part in chunks(values):
        rows = session.execute(
            select(Identifier.value, Identifier.id, Identifier.person_id)
            .where(Identifier.kind == kind, Identifier.value.in_(part))
        )
        out.extend((r[0], r[1], r[2]) for r in rows)
    return out


def person_keys(session: Session, person_id: str) -> list[tuple[str, str]]:
    rows = session.execute(select(Identifier.kind, Identifier.value).where(Identifier.person_id == person_id))
    return [(r[0], r[1]) for r in rows]


def insert_persons(session: Session, ids: Sequence[str], now: datetime) -> None:
    if ids:
        session.execute(_insert(session, Person), [{"id": p, "created_at": now, "merged_into": None} for p in ids])


def insert_identifiers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        session.execute(_insert(session, Identifier), list(part))


def move_identifiers(session: Session, ids: Sequence[str], person_id: str, seq: int) -> None:
    for part in chunks(ids):
        session.execute(update(Identifier).where(Identifier.id.in_(part)).values(person_id=person_id, seq=seq))


def identifiers_of_persons(session: Session, person_ids: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(person id, identifier id, kind, value) of every identifier of the given persons."""
    out: list[tuple[str, str, str, str]] = []
    for part in chunks(person_ids):
        rows = session.execute(select(Identifier.person_id, Identifier.id, Identifier.kind, Identifier.value)
                               .where(Identifier.person_id.in_(part)))
        out.extend((r[0], r[1], r[2], r[3]) for r in rows)
    return out


def move_persons_identifiers(session: Session, moves: Sequence[tuple[str, str]], seq: int) -> None:
    """Every identifier of each (from person, to person) pair moves to the second (merges, in one statement
    per batch of pairs)."""
    if moves:
        table = cast(Table, Identifier.__table__)
        stmt = (update(table).where(table.c.person_id == bindparam("from_person"))
                .values(person_id=bindparam("to_person"), seq=seq))
        session.execute(stmt, [{"from_person": a, "to_person": b} for a, b in moves])


def mark_merged(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    """persons.merged_into for each (merged-away person, person it was merged into)."""
    if pairs:
        table = cast(Table, Person.__table__)
        stmt = update(table).where(table.c.id == bindparam("loser")).values(merged_into=bindparam("winner"))
        session.execute(stmt, [{"loser": a, "winner": b} for a, b in pairs])


def insert_merges(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(cast(Table, IdentityMerge.__table__)), list(rows))


def identifier_ids_of(session: Session, person_id: str) -> list[str]:
    return list(session.scalars(select(Identifier.id).where(Identifier.person_id == person_id)
                                .order_by(Identifier.id)))


def upsert_channel_spans(session: Session, spans: Sequence[tuple[str, str, int, int]]) -> None:
    """Channel presence: (identifier id, channel, first seen, last seen in microseconds since the epoch); an
    existing row keeps the earliest first and the latest last."""
    if not spans:
        return
    raw = _sqlite(session)
    if raw is None:
        upsert_channels(session, [{"identifier_id": i, "channel": c, "first_seen": utc_from_us(a),
                                   "last_seen": utc_from_us(b)} for i, c, a, b in spans])
        return
    ts = sqlite_timestamp
    raw.executemany(
        "INSERT INTO identifier_channels (identifier_id, channel, first_seen, last_seen) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (identifier_id, channel) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = max(last_seen, excluded.last_seen)",
        [(i, c, ts(a), ts(b)) for i, c, a, b in spans])


def upsert_channels(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = _insert(session, IdentifierChannel)
    stmt = stmt.on_conflict_do_update(
        index_elements=["identifier_id", "channel"],
        set_={
            "first_seen": _least(session, IdentifierChannel.first_seen, stmt.excluded.first_seen),
            "last_seen": _greatest(session, IdentifierChannel.last_seen, stmt.excluded.last_seen),
        },
    )
    for part in chunks(rows):
        session.execute(stmt, list(part))


def upsert_traits(session: Session, current: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]]) -> None:
    if current:
        stmt = _insert(session, IdentifierTrait)
        stmt = stmt.on_conflict_do_update(
            index_elements=["identifier_id", "key"],
            set_={"value": stmt.excluded.value, "observed_at": stmt.excluded.observed_at},
            where=IdentifierTrait.observed_at <= stmt.excluded.observed_at,
        )
        for part in chunks(current):
            session.execute(stmt, list(part))
    if history:
        hstmt = _insert(session, TraitChange).on_conflict_do_nothing(
            index_elements=["identifier_id", "key", "message_id"])
        for part in chunks(history):
            session.execute(hstmt, list(part))


def insert_conflicts(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    stmt = _insert(session, IdentityConflict).on_conflict_do_nothing(
        index_elements=["reason", "person_id", "other_person_id", "identifier_kind", "identifier_value"])
    for part in chunks(rows):
        session.execute(stmt, list(part))
    return len(rows)


def separations(session: Session) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in session.execute(select(IdentitySeparation.person_a, IdentitySeparation.person_b))}


def separate(session: Session, a: str, b: str, merge_id: str, now: datetime) -> None:
    session.execute(_insert(session, IdentitySeparation).values(
        person_a=min(a, b), person_b=max(a, b), merge_id=merge_id, created_at=now).on_conflict_do_nothing())


def unseparate(session: Session, a: str, b: str) -> None:
    session.execute(delete(IdentitySeparation).where(IdentitySeparation.person_a == min(a, b),
                                                     IdentitySeparation.person_b == max(a, b)))


def current_person(session: Session, person_id: str) -> str | None:
    """The person a (possibly merged-away) person id now is, or None if it never existed."""
    seen = 0
    pid: str | None = person_id
    while pid is not None and seen < 100:
        merged = session.execute(select(Person.merged_into).where(Person.id == pid)).first()
        if merged is None:
            return None
        if merged[0] is None:
            return pid
        pid = merged[0]
        seen += 1
    return pid


def utc_from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)
