"""The simulation: a pure, deterministic function of (people, days, seed, end date).

``generate(config)`` yields every message in time order, day by day, with the channel it is sent on and
the true person behind it. One ``random.Random(seed)`` drives everything (no global random state), so the
same config gives byte-identical messages. :class:`Simulator` also keeps what the ground truth needs once
the stream is exhausted: the identifiers each person revealed, and a summary.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from siyu.simulate.journeys import run_visit
from siyu.simulate.model import CHANNELS, ChannelPlan, Person, SimChannel, SimConfig, SimEvent, Weighted
from siyu.simulate.people import build_people
from siyu.simulate.session import iso_ms
from siyu.simulate.world import DAY_MS, World

# When people in China shop, by local hour (UTC+8).
LOCAL_HOUR = Weighted(range(24), [3, 2, 1, 1, 1, 1, 2, 4, 6, 7, 7, 8, 10, 9, 7, 7, 7, 7, 8, 10, 12, 13, 11, 7])
LINK_KINDS = ("user_id", "wechat_unionid", "phone", "email")


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        if config.people < 1 or config.days < 1:
            raise ValueError("people and days must be at least 1")
        self.config = config
        self.rng = random.Random(config.seed)
        self.people: list[Person] = build_people(config, self.rng)
        self.start_ms = int(config.start.timestamp() * 1000)
        self.world = World(self.rng, config.seed, int(config.end.timestamp() * 1000), self._add)
        self._out: list[tuple[int, int, SimEvent]] = []
        self._seq = 0
        self._day = 0
        self.finished = False
        self.total = 0
        self.by_channel: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self.by_type: dict[str, int] = {}
        self.by_event: dict[str, int] = {}
        self.first_ms: int | None = None
        self.last_ms: int | None = None

    def _add(self, person: Person, channel: SimChannel, message: dict[str, Any], t: int) -> None:
        self._seq += 1
        self._out.append((t, self._seq, SimEvent(channel, message, person.pid, self._day)))

    def _count(self, t: int, ev: SimEvent) -> None:
        self.total += 1
        self.by_channel[ev.channel] += 1
        m = ev.message
        self.by_type[m["type"]] = self.by_type.get(m["type"], 0) + 1
        name = m.get("event")
        if name is not None:
            self.by_event[name] = self.by_event.get(name, 0) + 1
        if self.first_ms is None:
            self.first_ms = t
        self.last_ms = t if self.last_ms is None else max(self.last_ms, t)

    def events(self) -> Iterator[SimEvent]:
        """Every message, in time order (a generator; run it once)."""
        cfg, rng = self.config, self.rng
        schedule: list[list[tuple[Person, ChannelPlan]]] = [[] for _ in range(cfg.days)]
        for p in self.people:
            for plan in p.plans.values():
                for d in plan.session_days:
                    schedule[d].append((p, plan))
        for day in range(cfg.days):
            self._day = day
            day_ms = self.start_ms + day * DAY_MS
            visits: list[tuple[int, int, Person, ChannelPlan]] = []
            for n, (p, plan) in enumerate(schedule[day]):
                utc_hour = (LOCAL_HOUR.pick(rng) - 8) % 24
                secs = utc_hour * 3600 + rng.randrange(1800 if utc_hour == 23 else 3600)
                visits.append((day_ms + secs * 1000 + rng.randrange(1000), n, p, plan))
            visits.sort(key=lambda v: (v[0], v[1]))
            for t, _, p, plan in visits:
                run_visit(self.world, p, plan, t)
            self.world.trim(day_ms + DAY_MS)
            out, self._out = self._out, []
            out.sort(key=lambda e: (e[0], e[1]))
            for t, _, ev in out:
                self._count(t, ev)
                yield ev
        self.finished = True

    # -- after the stream --------------------------------------------------------------------------
    def identifiers(self) -> list[tuple[str, str, str]]:
        """(kind, value, person) for every identifier some message revealed, sorted."""
        rows = {(kind, value, p.pid) for p in self.people for seen in p.seen.values() for kind, value in seen}
        return sorted(rows)

    def summary(self) -> dict[str, Any]:
        if not self.finished:
            raise RuntimeError("the summary is known once every event was generated")
        active = [p for p in self.people if p.seen]
        cross = [p for p in active if len(p.seen) >= 2]
        linked: dict[str, int] = dict.fromkeys(LINK_KINDS, 0)
        only_unionid_or_phone = 0
        unlinkable = sum(1 for p in cross if not _linkable(p))
        for p in cross:
            kinds = {k for k in LINK_KINDS if _shared(p, k)}
            for k in kinds:
                linked[k] += 1
            if "user_id" not in kinds and kinds & {"wechat_unionid", "phone"}:
                only_unionid_or_phone += 1
        flags = self.world.flags
        stats = self.world.stats
        return {
            "config": self.config.as_dict(),
            "events": self.total,
            "events_by_channel": self.by_channel,
            "events_by_type": dict(sorted(self.by_type.items())),
            "events_by_name": dict(sorted(self.by_event.items())),
            "first_timestamp": iso_ms(self.first_ms) if self.first_ms is not None else None,
            "last_timestamp": iso_ms(self.last_ms) if self.last_ms is not None else None,
            "people": len(active),
            "people_by_channel": {ch: sum(1 for p in active if ch in p.seen) for ch in CHANNELS},
            "cross_channel_people": len(cross),
            "three_channel_people": sum(1 for p in active if len(p.seen) == 3),
            "cross_channel_linked_by": linked,
            "cross_channel_linked_only_by_unionid_or_phone": only_unionid_or_phone,
            # people whose channels share no account id, UnionID, phone or email in what was sent (say, an
            # anonymous website visit): right answers for them are not knowable from the data
            "cross_channel_unlinkable_people": unlinkable,
            "anonymous_then_identified_people": len(flags.get("anonymous_then_identified", ())),
            "shared_device_people": sum(1 for p in active if p.shared_device),
            "buggy_client_people": sum(1 for p in active if p.buggy),
            "junk_anonymous_id_messages": stats.get("junk_anonymous_id_messages", 0),
            "alias_calls": stats.get("alias_calls", 0),
            "unnormalized_phone_messages": stats.get("unnormalized_phone_messages", 0),
            "mixed_case_email_messages": stats.get("mixed_case_email_messages", 0),
            "orders": stats.get("orders", 0),
            "revenue_fen": stats.get("revenue_fen", 0),
            "refunds": stats.get("refunds", 0),
        }


def _shared(p: Person, kind: str) -> bool:
    """Whether some value of this kind was sent on two or more channels."""
    values = [v for seen in p.seen.values() for k, v in seen if k == kind]
    return len(values) != len(set(values))


def _linkable(p: Person) -> bool:
    """Whether the person's channels are connected through identifiers sent on both ends."""
    ids = {ch: {(k, v) for k, v in seen if k in LINK_KINDS} for ch, seen in p.seen.items()}
    channels = list(ids)
    reached, known = {channels[0]}, set(ids[channels[0]])
    grew = True
    while grew:
        grew = False
        for ch in channels:
            if ch not in reached and ids[ch] & known:
                reached.add(ch)
                known |= ids[ch]
                grew = True
    return len(reached) == len(channels)


def generate(config: SimConfig) -> Iterator[SimEvent]:
    """Every message of the simulated brand, in time order."""
    return Simulator(config).events()
