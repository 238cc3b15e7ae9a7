"""Identity resolution: observations -> the identity graph, one transaction per batch.

For each event, in delivery order (rules in ``kinds`` and docs/identity.md):
1. The event's person is the person of its highest-priority identifier. A new highest-priority identifier
   joins the person of the event's other identifiers when the per-kind limit allows (a new user id on an
   anonymous browser's person), otherwise it starts a new person (a second user id on a shared device).
2. Every other person the event touches is merged into it when the two do not both hold an identifier of
   the same strong kind (two user ids, UnionIDs, phones or emails: two customers known by different
   values), the merged person would stay within the per-kind limits, and an operator has not separated the
   two. An identified person survives an anonymous one. Any event that carries two identifiers links them
   (as Mixpanel's and Amplitude's identity merges do), not only identify and alias: a ``track`` with a user
   id and an anonymous id says the same as the ``identify`` that preceded it, so a lost or late identify
   changes nothing and the outcome does not depend on delivery order. Persons known by complementary
   identifiers (a WeChat UnionID from ``wx.login`` on one, the user id and phone of a later login on the
   other) are one customer's parts and are merged; two persons known by different values of one kind are
   never merged here: the conflict is recorded for an operator.
3. The event's new identifiers are attached to the person within the limits; one over a limit is recorded
   as a conflict and left unattached.

Concurrency: the transaction starts by ticking the identity clock (``repository.tick``), which serialises
identity writers across worker processes and API processes. The in-memory cache of identifier -> person is
only trusted when the clock shows that nobody else wrote since this process's last committed batch.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.identity import repository as repo
from siyu.identity.extract import Key, Observation, ordered
from siyu.identity.kinds import LIMITS, STRONG, Kind, limit_key
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TRAIT_KEY = 128


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class Cache:
    """identifier -> (identifier id, person id), and each person's identifier counts per limit key.
    Valid only while ``seq`` equals the clock value of this process's last committed transaction."""

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self.entries: dict[Key, tuple[str, str]] = {}
        self.redirect: dict[str, str] = {}
        self.kinds: dict[str, Counter[str]] = {}
        self.separated: set[tuple[str, str]] | None = None  # operator separations, loaded on first use
        self.seq: int | None = None
        self.lock = threading.Lock()

    def clear(self) -> None:
        self.entries.clear()
        self.redirect.clear()
        self.kinds.clear()
        self.separated = None
        self.seq = None

    def find(self, person: str) -> str:
        root = person
        while root in self.redirect:
            root = self.redirect[root]
        while person != root:  # path compression
            nxt = self.redirect[person]
            self.redirect[person] = root
            person = nxt
        return root


@dataclass
class Outcome:
    seq: int = 0
    persons_created: int = 0
    identifiers_added: int = 0
    merges: int = 0
    conflicts: int = 0
    events: int = 0
    person_of: dict[str, str] = field(default_factory=dict)  # message id -> person id


class Batch:
    """The working state of one resolution transaction."""

    def __init__(self, session: Session, cache: Cache, seq: int, actor: str | None = None) -> None:
        self.session = session
        self.cache = cache
        self.seq = seq
        self.actor = actor
        self.now = utcnow()
        self.outcome = Outcome(seq=seq)
        self._new_persons: list[str] = []
        self._new_identifiers: list[dict[str, Any]] = []
        self._conflicts: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        self._channels: dict[tuple[str, str], list[int]] = {}
        self._traits: dict[tuple[str, str], tuple[int, Any, str]] = {}
        self._history: list[dict[str, Any]] = []
        # Merges are written by finish(): until then the database holds the graph as it was before this batch,
        # and each person's identifiers are what it held then plus what joined it since.
        self._held: dict[str, list[str]] = {}  # person -> its identifier ids before this batch
        self._gained: dict[str, list[str]] = {}  # person -> identifier ids that joined it in this batch
        self._losers: dict[str, str] = {}  # merged-away person -> the person it was merged into
        self._merges: list[dict[str, Any]] = []
        self._absent: set[Key] = set()  # looked up in this batch and not in the graph

    # -- lookups -------------------------------------------------------------------------------------------
    def load(self, keys: set[Key]) -> None:
        entries, absent = self.cache.entries, self._absent
        missing: dict[str, list[str]] = {}
        for key in keys:
            if key not in entries and key not in absent:
                missing.setdefault(key[0], []).append(key[1])
        for kind, values in missing.items():
            for value, ident, person in repo.find_identifiers(self.session, kind, values):
                entries[(kind, value)] = (ident, person)
            # Not in the graph: nothing but this batch's attach() (which fills the cache) can add it before
            # the commit, so it is not looked up again in this batch.
            absent.update((kind, v) for v in values if (kind, v) not in entries)

    def prefetch(self, observations: list[Observation]) -> list[bool]:
        """Load, in a few queries, the identifiers of every person an observation may attach to or merge
        (one that has identifiers of more than one person, or known and new ones), instead of one query per
        person when it is needed. Returns, per observation, whether it is settled: every identifier it
        carries is known and of one person, so there is nothing to resolve (merges in this batch can only
        join persons, never part them) and only its channel and traits are to be noted."""
        entries, find, redirect = self.cache.entries, self.cache.find, self.cache.redirect
        wanted: set[str] = set()
        settled: list[bool] = []
        for o in observations:
            ids = o.ids
            if len(ids) == 1 and not o.previous:
                settled.append(ids[0] in entries)
                continue
            persons = set()
            unknown = False
            for key in ids:
                hit = entries.get(key)
                if hit is None:
                    unknown = True
                else:
                    person = hit[1]
                    persons.add(find(person) if person in redirect else person)
            settled.append(not unknown and len(persons) == 1 and not o.previous)
            if o.previous:
                for key in ((Kind.user_id, o.previous), (Kind.anonymous_id, o.previous)):
                    hit = entries.get(key)
                    if hit is not None:
                        persons.add(find(hit[1]))
            if len(persons) > 1 or (unknown and persons):
                wanted |= persons
        self._load_persons(wanted)
        return settled

    def _load_persons(self, wanted: set[str]) -> None:
        todo = sorted(p for p in wanted if p not in self._held)
        if not todo:
            return
        held: dict[str, list[str]] = {p: [] for p in todo}
        kinds: dict[str, Counter[str]] = {p: Counter() for p in todo}
        for person, ident, kind, value in repo.identifiers_of_persons(self.session, todo):
            held[person].append(ident)
            kinds[person][limit_key(kind, value)] += 1
        for p in todo:
            self._held[p] = sorted(held[p])
            self.cache.kinds.setdefault(p, kinds[p])

    def held(self, person: str) -> list[str]:
        """The person's identifier ids before this batch (the database's, since merges wait for finish())."""
        ids = self._held.get(person)
        if ids is None:
            ids = self._held[person] = repo.identifier_ids_of(self.session, person)
        return ids

    def person_of(self, key: Key) -> str | None:
        hit = self.cache.entries.get(key)
        return self.cache.find(hit[1]) if hit else None

    def counts(self, person: str) -> Counter[str]:
        c = self.cache.kinds.get(person)
        if c is None:
            c = Counter(limit_key(k, v) for k, v in repo.person_keys(self.session, person))
            self.cache.kinds[person] = c
        return c

    def identified(self, person: str) -> bool:
        c = self.counts(person)
        return any(c[k] for k in STRONG)

    def can_attach(self, person: str, key: Key) -> bool:
        return self.counts(person)[limit_key(*key)] < LIMITS[key[0]]

    def separated(self, a: str, b: str) -> bool:
        """Whether an operator split the persons that ``a`` and ``b`` now are. A separation names the two
        persons of the undone merge; either may since have been merged into another person, so both ends
        are followed to the persons they are now (through ``merged_into`` when loaded, through this batch's
        merges when checked)."""
        if self.cache.separated is None:
            self.cache.separated = {(repo.current_person(self.session, x) or x,
                                     repo.current_person(self.session, y) or y)
                                    for x, y in repo.separations(self.session)}
        pair = {a, b}
        return any({self.cache.find(x), self.cache.find(y)} == pair for x, y in self.cache.separated)

    def clash(self, a: str, b: str) -> bool:
        """Whether both persons hold an identifier of the same strong kind (user id, UnionID, phone, email):
        two customers known by different values, which resolution never merges (an operator may)."""
        ca, cb = self.counts(a), self.counts(b)
        return any(ca[k] and cb[k] for k in STRONG)

    def mergeable(self, a: str, b: str) -> bool:
        if self.clash(a, b):
            return False
        ca, cb = self.counts(a), self.counts(b)
        return all(ca[k] + n <= LIMITS[k.partition(":")[0]] for k, n in cb.items())

    # -- changes -------------------------------------------------------------------------------------------
    def new_person(self) -> str:
        pid = new_id()
        self._new_persons.append(pid)
        self.cache.kinds[pid] = Counter()
        self._held[pid] = []
        self.outcome.persons_created += 1
        return pid

    def attach(self, person: str, key: Key) -> None:
        ident = new_id()
        self._new_identifiers.append({"id": ident, "kind": key[0], "value": key[1], "person_id": person,
                                      "seq": self.seq, "created_at": self.now})
        self.cache.entries[key] = (ident, person)
        self.counts(person)[limit_key(*key)] += 1
        self._gained.setdefault(self.cache.find(person), []).append(ident)
        self.outcome.identifiers_added += 1

    def flush(self) -> None:
        """Write the batch's persons, identifiers and merges (once, from finish(): see ``_held``)."""
        find = self.cache.find
        repo.insert_persons(self.session, self._new_persons, self.now)
        self._new_persons = []
        rows, self._new_identifiers = self._new_identifiers, []
        for row in rows:
            row["person_id"] = find(row["person_id"])
        repo.insert_identifiers(self.session, rows)
        losers, self._losers = self._losers, {}
        repo.move_persons_identifiers(
            self.session, [(loser, find(loser)) for loser in losers if self._held.get(loser)], self.seq)
        repo.mark_merged(self.session, list(losers.items()))
        merges, self._merges = self._merges, []
        repo.insert_merges(self.session, merges)
        self._held.clear()
        self._gained.clear()

    def merge(self, loser: str, winner: str, trigger: str, message_id: str | None, reason: str | None = None) -> str:
        """Merge ``loser`` into ``winner``: recorded now, written by finish()."""
        moved = sorted(self.held(loser) + self._gained.pop(loser, []))
        self._gained.setdefault(winner, []).extend(moved)
        self._losers[loser] = winner
        merge_id = new_id()
        self._merges.append({
            "id": merge_id, "action": "merge", "into_person": winner, "from_person": loser, "identifiers": moved,
            "trigger": trigger, "reason": reason, "actor": self.actor, "message_id": message_id,
            "created_at": self.now, "undone_at": None, "undone_by": None,
        })
        self.cache.redirect[loser] = winner
        self.counts(winner).update(self.counts(loser))
        self.cache.kinds.pop(loser, None)
        self.outcome.merges += 1
        return merge_id

    def conflict(self, reason: str, person: str, other: str, key: Key, message_id: str | None) -> None:
        a, b = (person, other) if not other or person < other else (other, person)
        k = (reason, a, b, key[0], key[1])
        if k not in self._conflicts:
            self._conflicts[k] = {"id": new_id(), "reason": reason, "person_id": a, "other_person_id": b,
                                  "identifier_kind": key[0], "identifier_value": key[1], "message_id": message_id,
                                  "created_at": self.now, "resolved_at": None}

    # -- one observation ------------------------------------------------------------------------------------
    def apply(self, o: Observation) -> str | None:
        ids = o.ids
        if o.previous:
            prev: Key = (Kind.user_id, o.previous)
            self.load({prev})
            if self.person_of(prev) is None:
                prev = (Kind.anonymous_id, o.previous)
                self.load({prev})
            ids = ordered([*ids, prev])
        if not ids:
            return None
        known = [(k, self.person_of(k)) for k in ids]
        anchor_key, anchor_person = known[0]
        if anchor_person is None:
            person = next((p for _, p in known[1:] if p is not None and self.can_attach(p, anchor_key)), None)
            if person is None:
                person = self.new_person()
            self.attach(person, anchor_key)
        else:
            person = anchor_person
        for key, other in known[1:]:
            if other is None:
                continue
            other, person = self.cache.find(other), self.cache.find(person)
            if other == person:
                continue
            if self.separated(person, other):
                continue  # an operator split these two; only an operator joins them again
            if self.mergeable(person, other):
                winner, loser = (other, person) if self.identified(other) and not self.identified(person) \
                    else (person, other)
                self.merge(loser, winner, o.trigger, o.message_id)
                person = winner
            elif self.clash(person, other):
                self.conflict("identified_persons", person, other, key, o.message_id)
            else:
                self.conflict("limit", person, other, key, o.message_id)
        person = self.cache.find(person)
        for key, other in known[1:]:
            if other is None and key not in self.cache.entries:
                if self.can_attach(person, key):
                    self.attach(person, key)
                else:
                    self.conflict("limit", person, "", key, o.message_id)
        self.note(o, person)
        return person

    def note(self, o: Observation, person: str) -> None:
        """Channel presence and traits, kept on the event's anchor identifier."""
        self.outcome.person_of[o.message_id] = person
        hit = self.cache.entries.get(o.anchor) if o.anchor is not None else None
        if hit is None:
            return
        ident = hit[0]
        at = o.at_us
        span = self._channels.get((ident, o.channel))
        if span is None:
            self._channels[(ident, o.channel)] = [at, at]
        else:
            if at < span[0]:
                span[0] = at
            if at > span[1]:
                span[1] = at
        if not o.traits:
            return
        for key, value in o.traits.items():
            if not isinstance(key, str) or not key or len(key) > MAX_TRAIT_KEY:
                continue
            self._history.append({"identifier_id": ident, "key": key, "value": value,
                                  "observed_at": from_us(o.at_us), "message_id": o.message_id})
            newest = self._traits.get((ident, key))
            if newest is None or newest[0] <= o.at_us:
                self._traits[(ident, key)] = (o.at_us, value, o.message_id)

    def finish(self) -> Outcome:
        self.flush()
        # In key order: neighbouring rows share pages, which the upserts then find in the page cache.
        repo.upsert_channel_spans(self.session, [
            (ident, channel, a, b) for (ident, channel), (a, b) in sorted(self._channels.items())])
        repo.upsert_traits(
            self.session,
            [{"identifier_id": ident, "key": key, "value": value, "observed_at": from_us(at)}
             for (ident, key), (at, value, _) in sorted(self._traits.items(), key=lambda item: item[0])],
            self._history,
        )
        self.outcome.conflicts = repo.insert_conflicts(self.session, list(self._conflicts.values()))
        return self.outcome


def begin(session: Session, cache: Cache, actor: str | None = None) -> Batch:
    """Start an identity transaction on ``session``: tick the clock (taking the identity write lock) and
    drop the cache if anyone else wrote since this process's last commit."""
    seq = repo.tick(session)
    if cache.seq != seq - 1:
        cache.clear()
    cache.seq = None  # trusted again only once the caller reports the commit (see committed())
    return Batch(session, cache, seq, actor)


def committed(cache: Cache, outcome: Outcome) -> None:
    cache.seq = outcome.seq
    if len(cache.entries) > cache.max_entries:
        cache.clear()


def resolve(session: Session, cache: Cache, observations: list[Observation], actor: str | None = None) -> Outcome:
    """Resolve a batch inside the caller's transaction. The caller commits, then calls :func:`committed`;
    if the transaction fails, the cache stays untrusted and is dropped by the next :func:`begin`."""
    batch = begin(session, cache, actor)
    keys: set[Key] = {k for o in observations for k in o.ids}
    keys.update(k for o in observations if o.previous
                for k in ((Kind.user_id, o.previous), (Kind.anonymous_id, o.previous)))
    batch.load(keys)
    settled = batch.prefetch(observations)
    entries, find, redirect = cache.entries, cache.find, cache.redirect
    for o, done in zip(observations, settled, strict=True):
        if done:
            person = entries[o.ids[0]][1]
            batch.note(o, find(person) if person in redirect else person)
        else:
            batch.apply(o)
    batch.outcome.events += len(observations)
    return batch.finish()
