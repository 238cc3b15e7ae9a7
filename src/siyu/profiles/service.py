"""The unified profile, assembled from the identity graph: whatever hangs off any of a person's
identifiers (channel presence, traits, counters) is the person's. The timeline reads the event store
through the same identifiers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Row, String, bindparam, column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from siyu.db import UTCDateTime
from siyu.identity.errors import InvalidIdentifier, PersonNotFound
from siyu.identity.kinds import EVENT_KINDS, PRIORITY
from siyu.identity.models import (
    Identifier,
    TraitChange,
)
from siyu.identity.service import current, normalized_key
from siyu.kit.clock import parse_iso
from siyu.profiles.errors import InvalidCursor
from siyu.profiles.schemas import (
    ChannelOut,
    CountersOut,
    IdentifierOut,
    PersonOut,
    TimelineEvent,
    TimelinePage,
    TraitChangeOut,
)
from siyu.warehouse.base import Warehouse

TIMELINE_COLUMNS = ("message_id", "source_id", "channel", "type", "event", "timestamp", "anonymous_id", "user_id",
                    "properties", "context")


# The profile's reads as prepared text statements: a profile takes several, and SQLAlchemy's construction,
# caching and ORM layers cost several times what SQLite takes to answer each (result types still apply).
# One row per identifier of the person (one with none if it has none), with what is read once per person:
# where it was merged (to follow to the surviving person), when it was created, whether persons were merged
# into it, and its own counters (the whole profile's when nobody was merged into it).
_PERSON_COLUMNS: tuple[ColumnClause[Any], ...] = (
    column("id", String()), column("merged_into", String()), column("created_at", UTCDateTime()),
    column("has_merged"), column("orders"), column("revenue_fen"), column("refunded_fen"), column("last_order_at"),
    column("kind", String()), column("value", String()))
_PERSON_SQL = (
    "SELECT p.id AS id, p.merged_into AS merged_into, p.created_at AS created_at, "
    "EXISTS (SELECT 1 FROM persons AS m WHERE m.merged_into = p.id) AS has_merged, "
    "c.orders AS orders, c.revenue_fen AS revenue_fen, c.refunded_fen AS refunded_fen, "
    "c.last_order_at AS last_order_at, i.kind AS kind, i.value AS value "
    "FROM persons AS p LEFT JOIN person_counters AS c ON c.person_id = p.id "
    "LEFT JOIN identifiers AS i ON i.person_id = p.id WHERE p.id = ")
_PERSON = text(_PERSON_SQL + ":id").columns(*_PERSON_COLUMNS)
# The same, for the person holding an identifier (a profile looked up by identifier takes one query less).
_PERSON_BY_KEY = text(
    _PERSON_SQL + "(SELECT person_id FROM identifiers WHERE kind = :kind AND value = :value)").columns(
    *_PERSON_COLUMNS)
_CHANNELS = text(
    "SELECT identifier_channels.channel, min(identifier_channels.first_seen), max(identifier_channels.last_seen) "
    "FROM identifier_channels JOIN identifiers ON identifiers.id = identifier_channels.identifier_id "
    "WHERE identifiers.person_id = :pid GROUP BY identifier_channels.channel ORDER BY identifier_channels.channel")
_TRAITS = text(
    "SELECT identifier_traits.key, identifier_traits.value, identifier_traits.observed_at "
    "FROM identifier_traits JOIN identifiers ON identifiers.id = identifier_traits.identifier_id "
    "WHERE identifiers.person_id = :pid").columns(
    column("key", String()), column("value", JSON()), column("observed_at", UTCDateTime()))
_MERGED_INTO = text("SELECT id FROM persons WHERE merged_into IN :ids").bindparams(bindparam("ids", expanding=True))
_COUNTERS = text(
    "SELECT coalesce(sum(orders), 0), coalesce(sum(revenue_fen), 0), coalesce(sum(refunded_fen), 0), "
    "max(last_order_at) FROM person_counters WHERE person_id IN :ids").bindparams(bindparam("ids", expanding=True))


def _person(session: Session, person_id: str, rows: Sequence[Row[Any]] | None = None
            ) -> tuple[str, Sequence[Row[Any]]]:
    """The surviving person of a possibly merged-away id (``identity.service.current``) and its ``_PERSON``
    rows, in one query per step of the merge chain (usually one; none when ``rows`` are the first step's)."""
    pid, steps = person_id, 0
    while True:
        if rows is None:
            rows = session.connection().execute(_PERSON, {"id": pid}).all()
        if not rows:
            raise PersonNotFound(details={"person_id": person_id})
        if rows[0].merged_into is None or steps >= 100:
            return pid, rows
        pid, steps, rows = rows[0].merged_into, steps + 1, None


def _merged(session: Session, pid: str) -> tuple[list[str], list[str]]:
    """The persons merged straight into ``pid`` (sorted), and ``pid`` with every person merged into it,
    however indirectly (``identity.anchors.constituents``, sorted)."""
    direct = sorted(session.scalars(_MERGED_INTO, {"ids": [pid]}))
    found = {pid, *direct}
    frontier = direct
    while frontier:
        more = session.scalars(_MERGED_INTO, {"ids": frontier}).all()
        frontier = [p for p in more if p not in found]
        found.update(frontier)
    return direct, sorted(found)


def profile(session: Session, person_id: str) -> PersonOut:
    return _profile(session, *_person(session, person_id))


def profile_by_identifier(session: Session, kind: str, value: str) -> PersonOut:
    """The profile of the person holding an identifier of any kind (``identity.service.person_by_identifier``)."""
    try:
        k, v = normalized_key(kind, value)
    except InvalidIdentifier as exc:
        raise PersonNotFound(details={"kind": kind}) from exc
    rows = session.connection().execute(_PERSON_BY_KEY, {"kind": k, "value": v}).all()
    if not rows:
        raise PersonNotFound(details={"kind": kind})
    return _profile(session, *_person(session, rows[0].id, rows))


def _profile(session: Session, pid: str, rows: Sequence[Row[Any]]) -> PersonOut:
    first = rows[0]
    created_at = first.created_at
    idents = [(r.kind, r.value) for r in rows if r.kind is not None]
    conn = session.connection()
    channels = conn.execute(_CHANNELS, {"pid": pid}).all()
    traits: dict[str, tuple[datetime, Any]] = {}
    for key, value, at in conn.execute(_TRAITS, {"pid": pid}):
        if key not in traits or traits[key][0] <= at:  # the newest value wins, whichever identifier saw it
            traits[key] = (at, value)
    counters: tuple[Any, ...]
    if first.has_merged:
        merged, members = _merged(session, pid)
        counters = tuple(session.execute(_COUNTERS, {"ids": members}).one())
    else:  # the person's own counters are all its counters
        merged = []
        counters = (first.orders or 0, first.revenue_fen or 0, first.refunded_fen or 0, first.last_order_at)
    return PersonOut(
        id=pid,
        identifiers=[IdentifierOut(kind=k, value=v)
                     for k, v in sorted(idents, key=lambda r: (PRIORITY[r[0]], r[0], r[1]))],
        channels=[ChannelOut(channel=c, first_seen=_utc(a), last_seen=_utc(b)) for c, a, b in channels],
        traits={k: v for k, (_, v) in sorted(traits.items())},
        counters=CountersOut(orders=int(counters[0]), revenue_fen=int(counters[1]),
                             refunded_fen=int(counters[2]),
                             last_order_at=_utc(counters[3]) if counters[3] else None),
        created_at=created_at,
        merged_from=merged,
    )


def _utc(value: datetime | str) -> datetime:
    """Aggregates come back from SQLite as text, without the column type's conversion."""
    return parse_iso(value) if isinstance(value, str) else parse_iso(value.isoformat())


def trait_history(session: Session, person_id: str, key: str | None, limit: int) -> list[TraitChangeOut]:
    pid = current(session, person_id)
    q = (select(TraitChange.key, TraitChange.value, TraitChange.observed_at, TraitChange.message_id,
                Identifier.kind, Identifier.value)
         .join(Identifier, Identifier.id == TraitChange.identifier_id)
         .where(Identifier.person_id == pid)
         .order_by(TraitChange.observed_at.desc(), TraitChange.id.desc())
         .limit(limit))
    if key:
        q = q.where(TraitChange.key == key)
    return [TraitChangeOut(key=r[0], value=r[1], observed_at=r[2], message_id=r[3],
                           identifier=IdentifierOut(kind=r[4], value=r[5])) for r in session.execute(q)]


def _encode_cursor(ts: str, message_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts, message_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, message_id = json.loads(raw)
        if not isinstance(ts, str) or not isinstance(message_id, str):
            raise ValueError
        return parse_iso(ts.removesuffix("Z")), message_id
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidCursor() from exc


def _in(warehouse: Warehouse, column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(warehouse.sql_str(v) for v in values)})"


def timeline(session: Session, warehouse: Warehouse, person_id: str, before: str | None, limit: int,
             timeout_s: float) -> TimelinePage:
    """The person's events from every channel, newest first. Events are found through the person's user ids
    and anonymous ids, and its other identifiers' anchored events (those whose user id and anonymous id are
    no identifiers), and kept only if the event store maps them to this person (an event carrying a user id
    belongs to that user id's person even if its anonymous id is shared)."""
    pid = current(session, person_id)
    keys = session.execute(select(Identifier.kind, Identifier.value).where(Identifier.person_id == pid)).all()
    users = [v for k, v in keys if k == "user_id"]
    anons = [v for k, v in keys if k == "anonymous_id"]
    others = [(k, v) for k, v in keys if k not in EVENT_KINDS]
    if not keys:
        return TimelinePage(items=[], next_cursor=None)
    anchored = others and ("message_id IN (SELECT message_id FROM event_anchors WHERE " + " OR ".join(
        f"(kind = {warehouse.sql_str(k)} AND value = {warehouse.sql_str(v)})" for k, v in others) + ")")
    match = " OR ".join(x for x in (users and _in(warehouse, "user_id", users),
                                    anons and _in(warehouse, "anonymous_id", anons), anchored) if x)
    where = f"({match}) AND person_id = {warehouse.sql_str(pid)}"
    if before:
        ts, mid = _decode_cursor(before)
        lit = warehouse.sql_ts(ts)
        where += f" AND (timestamp < {lit} OR (timestamp = {lit} AND message_id < {warehouse.sql_str(mid)}))"
    sql = (f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM events WHERE {where} "
           f"ORDER BY timestamp DESC, message_id DESC LIMIT {limit + 1}")
    result = warehouse.query(sql, limit + 1, timeout_s)
    rows = result.rows[:limit]
    items = []
    for r in rows:
        rec = dict(zip(TIMELINE_COLUMNS, r, strict=True))
        rec["properties"] = _json(rec["properties"])
        rec["context"] = _json(rec["context"])
        items.append(TimelineEvent.model_validate(rec))
    more = len(result.rows) > limit
    return TimelinePage(items=items,
                        next_cursor=_encode_cursor(rows[-1][5], rows[-1][0]) if more and rows else None)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
