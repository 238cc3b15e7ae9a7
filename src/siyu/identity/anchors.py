"""What other domains need from identity: a person for an identifier a trusted caller asserts, and the
identifier under which a person's domain events (orders, points, ...) are written to the event store.

An event-store row is mapped to its person through its user id or anonymous id (docs/identity.md), so a
domain event carries the person's user id when it has one; otherwise it carries an anonymous id of the form
``siyu:<person id>`` attached to the person for this purpose. Being an ordinary identifier, it moves with
merges and unmerges like every other, and the events follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity import repository as repo
from siyu.identity.extract import Key, Observation
from siyu.identity.kinds import RESERVED_PREFIX, Kind
from siyu.identity.models import Identifier, Person
from siyu.identity.resolver import Cache, begin, resolve
from siyu.identity.service import current, normalized_key
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id

ANCHOR_PREFIX = RESERVED_PREFIX
_MEMO = "siyu.identity.anchors"


@contextmanager
def remembered(session: Session) -> Iterator[None]:
    """Within the block, the answers of :func:`current_person`, :func:`constituents` and :func:`event_anchor`
    are remembered on ``session``, so a unit of work that asks them several times (placing an order: pricing,
    tier benefits, coupons, the event) asks the database once. Only for work that merges or separates no
    persons inside the block (the answers would not see it)."""
    outer = _MEMO in session.info
    if not outer:
        session.info[_MEMO] = {}
    try:
        yield
    finally:
        if not outer:
            session.info.pop(_MEMO, None)


def _memo(session: Session) -> dict[tuple[str, str], Any] | None:
    return session.info.get(_MEMO)


def current_person(session: Session, person_id: str) -> str:
    """``identity.service.current``: the person ``person_id`` is now (remembered in :func:`remembered`)."""
    memo = _memo(session)
    if memo is None:
        return current(session, person_id)
    found: str | None = memo.get(("current", person_id))
    if found is None:
        found = memo[("current", person_id)] = current(session, person_id)
        memo[("current", found)] = found  # a current person is its own
    return found


def _observe(keys: list[Key], channel: str, trigger: str) -> Observation:
    return Observation(message_id=f"{trigger}:{new_id()}", channel=channel,
                       at_us=int(utcnow().timestamp() * 1_000_000), ids=keys, trigger=trigger,
                       anchor=keys[0], traits={})


def ensure_person(session: Session, kind: str, value: str, channel: str = "server") -> str:
    """The person holding the identifier; a new person holding it if there is none (a trusted server's
    assertion, e.g. an order for a phone number not seen before)."""
    k, v = normalized_key(kind, value)
    pid = session.scalar(select(Identifier.person_id).where(Identifier.kind == k, Identifier.value == v))
    if pid is not None:
        return current(session, pid)
    obs = _observe([(k, v)], channel, "command")
    outcome = resolve(session, Cache(), [obs])
    return repo.current_person(session, outcome.person_of[obs.message_id]) or outcome.person_of[obs.message_id]


def event_anchor(session: Session, person_id: str) -> tuple[str, str]:
    """(kind, value) of the identifier a person's domain events carry: its user id, else its ``siyu:``
    anonymous id (attached on first use)."""
    pid = current_person(session, person_id)
    memo = _memo(session)
    if memo is not None and ("anchor", pid) in memo:
        known: tuple[str, str] = memo[("anchor", pid)]
        return known
    anchor = _event_anchor(session, pid)
    if memo is not None:
        memo[("anchor", pid)] = anchor
    return anchor


def _event_anchor(session: Session, pid: str) -> tuple[str, str]:
    rows = session.execute(select(Identifier.kind, Identifier.value)
                           .where(Identifier.person_id == pid,
                                  Identifier.kind.in_([Kind.user_id.value, Kind.anonymous_id.value]))).all()
    for kind, value in rows:
        if kind == Kind.user_id:
            return kind, value
    own = f"{ANCHOR_PREFIX}{pid}"
    for kind, value in rows:
        if value.startswith(ANCHOR_PREFIX):
            return kind, value
    batch = begin(session, Cache())
    batch.load({(Kind.anonymous_id, own)})
    if batch.person_of((Kind.anonymous_id, own)) is None:
        batch.attach(pid, (Kind.anonymous_id.value, own))
        batch.finish()
    return Kind.anonymous_id.value, own


def constituents(session: Session, person_id: str) -> list[str]:
    """The current person of ``person_id`` and every person merged into it (what was recorded under any
    of their ids, such as orders, is this person's)."""
    root = current_person(session, person_id)
    memo = _memo(session)
    if memo is not None and ("constituents", root) in memo:
        return list(memo[("constituents", root)])
    found = {root}
    frontier = [root]
    while frontier:
        more = session.scalars(select(Person.id).where(Person.merged_into.in_(frontier))).all()
        frontier = [p for p in more if p not in found]
        found.update(frontier)
    if memo is not None:
        memo[("constituents", root)] = sorted(found)
    return sorted(found)


def same_person(session: Session, a: str, b: str) -> bool:
    return current_person(session, a) == current_person(session, b)
