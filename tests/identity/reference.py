"""A small reference model of identity resolution, for the property tests.

Deliberately naive: the identity graph is a dict of person -> set of identifiers, every lookup scans it,
and nothing is cached. It implements the rules as written (docs and the resolver's docstring), not the
resolver's code, so the two can be compared on the same delivered events:

- Identifiers are ``(kind, canonical value)``; priority user_id > wechat_unionid > phone = email >
  wechat_openid > device_id = anonymous_id, equal priorities keeping the order the message carries them
  in. A person is identified once it holds a user_id, UnionID, phone or email.
- The event's person is the person of its highest-priority identifier. A new one joins the first person
  of the event's other (already known) identifiers that can take it within the limits, else a new person.
- Every other person the event touches is merged in when the two do not both hold an identifier of the same
  strong kind (user_id, UnionID, phone, email) and the union stays within the limits; an identified one
  survives an anonymous one, otherwise the event's person does. Otherwise a conflict is recorded:
  ``identified_persons`` when both hold a strong identifier of the same kind, else ``limit``.
- The event's new identifiers are then attached within the limits, else a ``limit`` conflict.
- alias: ``previousId`` is a user id if some person holds that user id, otherwise an anonymous id.
- Channel presence and (identify) traits are kept on the event's anchor: its user id, else its anonymous
  id, else its highest-priority identifier, and only if that identifier is attached to someone.

Operator merges and separations are not modelled (the tests compare with the database before and after).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]

PRIORITY = {"user_id": 0, "wechat_unionid": 1, "phone": 2, "email": 2, "wechat_openid": 3, "device_id": 4,
            "anonymous_id": 4}
STRONG = frozenset({"user_id", "wechat_unionid", "phone", "email"})
# What automatic resolution lets one person hold; OpenIDs are counted per app id.
LIMITS = {"user_id": 1, "wechat_unionid": 1, "phone": 3, "email": 3, "wechat_openid": 1, "device_id": 20,
          "anonymous_id": 500}


@dataclass(frozen=True)
class Event:
    """One delivered message as the rules see it: canonical identifiers in the order the message carries
    them (junk and malformed values already left out)."""

    message_id: str
    channel: str
    at_us: int
    ids: tuple[Key, ...]
    user_id: str | None = None  # the userId field, when it is an identifier
    anonymous_id: str | None = None  # the anonymousId field, when it is an identifier
    previous: str | None = None  # alias previousId, when it is an identifier
    traits: dict[str, Any] = field(default_factory=dict)  # identify traits, as sent


def ordered(ids: list[Key]) -> list[Key]:
    """Highest priority first; equal priorities keep their order; each identifier once."""
    out: list[Key] = []
    for key in sorted(ids, key=lambda k: PRIORITY[k[0]]):
        if key not in out:
            out.append(key)
    return out


def slot(key: Key) -> str:
    """What a limit counts: the kind, or the kind and app id for an OpenID."""
    return f"{key[0]}:{key[1].split(':')[0]}" if key[0] == "wechat_openid" else key[0]


def within(keys: set[Key], limits: dict[str, int]) -> bool:
    return all(n <= limits[s.split(":")[0]] for s, n in Counter(slot(k) for k in keys).items())


Conflict = tuple[str, str, str, Key]  # reason, person, other person ("" for an identifier over a limit), key


class Model:
    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = dict(limits or LIMITS)
        self.persons: dict[str, set[Key]] = {}
        self.merged_into: dict[str, str] = {}
        self.moves: list[frozenset[Key]] = []  # what each merge moved: the merged-away person's identifiers
        self.conflicts: set[Conflict] = set()
        self.spans: dict[tuple[Key, str], tuple[int, int]] = {}  # (identifier, channel) -> first, last seen
        self.traits: dict[tuple[Key, str], tuple[int, Any]] = {}  # (identifier, trait) -> newest (at, value)

    # -- the graph ---------------------------------------------------------------------------------------------
    def owner(self, key: Key) -> str | None:
        return next((p for p, keys in self.persons.items() if key in keys), None)

    def identified(self, person: str) -> bool:
        return any(k[0] in STRONG for k in self.persons[person])

    def can_take(self, person: str, key: Key) -> bool:
        return within(self.persons[person] | {key}, self.limits)

    def clash(self, a: str, b: str) -> bool:
        """Both hold a strong identifier of the same kind: two customers known by different values."""
        kinds_a = {k[0] for k in self.persons[a] if k[0] in STRONG}
        return any(k[0] in kinds_a for k in self.persons[b])

    def mergeable(self, a: str, b: str) -> bool:
        return not self.clash(a, b) and within(self.persons[a] | self.persons[b], self.limits)

    def new_person(self) -> str:
        pid = f"r{len(self.persons) + len(self.merged_into) + 1}"
        self.persons[pid] = set()
        return pid

    def current(self, person: str) -> str:
        while person in self.merged_into:
            person = self.merged_into[person]
        return person

    # -- one event ---------------------------------------------------------------------------------------------
    def apply(self, e: Event) -> None:
        ids = ordered(list(e.ids))
        if e.previous is not None:
            kind = "user_id" if self.owner(("user_id", e.previous)) else "anonymous_id"
            ids = ordered([*ids, (kind, e.previous)])
        if not ids:
            return
        first, rest = ids[0], ids[1:]
        person = self.owner(first)
        if person is None:
            takers = [p for k in rest if (p := self.owner(k)) is not None and self.can_take(p, first)]
            person = takers[0] if takers else self.new_person()
            self.persons[person].add(first)
        for key in rest:
            other = self.owner(key)
            if other is None or other == person:
                continue
            if self.mergeable(person, other):
                if self.identified(other) and not self.identified(person):
                    person, other = other, person
                self.moves.append(frozenset(self.persons[other]))
                self.persons[person] |= self.persons.pop(other)
                self.merged_into[other] = person
            else:
                clash = self.clash(person, other)
                self.conflicts.add(("identified_persons" if clash else "limit", person, other, key))
        for key in rest:  # the identifiers nobody had (merging attaches none, so these are still unknown)
            if self.owner(key) is not None:
                continue
            if self.can_take(person, key):
                self.persons[person].add(key)
            else:
                self.conflicts.add(("limit", person, "", key))
        self.note(e)

    def note(self, e: Event) -> None:
        ordered_ids = ordered(list(e.ids))
        anchor = (("user_id", e.user_id) if e.user_id else ("anonymous_id", e.anonymous_id) if e.anonymous_id
                  else ordered_ids[0] if ordered_ids else None)
        if anchor is None or self.owner(anchor) is None:
            return
        first, last = self.spans.get((anchor, e.channel), (e.at_us, e.at_us))
        self.spans[(anchor, e.channel)] = (min(first, e.at_us), max(last, e.at_us))
        for name, value in e.traits.items():
            newest = self.traits.get((anchor, name))
            if newest is None or newest[0] <= e.at_us:
                self.traits[(anchor, name)] = (e.at_us, value)

    # -- what the tests compare --------------------------------------------------------------------------------
    def partition(self) -> set[frozenset[Key]]:
        return {frozenset(keys) for keys in self.persons.values()}

    def profile(self, keys: frozenset[Key]) -> tuple[dict[str, tuple[int, int]], dict[str, Any]]:
        """A person's channel spans and newest traits, whichever of its identifiers saw them."""
        channels: dict[str, tuple[int, int]] = {}
        for (key, channel), (first, last) in self.spans.items():
            if key in keys:
                a, b = channels.get(channel, (first, last))
                channels[channel] = (min(a, first), max(b, last))
        traits: dict[str, tuple[int, Any]] = {}
        for (key, name), (at, value) in self.traits.items():
            if key in keys and (name not in traits or traits[name][0] <= at):
                traits[name] = (at, value)
        return channels, {name: value for name, (_, value) in traits.items()}

    def conflict_signatures(self) -> set[tuple[str, Key, frozenset[frozenset[Key]]]]:
        """Conflicts named by the persons they concern as those persons are now (their identifiers)."""
        return {(reason, key, frozenset(frozenset(self.persons[self.current(p)]) for p in (a, b) if p))
                for reason, a, b, key in self.conflicts}
