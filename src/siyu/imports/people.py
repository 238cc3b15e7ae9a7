"""Identity resolution for imports, a chunk at a time: one identity transaction per chunk through the
resolver's batch (``resolver.begin`` ... ``finish``) with one :class:`~siyu.identity.resolver.Cache` kept
across chunks, so known customers cost a dictionary lookup, not a query.

- Order rows: each customer identifier resolves to its person, or a new person holding it and its event
  anchor (what the resolver makes of an observation of one unknown identifier, written in bulk beside the
  batch's own writes).
- The event anchor of each person (as ``identity.anchors.event_anchor``: its user id, else its ``siyu:``
  anonymous id, attached in the same batch when missing), for the events of its imported orders.
- Member rows: all the row's identifiers join one person, as a trusted login would; a row that would join
  two identified persons, persons an operator separated, or exceed a per-kind limit is refused before it
  changes anything, and reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from siyu.identity.anchors import ANCHOR_PREFIX
from siyu.identity.extract import Key, Observation
from siyu.identity.kinds import LIMITS, Kind, limit_key
from siyu.identity.models import Identifier, Person
from siyu.identity.repository import chunks
from siyu.identity.resolver import Batch, Cache, Outcome, begin, committed
from siyu.imports.bulk import execute, shape
from siyu.kit.ids import new_id

ACTOR = "import"
ANONYMOUS = Kind.anonymous_id.value
_PERSONS = cast(Table, Person.__table__)
_IDS = cast(Table, Identifier.__table__)
PERSON_COLUMNS = ("id", "created_at", "merged_into")
ID_COLUMNS = ("id", "kind", "value", "person_id", "seq", "created_at")


class People:
    def __init__(self) -> None:
        self.cache = Cache()
        self.anchors: dict[str, Key] = {}  # person -> event anchor, as of the last committed chunk
        self._pending: dict[str, Key] = {}
        self._fresh: dict[str, Key] = {}  # persons this chunk made -> their event anchor
        self._new_persons: list[str] = []
        self._new_identifiers: list[tuple[str, str, str, str]] = []  # (id, kind, value, person)
        self._outcome: Outcome | None = None

    # -- the identity transaction of a chunk ------------------------------------------------------------
    def begin(self, session: Session) -> Batch:
        trusted = self.cache.seq
        batch = begin(session, self.cache, actor=ACTOR)
        if trusted is None or batch.seq != trusted + 1:  # someone else wrote: what we knew may be stale
            self.anchors.clear()
        self._pending = {}
        self._fresh = {}
        self._new_persons, self._new_identifiers = [], []
        return batch

    def finish(self, batch: Batch) -> Outcome:
        self._outcome = batch.finish()
        if self._new_persons:  # the new customers of :meth:`customers`, as the resolver would write them
            session = batch.session
            dialect = session.get_bind().dialect
            persons, identifiers = shape(dialect, _PERSONS, PERSON_COLUMNS), shape(dialect, _IDS, ID_COLUMNS)
            now = persons.processors.get("created_at", _same)(batch.now)
            execute(session, persons.sql, [(p, now, None, *persons.extra) for p in self._new_persons])
            tail = (batch.seq, identifiers.processors.get("created_at", _same)(batch.now), *identifiers.extra)
            execute(session, identifiers.sql, [(*row, *tail) for row in self._new_identifiers])
            self._outcome.persons_created += len(self._new_persons)
            self._outcome.identifiers_added += len(self._new_identifiers)
        self._new_persons, self._new_identifiers = [], []
        return self._outcome

    def committed(self) -> None:
        """After the chunk's commit: the cache and the anchors learnt in it are trusted."""
        if self._outcome is not None:
            committed(self.cache, self._outcome)
            self.anchors.update(self._pending)
            if len(self.anchors) > self.cache.max_entries:
                self.anchors.clear()
        self._outcome = None
        self._pending = {}

    # -- orders ---------------------------------------------------------------------------------------------
    def customers(self, batch: Batch, customers: Iterable[Key]) -> dict[Key, str]:
        """identifier -> its (current) person, for each of ``customers``. An identifier not known yet starts a
        new person holding it, as the resolver resolves an observation of one unknown identifier, and its event
        anchor; both are written in bulk by :meth:`finish`."""
        keys = list(customers)
        batch.load(set(keys))
        cache = self.cache
        entries, find, redirect = cache.entries, cache.find, cache.redirect
        out: dict[Key, str] = {}
        for k in keys:
            hit = entries.get(k)
            if hit is not None:
                person = hit[1]
                out[k] = find(person) if person in redirect else person
                continue
            out[k] = person = new_id()
            anchor = (ANONYMOUS, f"{ANCHOR_PREFIX}{person}")
            own, held = new_id(), new_id()
            entries[k], entries[anchor] = (own, person), (held, person)
            self._new_persons.append(person)
            self._new_identifiers += ((own, k[0], k[1], person), (held, ANONYMOUS, anchor[1], person))
            self._fresh[person] = anchor
        return out

    def event_anchors(self, session: Session, batch: Batch, persons: dict[str, Key]) -> dict[str, Key]:
        """person -> the identifier its domain events carry. ``persons`` maps each person to the identifier it
        was found by (a user id is its own anchor: a person holds at most one)."""
        out: dict[str, Key] = {}
        need: list[str] = []
        for person, key in persons.items():
            known = self.anchors.get(person) or self._pending.get(person)
            if known is not None:
                out[person] = known
            elif key[0] == Kind.user_id:
                out[person] = self._pending[person] = key
            else:
                need.append(person)
        found: dict[str, Key] = {p: self._fresh[p] for p in need if p in self._fresh}
        for part in chunks(sorted(p for p in need if p not in self._fresh)):
            rows = session.execute(select(Identifier.person_id, Identifier.kind, Identifier.value).where(
                Identifier.person_id.in_(part), Identifier.kind.in_([Kind.user_id.value, Kind.anonymous_id.value])))
            for pid, kind, value in rows:
                if kind == Kind.user_id or (value.startswith(ANCHOR_PREFIX) and pid not in found):
                    found[pid] = (kind, value)  # a user id wins over a siyu: anonymous id
        missing = [p for p in need if p not in found and p not in self._fresh]
        own = {p: (Kind.anonymous_id.value, f"{ANCHOR_PREFIX}{p}") for p in missing}
        batch.load(set(own.values()))
        for p, key in own.items():
            if batch.person_of(key) is None:
                batch.attach(p, key)
            found[p] = key
        for p in need:
            out[p] = self._pending[p] = found[p]
        return out

    # -- members --------------------------------------------------------------------------------------------
    def prepare(self, batch: Batch, observations: list[Observation]) -> None:
        batch.load({k for o in observations for k in o.ids})
        batch.prefetch(observations)

    def refusal(self, batch: Batch, keys: Iterable[Key]) -> tuple[str, str] | None:
        """(code, reason) if joining ``keys`` into one person is not allowed; None if it is."""
        persons: list[str] = []
        new: list[Key] = []
        for k in keys:
            p = batch.person_of(k)
            if p is None:
                new.append(k)
            elif p not in persons:
                persons.append(p)
        if sum(1 for p in persons if batch.identified(p)) > 1:
            return "identity_conflict", "these identifiers belong to different identified persons"
        for i, a in enumerate(persons):
            for b in persons[i + 1:]:
                if batch.separated(a, b):
                    return "identity_conflict", "these identifiers belong to persons an operator separated"
        total: Counter[str] = Counter()
        for p in persons:
            total.update(batch.counts(p))
        for k in new:
            total[limit_key(*k)] += 1
        for lk, n in total.items():
            kind = lk.partition(":")[0]
            if n > LIMITS[kind]:
                return "identity_limit", f"one person may hold at most {LIMITS[kind]} {kind} identifier(s)"
        return None

    def join(self, batch: Batch, observation: Observation) -> str | None:
        """Apply an admitted member observation; its person, or None if it did not end up whole."""
        batch.apply(observation)
        persons = {batch.person_of(k) for k in observation.ids}
        return persons.pop() if len(persons) == 1 else None


def _same(value: Any) -> Any:
    return value
