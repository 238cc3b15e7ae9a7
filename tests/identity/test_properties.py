"""Property-based tests of identity resolution: random identify / alias / track / page / screen calls across
people and channels, delivered in random order, with duplicates, in random batches, through the resolver
(with a worker's long-lived cache, a second worker's, or a fresh one per batch), compared with the true
people and with the naive model in ``reference``. On SQLite and PostgreSQL; one end-to-end property goes
through the tracking API and the worker."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from siyu.db import Base, Database
from siyu.identity import kinds, models, service
from siyu.identity.extract import Observation, observe, plain_id
from siyu.identity.models import Identifier, IdentityClock, IdentityConflict, IdentityMerge, Person, PersonCounters
from siyu.identity.repository import current_person
from siyu.identity.resolver import Cache, committed, resolve
from siyu.migrate import upgrade
from siyu.profiles.service import profile
from tests.conftest import Api
from tests.identity import journeys, reference
from tests.identity.reference import PRIORITY, STRONG, Event, Key, Model, ordered
from tests.support import postgres_database

Draw = Callable[[st.SearchStrategy[Any]], Any]
Signature = tuple[str, Key, frozenset[frozenset[Key]]]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = int((datetime(2026, 11, 1, tzinfo=UTC) - EPOCH) / timedelta(microseconds=1))
CHANNELS = ("miniprogram", "web", "app")
TYPES = ("identify", "track", "page", "screen")
TRAIT_KINDS = ("phone", "email", "wechat_unionid", "wechat_openid")  # in the order extraction reads them
APPS = ("wxmini", "wxapp")
TIGHT = {**reference.LIMITS, "phone": 1, "email": 1, "device_id": 2, "anonymous_id": 3}


# -- identifiers and messages ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ident:
    kind: str
    value: str | None  # canonical (an OpenID without its app id); None: junk or malformed, never an identifier
    raw: str = ""  # how a junk value is sent (real values are spelled when a message is rendered)
    app: str | None = None  # an OpenID's app id

    @property
    def key(self) -> Key | None:
        if self.value is None:
            return None
        return self.kind, f"{self.app}:{self.value}" if self.kind == "wechat_openid" else self.value


def junk(kind: str, *raws: str) -> list[Ident]:
    return [Ident(kind, None, raw, APPS[0] if kind == "wechat_openid" else None) for raw in raws]


JUNK = [
    *junk("user_id", "undefined", "null", "0", "-1", "[object Object]", "NaN", "  "),
    *junk("anonymous_id", "00000000-0000-0000-0000-000000000000", "none", "anonymous", "guest"),
    *junk("phone", "0", "none", "12345", "+86 000"), *junk("email", "email", "not-an-email", "a@b"),
    *junk("wechat_unionid", "null", "undefined"), *junk("wechat_openid", "undefined", "-1"),
    *junk("device_id", "unknown", "0", "--"),
]
JUNK_HANDLES = junk("anonymous_id", "0", "undefined", "00000000-0000-0000-0000-000000000000")
PHONE_SPELLINGS: list[Callable[[str], str]] = [
    lambda n: n, lambda n: f"{n[:3]} {n[3:7]} {n[7:]}", lambda n: f"+86 {n[:3]}-{n[3:7]}-{n[7:]}",
    lambda n: f"+86{n}", lambda n: f"(+86) {n[:3]} {n[3:7]} {n[7:]}", lambda n: f"0086 {n}",
]
EMAIL_SPELLINGS: list[Callable[[str], str]] = [str.lower, str.upper, str.title, lambda e: f" {e.capitalize()} "]


def spell(draw: Draw, ident: Ident) -> str:
    if ident.value is None:
        return ident.raw
    if ident.kind == "phone":
        return draw(st.sampled_from(PHONE_SPELLINGS))(ident.value.removeprefix("+86"))
    if ident.kind == "email":
        return draw(st.sampled_from(EMAIL_SPELLINGS))(ident.value)
    return ident.value


@dataclass(frozen=True)
class Call:
    """One message as a client sends it, and the event the rules see in it."""

    channel: str
    message: dict[str, Any]
    event: Event

    def observation(self) -> Observation:
        m = self.message
        return observe(m["messageId"], self.channel, m["type"], m.get("anonymousId"), m.get("userId"),
                       m.get("previousId"), self.event.at_us, json.dumps(m.get("traits", {})),
                       json.dumps(m.get("context", {})).encode())


def render(draw: Draw, n: int, run: int, idents: list[Ident], previous: Ident | None) -> Call:
    """Message ``n`` carrying ``idents`` (an alias if there is a ``previous``): the first user id and anonymous
    id in their fields, the rest in traits, context.traits, context.device and context.externalIds, wherever
    the draw puts them. The event lists the identifiers in the order extraction reads those places."""
    type_ = "alias" if previous is not None else draw(st.sampled_from(TYPES))
    at_us = T0 + n * 1_000_000  # distinct: equal timestamps would leave "the newest trait" undefined
    msg: dict[str, Any] = {"type": type_, "messageId": f"r{run}-m{n}",
                           "timestamp": (EPOCH + timedelta(microseconds=at_us)).isoformat().replace("+00:00", "Z")}
    if type_ == "track":
        msg["event"] = "Product Viewed"
    elif type_ in ("page", "screen"):
        msg["name"] = "Home"
    traits: dict[str, Any] = {"tier": draw(st.sampled_from(["silver", "gold"]))} if type_ == "identify" else {}
    head: dict[str, Ident] = {}
    in_traits: dict[str, Ident] = {}
    in_context: dict[str, Ident] = {}
    device: list[Ident] = []
    external: list[Ident] = []
    context: dict[str, Any] = {}
    for ident in idents:
        field_name = {"user_id": "userId", "anonymous_id": "anonymousId"}.get(ident.kind)
        places = ["external"]
        if field_name and field_name not in head:
            places = [field_name]
        elif ident.kind in TRAIT_KINDS:
            places += [p for p, bag in (("traits", in_traits), ("context", in_context))
                       if ident.kind not in bag and (p == "context" or type_ == "identify")]
        elif ident.kind == "device_id" and not device:
            places.append("device")
        place = draw(st.sampled_from(places))
        raw = spell(draw, ident)
        if place in ("userId", "anonymousId"):
            head[place], msg[place] = ident, raw
        elif place in ("traits", "context"):
            (in_traits if place == "traits" else in_context)[ident.kind] = ident
            bag = traits if place == "traits" else context.setdefault("traits", {})
            bag[ident.kind] = raw
            if ident.kind == "wechat_openid":
                bag["wechat_appid"] = ident.app
        elif place == "device":
            device.append(ident)
            context["device"] = {"id": raw, "type": "ios"}
        else:
            external.append(ident)
            context.setdefault("externalIds", []).append(
                {"id": raw, "type": ident.kind, "collection": ident.app or "users", "encoding": "none"})
    if traits:
        msg["traits"] = traits
    if context:
        msg["context"] = context
    if previous is not None:
        msg["previousId"] = spell(draw, previous)
    found = [head.get("userId"), head.get("anonymousId"), *(in_traits.get(k) for k in TRAIT_KINDS), *device,
             *(in_context.get(k) for k in TRAIT_KINDS), *external]
    keys = tuple(k for i in found if i is not None and (k := i.key) is not None)
    user, anon = head.get("userId"), head.get("anonymousId")
    event = Event(message_id=msg["messageId"], channel=draw(st.sampled_from(CHANNELS)), at_us=at_us, ids=keys,
                  user_id=user.value if user else None, anonymous_id=anon.value if anon else None,
                  previous=previous.value if previous else None, traits=traits)
    return Call(event.channel, msg, event)


# -- scenarios -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    calls: list[Call]
    idents: list[Ident]  # every real identifier the calls use
    truth: set[frozenset[Key]] | None = None  # the people, when nobody shares anything


def person(draw: Draw, run: int, i: int, *, phones: int, emails: int, openids: int) -> list[Ident]:
    p = f"r{run}-p{i}"
    ids = [Ident("user_id", f"{p}-user")] if draw(st.booleans()) else []
    ids += [Ident("anonymous_id", f"{p}-anon{j}") for j in range(draw(st.integers(1, 3)))]
    ids += [Ident("phone", f"+86139{run * 100 + i * 10 + j:08d}") for j in range(draw(st.integers(0, phones)))]
    ids += [Ident("email", f"{p}-{j}@example.com") for j in range(draw(st.integers(0, emails)))]
    if draw(st.booleans()):
        ids.append(Ident("wechat_unionid", f"{p}-union"))
    ids += [Ident("wechat_openid", f"{p}-open{j}", app=draw(st.sampled_from(APPS)))
            for j in range(draw(st.integers(0, openids)))]
    if draw(st.booleans()):
        ids.append(Ident("device_id", f"{p}-device"))
    return ids


def call(draw: Draw, n: int, run: int, idents: list[Ident], previous: list[Ident]) -> Call:
    """A call carrying ``idents``; an alias (userId + one of ``previous``) when the draw says so and it can."""
    idents = draw(st.permutations(idents))
    users = [i for i in idents if i.kind == "user_id"]
    if users and previous and draw(st.booleans()):
        prev = draw(st.sampled_from(previous))
        rest = [i for i in idents if i != prev and i != users[0]]
        return render(draw, n, run, [users[0], *rest], prev)
    return render(draw, n, run, idents, None)


@st.composite
def separate_people(draw: Draw, run: int = 0) -> Scenario:
    """2-5 people who share nothing, each seen in calls that connect all their identifiers, in any grouping:
    two parts of one person may both be identified before anything links them (a UnionID on one, a phone on
    the other), and are still joined, since a person here holds at most one identifier of each strong kind.
    Calls without a user id or anonymous id of the person carry a junk anonymous id."""
    counter = itertools.count()
    calls: list[Call] = []
    everyone: list[Ident] = []
    for i in range(draw(st.integers(2, 5))):
        ids = person(draw, run, i, phones=1, emails=1, openids=1)
        everyone += ids
        primary = min(ids, key=lambda x: PRIORITY[x.kind])
        handles = [x for x in ids if x.kind in ("user_id", "anonymous_id")]
        groups = [[primary, x] for x in ids if x != primary] or [[primary]]
        groups += draw(st.lists(st.lists(st.sampled_from(ids), min_size=1, max_size=4, unique=True), max_size=3))
        groups += [[x] for x in ids if x.kind not in STRONG and draw(st.booleans())]  # anonymous browsing
        for group in groups:
            if not any(x in handles for x in group):
                # a user id or anonymous id, or a junk anonymous id: then the event's person is found through
                # the group's other identifiers only (the event store anchors it to the first of them)
                group.append(draw(st.sampled_from(handles + JUNK_HANDLES)))
            anons = [x for x in group if x.kind == "anonymous_id"]
            calls.append(call(draw, next(counter), run, group, anons))
    return Scenario(calls, everyone, people_of(everyone))


def people_of(idents: list[Ident]) -> set[frozenset[Key]]:
    """The true people of identifiers made by ``person``: by their ``-p<i>`` tag (phones: by their digits)."""
    people: dict[str, set[Key]] = {}
    for x in idents:
        assert x.key is not None and x.value is not None
        who = str(int(x.value[-8:]) // 10 % 10) if x.kind == "phone" else x.value.split("-p", 1)[1].split("-")[0]
        people.setdefault(who, set()).add(x.key)
    return {frozenset(keys) for keys in people.values()}


@st.composite
def shared_people(draw: Draw, run: int = 0, alias_user_ids: bool = True, calls: int = 20) -> Scenario:
    """2-4 people with more phones, emails and OpenIDs than the limits allow, devices, anonymous ids and phones
    that several of them use, calls that mix anyone's identifiers with junk, and aliases whose previousId is
    an anonymous id, junk or (``alias_user_ids``) someone's user id."""
    people = [person(draw, run, i, phones=4, emails=2, openids=2) for i in range(draw(st.integers(2, 4)))]
    shared = [Ident("device_id", f"r{run}-shared-device{j}") for j in range(draw(st.integers(0, 2)))]
    shared += [Ident("anonymous_id", f"r{run}-shared-anon{j}") for j in range(draw(st.integers(0, 2)))]
    shared += [Ident("phone", f"+86137{run * 100 + j:08d}") for j in range(draw(st.integers(0, 2)))]
    everyone = [x for p in people for x in p] + shared
    previous = [x for x in everyone if x.kind == "anonymous_id" or (alias_user_ids and x.kind == "user_id")]
    previous += junk("anonymous_id", "undefined", "null")
    made = []
    weak = [x for x in everyone if x.kind not in STRONG]
    for n in range(draw(st.integers(1, calls))):
        if draw(st.integers(0, 2)) == 0:  # anonymous browsing
            made.append(call(draw, n, run, [draw(st.sampled_from(weak))], []))
            continue
        own = draw(st.lists(st.sampled_from(draw(st.sampled_from(people))), min_size=1, max_size=3, unique=True))
        extra = draw(st.lists(st.sampled_from(everyone), max_size=2, unique=True))
        noise = draw(st.lists(st.sampled_from(JUNK), max_size=2))
        made.append(call(draw, n, run, list(dict.fromkeys(own + extra)) + noise, previous))
    return Scenario(made, everyone)


@dataclass(frozen=True)
class Delivery:
    batches: list[list[Call]]
    caches: list[int]  # per batch: 0 the worker's cache, 1 another worker's, 2 a fresh one

    @property
    def calls(self) -> list[Call]:
        return [c for b in self.batches for c in b]


@st.composite
def deliveries(draw: Draw, calls: list[Call], shuffle: bool = True) -> Delivery:
    """The calls in a random order (or as they come), some delivered twice, in random batches."""
    order = list(draw(st.permutations(calls))) if shuffle else list(calls)
    for _ in range(draw(st.integers(0, 3))):
        order.insert(draw(st.integers(0, len(order))), draw(st.sampled_from(calls)))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=5))) if len(order) > 1 else []
    bounds = [0, *cuts, len(order)]
    batches = [order[a:b] for a, b in itertools.pairwise(bounds)]
    caches = draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=len(batches), max_size=len(batches)))
    return Delivery(batches, caches)


# -- the database side -----------------------------------------------------------------------------------------
TABLES = [m for m in vars(models).values()  # everything of the identity graph but its clock
          if isinstance(m, type) and issubclass(m, Base) and m.__module__ == models.__name__ and m is not IdentityClock]


@dataclass
class Graph:
    """The identity graph of one database, fed the way the identity worker feeds it."""

    db: Database
    caches: list[Cache] = field(default_factory=lambda: [Cache(), Cache()])

    def reset(self) -> None:
        with self.db.session() as s:
            for model in TABLES:
                s.execute(delete(model))
        self.caches = [Cache(), Cache()]

    def deliver(self, delivery: Delivery) -> None:
        for batch, which in zip(delivery.batches, delivery.caches, strict=True):
            cache = self.caches[which] if which < len(self.caches) else Cache()
            with self.db.session() as s:
                outcome = resolve(s, cache, [c.observation() for c in batch])
            committed(cache, outcome)

    def persons(self) -> dict[str, frozenset[Key]]:
        with self.db.session() as s:
            rows = s.execute(select(Identifier.person_id, Identifier.kind, Identifier.value)).all()
        out: dict[str, set[Key]] = {}
        for pid, kind, value in rows:
            out.setdefault(pid, set()).add((kind, value))
        return {pid: frozenset(keys) for pid, keys in out.items()}

    def partition(self) -> set[frozenset[Key]]:
        return set(self.persons().values())

    def profiles(self) -> dict[str, dict[str, Any]]:
        with self.db.session() as s:
            return {pid: profile(s, pid).model_dump() for pid in self.persons()}

    def moves(self) -> Counter[frozenset[Key]]:
        """What each merge moved (by identifiers), however many times."""
        with self.db.session() as s:
            keys = {i: (k, v) for i, k, v in s.execute(select(Identifier.id, Identifier.kind, Identifier.value))}
            moved = s.scalars(select(IdentityMerge.identifiers).where(IdentityMerge.action == "merge")).all()
        return Counter(frozenset(keys[i] for i in ids) for ids in moved)

    def conflicts(self) -> set[Signature]:
        persons = self.persons()
        with self.db.session() as s:
            rows = s.execute(select(IdentityConflict.reason, IdentityConflict.person_id,
                                    IdentityConflict.other_person_id, IdentityConflict.identifier_kind,
                                    IdentityConflict.identifier_value)).all()
            now = {p: current_person(s, p) or p for r in rows for p in r[1:3] if p}
        return {(reason, (kind, value), frozenset(persons.get(now[p], frozenset()) for p in (a, b) if p))
                for reason, a, b, kind, value in rows}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.server)])
def graph(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    """One migrated database of each kind per module; each example starts by emptying the identity tables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('identity') / 'ops.sqlite3'}"
        yield from _graph(url)
        return
    with postgres_database() as url:
        yield from _graph(url)


def _graph(url: str) -> Iterator[Graph]:
    upgrade(url)
    db = Database(url)
    try:
        yield Graph(db)
    finally:
        db.dispose()


def model_of(*deliveries_: Delivery, limits: dict[str, int] | None = None) -> Model:
    model = Model(limits)
    for d in deliveries_:
        for c in d.calls:
            model.apply(c.event)
    return model


def us(at: datetime) -> int:
    return int((at - EPOCH) / timedelta(microseconds=1))


def assert_profiles_match(graph: Graph, model: Model) -> None:
    for p in graph.profiles().values():
        keys = frozenset((i["kind"], i["value"]) for i in p["identifiers"])
        channels, traits = model.profile(keys)
        assert {c["channel"]: (us(c["first_seen"]), us(c["last_seen"])) for c in p["channels"]} == channels, keys
        assert p["traits"] == traits, keys


def unexplained_links(calls: list[Call], partition: set[frozenset[Key]], conflicts: set[Signature]) -> list[Any]:
    """Identifiers that an event carried but that ended up away from the event's person without a conflict
    naming them (and the two persons): resolution never drops a link silently. Aliases are left out (which
    identifier their previousId is depends on the moment)."""
    home_of = {k: keys for keys in partition for k in keys}
    out = []
    for c in calls:
        ids = ordered(list(c.event.ids))
        if c.event.previous is not None or not ids:
            continue
        home = home_of.get(ids[0])
        assert home is not None, f"{c.event.message_id}: its first identifier {ids[0]} belongs to nobody"
        for k in ids[1:]:
            there = home_of.get(k)
            if there != home and not any(key == k and home in persons and persons <= {home, there}
                                         for _, key, persons in conflicts):
                out.append((c.event.message_id, k, there))
    return out


# -- properties ------------------------------------------------------------------------------------------------
def test_the_reference_uses_the_documented_priorities_and_limits() -> None:
    assert kinds.PRIORITY == reference.PRIORITY
    assert kinds.LIMITS == reference.LIMITS
    assert kinds.STRONG == reference.STRONG


@settings(max_examples=60, deadline=None)
@given(scenario=separate_people(), data=st.data())
def test_people_who_share_nothing_are_found_whatever_the_order(graph: Graph, scenario: Scenario,
                                                               data: st.DataObject) -> None:
    graph.reset()
    delivery = data.draw(deliveries(scenario.calls))
    for c in delivery.calls:
        assert c.observation().ids == ordered(list(c.event.ids)), c.message  # extraction reads what was sent
    graph.deliver(delivery)
    model = model_of(delivery)
    assert model.partition() == scenario.truth
    assert graph.partition() == scenario.truth
    assert graph.moves() == Counter(model.moves)
    assert graph.conflicts() == set()
    assert_profiles_match(graph, model)


@pytest.mark.parametrize("limits", ["documented", "tight"])
@settings(max_examples=80, deadline=None)
@given(scenario=shared_people(), data=st.data())
def test_shared_and_junk_identifiers_resolve_as_the_reference_says(graph: Graph, limits: str, scenario: Scenario,
                                                                   data: st.DataObject) -> None:
    table = TIGHT if limits == "tight" else reference.LIMITS
    graph.reset()
    delivery = data.draw(deliveries(scenario.calls))
    with mock.patch.dict(kinds.LIMITS, table):
        graph.deliver(delivery)
    model = model_of(delivery, limits=table)
    assert graph.partition() == model.partition()
    assert graph.moves() == Counter(model.moves)
    conflicts = graph.conflicts()
    assert conflicts == model.conflict_signatures()
    assert unexplained_links(delivery.calls, graph.partition(), conflicts) == []
    assert_profiles_match(graph, model)


@settings(max_examples=50, deadline=None)
@given(scenario=st.one_of(separate_people(), shared_people(alias_user_ids=False)), data=st.data())
def test_replaying_everything_in_another_order_changes_nothing(graph: Graph, scenario: Scenario,
                                                               data: st.DataObject) -> None:
    graph.reset()
    first = data.draw(deliveries(scenario.calls))
    graph.deliver(first)
    before, moves = graph.profiles(), graph.moves()
    again = data.draw(deliveries(scenario.calls))
    graph.deliver(again)
    assert graph.profiles() == before
    assert graph.moves() == moves
    assert graph.conflicts() == model_of(first, again).conflict_signatures()


def seed_counters(graph: Graph, data: st.DataObject) -> None:
    """Orders and revenue on some persons (merged away or not), as the profiles consumer keeps them."""
    with graph.db.session() as s:
        persons = s.scalars(select(Person.id).order_by(Person.created_at, Person.id)).all()
        for pid in data.draw(st.lists(st.sampled_from(persons), unique=True, max_size=4)) if persons else []:
            orders = data.draw(st.integers(1, 5))
            s.add(PersonCounters(person_id=pid, orders=orders, revenue_fen=orders * 9900, refunded_fen=100,
                                 first_order_at=datetime(2026, 11, 1, tzinfo=UTC),
                                 last_order_at=datetime(2026, 11, orders, tzinfo=UTC)))


@settings(max_examples=40, deadline=None)
@given(scenario=shared_people(alias_user_ids=False), data=st.data())
def test_an_operator_merge_and_its_undo_change_nothing(graph: Graph, scenario: Scenario,
                                                       data: st.DataObject) -> None:
    graph.reset()
    graph.deliver(data.draw(deliveries(scenario.calls)))
    seed_counters(graph, data)
    persons = graph.persons()
    assume(len(persons) >= 2)
    before = graph.profiles()
    into, other = data.draw(st.lists(st.sampled_from(sorted(persons, key=lambda p: sorted(persons[p]))),
                                     min_size=2, max_size=2, unique=True))
    with graph.db.session() as s:
        merge_id = service.merge(s, into, other, "same customer", "operator").id
    assert graph.partition() == set(persons.values()) - {persons[into], persons[other]} | {
        persons[into] | persons[other]}
    with graph.db.session() as s:
        service.unmerge(s, merge_id, "not the same after all", "operator")
    assert graph.profiles() == before
    graph.deliver(data.draw(deliveries(scenario.calls)))  # and the events that made them change nothing either
    assert graph.profiles() == before


@st.composite
def follow_ups(draw: Draw, scenario: Scenario, near: frozenset[Key]) -> list[Call]:
    """Later calls: a few new anonymous visitors, then calls linking them and the identifiers ``near``."""
    fresh = [Ident("anonymous_id", f"later-anon{j}") for j in range(3)]
    pool = [x for x in scenario.idents if x.key in near] + fresh
    groups = [[x] for x in fresh] + draw(st.lists(st.lists(st.sampled_from(pool), min_size=1, max_size=3,
                                                              unique=True), min_size=1, max_size=4))
    return [call(draw, 1000 + n, 0, g, []) for n, g in enumerate(groups)]


# Without shrinking: each try is a dozen database transactions, and shrinking a failure here took minutes.
@settings(max_examples=100, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(scenario=shared_people(alias_user_ids=False, calls=4), data=st.data())
def test_persons_an_operator_separated_stay_apart(graph: Graph, scenario: Scenario, data: st.DataObject) -> None:
    """Whatever comes later: the two sides of an undone merge (automatic or an operator's) never join again."""
    graph.reset()
    graph.deliver(data.draw(deliveries(scenario.calls)))
    persons = graph.persons()
    with graph.db.session() as s:
        keys = {i: (k, v) for i, k, v in s.execute(select(Identifier.id, Identifier.kind, Identifier.value))}
        moved = s.execute(select(IdentityMerge.id, IdentityMerge.identifiers)).all()
    merges = [m for m, _ in sorted(moved, key=lambda r: sorted(keys[i] for i in r[1]))]  # in a repeatable order
    if merges and data.draw(st.booleans()):
        merge_id = data.draw(st.sampled_from(merges))
    else:
        assume(len(persons) >= 2)
        into, other = data.draw(st.lists(st.sampled_from(sorted(persons, key=lambda p: sorted(persons[p]))),
                                         min_size=2, max_size=2, unique=True))
        with graph.db.session() as s:
            merge_id = service.merge(s, into, other, "same customer", "operator").id
    with graph.db.session() as s:
        undo = service.unmerge(s, merge_id, "not the same", "operator")
        holder, restored = undo.from_person, undo.into_person
    persons = graph.persons()
    sides = persons[holder], persons[restored]
    graph.deliver(data.draw(deliveries(data.draw(follow_ups(scenario, sides[0] | sides[1])), shuffle=False)))
    for keys in graph.partition():
        assert not (keys & sides[0] and keys & sides[1]), (sides, keys)


RUNS = itertools.count(1)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_tracking_api_and_the_worker_find_the_people(api: Api, data: st.DataObject) -> None:
    run = next(RUNS)  # fresh identifiers and message ids: the examples share one app
    scenario = data.draw(separate_people(run=run))
    delivery = data.draw(deliveries(scenario.calls))
    for batch in delivery.batches:
        for channel, calls in itertools.groupby(batch, key=lambda c: c.channel):
            journeys.send(api, channel, *[c.message for c in calls])
    api.drain()
    person_of = {key: journeys.person_id(api, *key) for keys in scenario.truth or () for key in keys}
    found: dict[str | None, set[Key]] = {}
    for key, pid in person_of.items():
        found.setdefault(pid, set()).add(key)
    assert None not in found
    assert {frozenset(keys) for keys in found.values()} == scenario.truth
    # and the event store puts every event with its person
    rows = api.sql(f"SELECT message_id, person_id FROM events WHERE message_id LIKE 'r{run}-%'")
    assert dict((str(m), p) for m, p in rows) == {c.event.message_id: person_of[c.event.ids[0]]
                                                   for c in scenario.calls}


JUNKISH = st.one_of(
    st.text(),
    st.text(alphabet="0-_. \t\u3000", max_size=40),  # zeros, dashes and spaces, ASCII or not
    st.builds(lambda word, case, pad: pad + (word.upper() if case else word) + pad,
              st.sampled_from(sorted(kinds.JUNK)), st.booleans(), st.sampled_from(["", " ", "\t", "\u3000"])),
    st.integers(190, 210).map(lambda n: "x" * n),
)


@given(value=JUNKISH)
def test_plain_ids_are_exactly_what_normalisation_keeps(value: str) -> None:
    """The worker's cheap test of whether the event store finds an event through its own user id or anonymous
    id (``extract.plain_id``) agrees with normalisation on every string."""
    assert plain_id(value) == (kinds.normalize("user_id", value) == value) \
        == (kinds.normalize("anonymous_id", value) == value)
