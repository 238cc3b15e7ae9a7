"""Identity operations outside the event stream: lookups, trusted logins, operator merges and unmerges,
conflicts and history. Each write starts with the identity clock (``resolver.begin``), like the worker's
batches, so operator actions and resolution never interleave."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from siyu.identity import repository as repo
from siyu.identity.errors import (
    ConflictNotFound,
    InvalidIdentifier,
    MergeAlreadyUndone,
    MergeNotFound,
    NoIdentifiers,
    PersonNotFound,
    SamePerson,
    UnknownIdentifierKind,
)
from siyu.identity.extract import Key, Observation, ordered
from siyu.identity.kinds import KINDS, Kind, normalize
from siyu.identity.models import Identifier, IdentityConflict, IdentityMerge, Person
from siyu.identity.resolver import Cache, Outcome, begin, resolve
from siyu.identity.schemas import LoginRequest
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id


def normalized_key(kind: str, value: str) -> Key:
    if kind not in KINDS:
        raise UnknownIdentifierKind(details={"kind": kind})
    v = normalize(kind, value)
    if v is None:
        raise InvalidIdentifier(details={"kind": kind})
    return kind, v


def person_by_identifier(session: Session, kind: str, value: str) -> str:
    """The current person holding the identifier; PersonNotFound if none (junk values never match)."""
    try:
        k, v = normalized_key(kind, value)
    except InvalidIdentifier as exc:
        raise PersonNotFound(details={"kind": kind}) from exc
    pid = session.scalar(select(Identifier.person_id).where(Identifier.kind == k, Identifier.value == v))
    if pid is None:
        raise PersonNotFound(details={"kind": kind})
    return pid


def current(session: Session, person_id: str) -> str:
    pid = repo.current_person(session, person_id)
    if pid is None:
        raise PersonNotFound(details={"person_id": person_id})
    return pid


# -- trusted login ---------------------------------------------------------------------------------------------
VERIFIED = frozenset({Kind.user_id, Kind.wechat_unionid, Kind.phone, Kind.email, Kind.wechat_openid})


def login_observation(body: LoginRequest, at_us: int) -> Observation:
    found: list[Key] = []
    pairs: list[tuple[str, str | None, str | None]] = [
        (Kind.user_id, body.user_id, None), (Kind.wechat_unionid, body.unionid, None),
        (Kind.phone, body.phone, None), (Kind.email, body.email, None),
        (Kind.wechat_openid, body.openid, body.app_id), (Kind.device_id, body.device_id, None),
        (Kind.anonymous_id, body.anonymous_id, None),
    ]
    for kind, raw, app in pairs:
        if raw is None:
            continue
        if kind == Kind.wechat_openid and not app:
            raise InvalidIdentifier("An OpenID needs its app_id.", details={"kind": str(kind)})
        v = normalize(kind, raw, app)
        if v is None:
            raise InvalidIdentifier(details={"kind": str(kind)})
        found.append((kind, v))
    ids = ordered(found)
    if not any(kind in VERIFIED for kind, _ in ids):
        raise NoIdentifiers("A login needs a verified identifier: user_id, unionid, phone, email or openid "
                            "(an anonymous or device id alone proves nothing).")
    anchor = next((k for k in ids if k[0] in (Kind.user_id, Kind.anonymous_id)), ids[0])
    return Observation(message_id=f"login:{new_id()}", channel=body.channel.value, at_us=at_us, ids=ids,
                       trigger="login", anchor=anchor, traits=dict(body.traits))


def login(session: Session, body: LoginRequest, actor: str) -> tuple[str, Outcome]:
    """Resolve what a brand server verified, as a merging command. Returns the person and the outcome."""
    now = utcnow()
    obs = login_observation(body, int(now.timestamp() * 1_000_000))
    outcome = resolve(session, Cache(), [obs], actor=actor)
    person = outcome.person_of[obs.message_id]
    return repo.current_person(session, person) or person, outcome


# -- operator merges -------------------------------------------------------------------------------------------
def merge(session: Session, into_person: str, from_person: str, reason: str, actor: str) -> IdentityMerge:
    """An explicit merge (any two persons, no per-kind limits: the operator decides). Audited; undoable."""
    batch = begin(session, Cache(), actor)
    winner, loser = current(session, into_person), current(session, from_person)
    if winner == loser:
        raise SamePerson(details={"person_id": winner})
    merge_id = batch.merge(loser, winner, "operator", None, reason)
    batch.finish()
    repo.unseparate(session, winner, loser)
    session.execute(
        update(IdentityConflict)
        .where(IdentityConflict.resolved_at.is_(None),
               IdentityConflict.person_id.in_([winner, loser]),
               IdentityConflict.other_person_id.in_([winner, loser]))
        .values(resolved_at=batch.now)
    )
    found = session.get(IdentityMerge, merge_id)
    assert found is not None
    return found


def unmerge(session: Session, merge_id: str, reason: str, actor: str) -> IdentityMerge:
    """Undo a merge: the identifiers it moved go back to the person they came from, which becomes a person
    again. Channel presence, traits, counters and (through the event store's links) events follow them.
    Identifiers the merge moved that have since left the surviving person (an earlier undo of a merge
    into the person they came from) stay where they are. The two persons are then separated: resolution
    never merges them again by itself, however many events link them; an operator still can."""
    batch = begin(session, Cache(), actor)
    m = session.get(IdentityMerge, merge_id)
    if m is None:
        raise MergeNotFound(details={"merge_id": merge_id})
    if m.action != "merge" or m.undone_at is not None:
        raise MergeAlreadyUndone(details={"merge_id": merge_id})
    holder = current(session, m.into_person)
    still_there = set(repo.identifier_ids_of(session, holder))
    ids = [str(i) for i in m.identifiers if str(i) in still_there]
    repo.move_identifiers(session, ids, m.from_person, batch.seq)
    session.execute(update(Person).where(Person.id == m.from_person).values(merged_into=None))
    record = IdentityMerge(
        id=new_id(), action="unmerge", into_person=m.from_person, from_person=holder, identifiers=ids,
        trigger="operator", reason=reason, actor=actor, message_id=None, created_at=batch.now,
    )
    session.add(record)
    m.undone_at = batch.now
    m.undone_by = record.id
    repo.separate(session, m.from_person, holder, m.id, batch.now)
    session.flush()
    return record


def history(session: Session, person_id: str) -> list[IdentityMerge]:
    """Every merge and unmerge that involved the person or a person merged into it, oldest first."""
    persons = {person_id}
    frontier = [person_id]
    while frontier and len(persons) < 10_000:
        rows = session.scalars(select(Person.id).where(Person.merged_into.in_(frontier))).all()
        frontier = [p for p in rows if p not in persons]
        persons.update(frontier)
    members = sorted(persons)
    out: list[IdentityMerge] = []
    for part in repo.chunks(members):
        out.extend(session.scalars(select(IdentityMerge).where(
            or_(IdentityMerge.into_person.in_(part), IdentityMerge.from_person.in_(part)))))
    unique = {m.id: m for m in out}
    return sorted(unique.values(), key=lambda m: (m.created_at, m.id))


def merge_by_id(session: Session, merge_id: str) -> IdentityMerge:
    m = session.get(IdentityMerge, merge_id)
    if m is None:
        raise MergeNotFound(details={"merge_id": merge_id})
    return m


# -- conflicts -------------------------------------------------------------------------------------------------
def conflicts(session: Session, status: str, after: str | None, limit: int,
              person_id: str | None = None) -> Sequence[IdentityConflict]:
    q = select(IdentityConflict).order_by(IdentityConflict.id).limit(limit)
    if status == "open":
        q = q.where(IdentityConflict.resolved_at.is_(None))
    elif status == "resolved":
        q = q.where(IdentityConflict.resolved_at.is_not(None))
    if after:
        q = q.where(IdentityConflict.id > after)
    if person_id:
        q = q.where(or_(IdentityConflict.person_id == person_id, IdentityConflict.other_person_id == person_id))
    return session.scalars(q).all()


def dismiss_conflict(session: Session, conflict_id: str) -> IdentityConflict:
    c = session.get(IdentityConflict, conflict_id)
    if c is None:
        raise ConflictNotFound(details={"conflict_id": conflict_id})
    if c.resolved_at is None:
        c.resolved_at = utcnow()
        session.flush()
    return c
