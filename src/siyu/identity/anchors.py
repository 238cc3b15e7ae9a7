"""What other domains need from identity: a person for an identifier a trusted caller asserts, and the
identifier under which a person's domain events (orders, points, ...) are written to the event store.

An event-store row is mapped to its person through its user id or anonymous id (docs/identity.md), so a
domain event carries the person's user id when it has one; otherwise it carries an anonymous id of the form
``siyu:<person id>`` attached to the person for this purpose. Being an ordinary identifier, it moves with
merges and unmerges like every other, and the events follow.
"""

from __future__ import annotations

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
    pid = current(session, person_id)
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
    root = current(session, person_id)
    found = {root}
    frontier = [root]
    while frontier:
        more = session.scalars(select(Person.id).where(Person.merged_into.in_(frontier))).all()
        frontier = [p for p in more if p not in found]
        found.update(frontier)
    return sorted(found)


def same_person(session: Session, a: str, b: str) -> bool:
    return current(session, a) == current(session, b)
