"""Identity resolution for imports, a chunk at a time: one identity transaction per chunk through the
resolver's batch (``resolver.begin`` ... ``finish``) with one :class:`~siyu.identity.resolver.Cache` kept
across chunks, so known customers cost a dictionary lookup, not a query.

- Order rows: each customer identifier resolves to its person, or a new person holding it.
- The event anchor of each person (as ``identity.anchors.event_anchor``: its user id, else its ``siyu:``
  anonymous id, attached in the same batch when missing), for the events of its imported orders.
- Member rows: all the row's identifiers join one person, as a trusted login would; a row that would join
  two identified persons, persons an operator separated, or exceed a per-kind limit is refused before it
  changes anything, and reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.anchors import ANCHOR_PREFIX
from siyu.identity.extract import Key, Observation
from siyu.identity.kinds import LIMITS, Kind, limit_key
from siyu.identity.models import Identifier
from siyu.identity.repository import chunks
from siyu.identity.resolver import Batch, Cache, Outcome, begin, committed

ACTOR = "import"
T = TypeVar("T")


class People:
    def __init__(self) -> None:
        self.cache = Cache()
        self.anchors: dict[str, Key] = {}  # person -> event anchor, as of the last committed chunk
        self._pending: dict[str, Key] = {}
        self._fresh: set[str] = set()  # persons this chunk made
        self._outcome: Outcome | None = None

    # -- the identity transaction of a chunk ------------------------------------------------------------
    def begin(self, session: Session) -> Batch:
        trusted = self.cache.seq
        batch = begin(session, self.cache, actor=ACTOR)
        if trusted is None or batch.seq != trusted + 1:  # someone else wrote: what we knew may be stale
            self.anchors.clear()
        self._pending = {}
        self._fresh = set()
        return batch

    def finish(self, batch: Batch) -> Outcome:
        self._outcome = batch.finish()
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
    def customers(self, batch: Batch, firsts: dict[Key, T], observe: Callable[[T], Observation]) -> dict[Key, str]:
        """identifier -> its (current) person, for each identifier of ``firsts``; an identifier not known yet
        is resolved from ``observe(its first row)`` (a new person holding it)."""
        batch.load(set(firsts))
        entries = self.cache.entries
        unknown = [k for k in firsts if k not in entries]
        for k in unknown:  # a known identifier needs no resolution: its person is the cache's answer
            batch.apply(observe(firsts[k]))
        out: dict[Key, str] = {}
        for k in firsts:
            person = batch.person_of(k)
            assert person is not None
            out[k] = person
        for k in unknown:  # a person made just now holds nothing else: its anchor is known
            self._fresh.add(out[k])
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
        found: dict[str, Key] = {}
        fresh = [p for p in need if p in self._fresh]
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
        for p in fresh:
            found[p] = key = (Kind.anonymous_id.value, f"{ANCHOR_PREFIX}{p}")
            batch.attach(p, key)
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
