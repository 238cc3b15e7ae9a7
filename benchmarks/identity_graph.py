"""A realistic identity graph for the identity benchmarks, seeded straight into the operational database
(and its identifier links into the event store), and realistic traffic against it.

Persons are shaped like the simulator's shoppers (benchmarks use the simulator itself where its size is
enough; a million identifiers would take it hours):

- anonymous browsers (65%): one channel; an anonymous id, plus the mini-program OpenID on the
  mini-program or the device id in the APP;
- members (35%): a user id, usually a phone, sometimes an email, often a UnionID, and on each of their
  one to three channels an anonymous id plus the OpenID (mini-program) or device id (APP); a user id
  carries a few traits and its channel presence.

That is about 3.1 identifiers per person, so a million identifiers is about 320,000 persons.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from siyu.db import Database
from siyu.identity.models import Identifier, IdentifierChannel, IdentifierTrait, IdentityClock, Person, TraitChange
from siyu.kit.ids import new_id
from siyu.warehouse.base import Warehouse

MP_APPID = "wx5f8a1c3e9b2d7a40"
CHANNELS = ("miniprogram", "web", "app")
CHANNEL_WEIGHTS = (0.5, 0.3, 0.2)
PERSONS_PER_SEQ = 500  # identifiers were attached over many identity transactions
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "158", "187", "188")  # valid CN mobiles


@dataclass
class Browser:
    """One client install of one person: what its messages carry."""

    channel: str
    anonymous_id: str
    extra: str | None  # the mini-program OpenID (without the app id) or the APP device id


@dataclass
class Seeded:
    person: str
    browsers: list[Browser]
    user_id: str | None = None


@dataclass
class Graph:
    anonymous: list[Seeded] = field(default_factory=list)
    members: list[Seeded] = field(default_factory=list)
    identifiers: int = 0
    keys: list[tuple[str, str]] = field(default_factory=list)  # every (kind, value), for lookups
    seq: int = 0


def _browser(rng: random.Random, channel: str, n: int) -> Browser:
    extra = f"o{n:09d}{rng.getrandbits(40):010x}" if channel == "miniprogram" else \
        f"D{n:09d}-{rng.getrandbits(48):012X}" if channel == "app" else None
    return Browser(channel, f"{rng.getrandbits(64):016x}-{n:08d}", extra)


def _browser_keys(b: Browser) -> list[tuple[str, str]]:
    keys = [("anonymous_id", b.anonymous_id)]
    if b.channel == "miniprogram" and b.extra:
        keys.append(("wechat_openid", f"{MP_APPID}:{b.extra}"))
    elif b.channel == "app" and b.extra:
        keys.append(("device_id", b.extra))
    return keys


def seed(db: Database, warehouse: Warehouse | None, identifiers: int, rng: random.Random,
         progress: Any = None) -> Graph:
    """Insert persons until the graph holds ``identifiers`` identifiers; returns what traffic needs."""
    graph = Graph()
    now = datetime.now(UTC)
    persons: list[dict[str, Any]] = []
    idents: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    traits: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    links: list[tuple[str, str, str, int]] = []
    n = 0

    def flush() -> None:
        with db.session() as s:
            if persons:
                s.execute(insert(Person), persons)
            for i in range(0, len(idents), 20_000):
                s.execute(insert(Identifier), idents[i:i + 20_000])
            if channels:
                s.execute(insert(IdentifierChannel), channels)
            if traits:
                s.execute(insert(IdentifierTrait), traits)
                s.execute(insert(TraitChange), history)
        if warehouse is not None and links:
            warehouse.write_links(links)
        for rows in (persons, idents, channels, traits, history, links):
            rows.clear()
        if progress:
            progress(graph.identifiers)

    while graph.identifiers < identifiers:
        n += 1
        pid = new_id()
        seq = n // PERSONS_PER_SEQ + 1
        created = now - timedelta(days=90) + timedelta(seconds=n % (90 * 86400))
        persons.append({"id": pid, "created_at": created, "merged_into": None})
        keys: list[tuple[str, str]] = []
        anchors: list[tuple[str, str]] = []  # (identifier id, channel)
        if rng.random() < 0.65:
            ch = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            b = _browser(rng, ch, n)
            keys += _browser_keys(b)
            graph.anonymous.append(Seeded(pid, [b]))
            member = None
        else:
            uid = f"u{n:09d}"
            keys.append(("user_id", uid))
            if rng.random() < 0.9:
                keys.append(("phone", f"+86{rng.choice(MOBILE_PREFIXES)}{n % 100_000_000:08d}"))
            if rng.random() < 0.2:
                keys.append(("email", f"shopper{n}@example.com"))
            if rng.random() < 0.6:
                keys.append(("wechat_unionid", f"oU{n:010d}{rng.getrandbits(32):08x}"))
            chs = rng.sample(CHANNELS, rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0])
            browsers = [_browser(rng, ch, n) for ch in chs]
            for b in browsers:
                keys += _browser_keys(b)
            member = Seeded(pid, browsers, uid)
            graph.members.append(member)
        first_user_or_anon: dict[str, str] = {}
        for kind, value in keys:
            iid = new_id()
            idents.append({"id": iid, "kind": kind, "value": value, "person_id": pid, "seq": seq,
                           "created_at": created})
            links.append((kind, value, pid, seq))  # the worker copies every kind's links to the store
            if kind in ("user_id", "anonymous_id"):
                first_user_or_anon.setdefault(kind, iid)
                if kind == "anonymous_id":
                    ch = next(b.channel for b in (member.browsers if member else graph.anonymous[-1].browsers)
                              if b.anonymous_id == value)
                    anchors.append((iid, ch))
        if member is not None:
            uid_ident = first_user_or_anon["user_id"]
            anchors += [(uid_ident, b.channel) for b in member.browsers]
            for key, value in (("name", f"顾客{n}"), ("tier", rng.choice(("silver", "gold", "platinum")))):
                traits.append({"identifier_id": uid_ident, "key": key, "value": value, "observed_at": created})
                history.append({"identifier_id": uid_ident, "key": key, "value": value, "observed_at": created,
                                "message_id": f"seed-{n}"})
        for iid, ch in anchors:
            channels.append({"identifier_id": iid, "channel": ch, "first_seen": created, "last_seen": created})
        graph.keys += keys
        graph.identifiers += len(keys)
        graph.seq = seq
        if len(idents) >= 100_000:
            flush()
    flush()
    with db.session() as s:
        s.execute(update(IdentityClock).where(IdentityClock.id == 1).values(seq=graph.seq))
    return graph


# -- traffic ----------------------------------------------------------------------------------------------------
_PRODUCTS = [f"P{i:04d}" for i in range(997)]


def _context(b: Browser, n: int) -> dict[str, Any]:
    if b.channel == "miniprogram":
        return {"library": {"name": "analytics-wechat", "version": "1.4.0"},
                "miniprogram": {"appId": MP_APPID, "scene": 1089, "version": "3.2.0"},
                "externalIds": [{"id": b.extra, "type": "wechat_openid", "collection": MP_APPID,
                                 "encoding": "none"}],
                "device": {"manufacturer": "Apple", "model": "iPhone 14", "type": "ios"},
                "os": {"name": "iOS", "version": "17.4"}, "locale": "zh_CN", "timezone": "Asia/Shanghai"}
    if b.channel == "app":
        return {"library": {"name": "analytics-android", "version": "4.11.3"},
                "app": {"name": "山茶集", "version": "5.2.1", "build": "5210"},
                "device": {"id": b.extra, "manufacturer": "Xiaomi", "model": "14", "type": "android"},
                "os": {"name": "Android", "version": "14"}, "locale": "zh-CN", "timezone": "Asia/Shanghai"}
    return {"library": {"name": "analytics.js", "version": "5.2.0"}, "locale": "zh-CN",
            "page": {"url": f"https://shop.example/p/{n % 997}?utm_source=baidu&utm_medium=cpc",
                     "referrer": "https://www.baidu.com/", "path": f"/p/{n % 997}"},
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"}


def _track(n: int, ts: str, b: Browser, user_id: str | None) -> dict[str, Any]:
    m: dict[str, Any] = {
        "type": "track", "event": "Product Viewed", "messageId": f"bi-{n:012d}", "anonymousId": b.anonymous_id,
        "timestamp": ts, "context": _context(b, n),
        "properties": {"product_id": _PRODUCTS[n % 997], "sku": f"SKU-{n % 4999}", "category": "茶具",
                       "price": 129.0, "currency": "CNY"},
    }
    if user_id:
        m["userId"] = user_id
    return m


def _identify(n: int, ts: str, b: Browser, user_id: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {"type": "identify", "messageId": f"bi-{n:012d}", "anonymousId": b.anonymous_id, "userId": user_id,
            "timestamp": ts, "traits": traits, "context": _context(b, n)}


@dataclass
class Mix:
    """The share of *sessions* of each kind; a session is 3 to 8 events of one browser."""

    known: float = 0.80  # a seeded anonymous browser or member coming back
    new_browser: float = 0.14  # a browser never seen before (new person on its first event)
    sign_up: float = 0.02  # a seeded anonymous browser signs up: new user id and phone join its person
    log_in: float = 0.04  # a member logs in on a seeded anonymous browser: that person merges into theirs


@dataclass
class Traffic:
    messages: list[dict[str, Any]]  # in send order
    sessions: dict[str, int]
    merged: list[tuple[str, str]]  # (anonymous id, user id) of each log-in sent: one person afterwards
    channel_of: list[str]


def traffic(graph: Graph, events: int, rng: random.Random, mix: Mix | None = None) -> Traffic:
    """``events`` messages from sessions interleaved as on a live site (about 200 open at a time)."""
    mix = mix or Mix()
    now = datetime.now(UTC)
    # Anonymous browsers used for sign-ups and log-ins are drawn without replacement; log-ins use web and
    # APP browsers only (a member already has their one mini-program OpenID, so merging a second
    # mini-program person into them would exceed the per-app limit: a conflict, not a merge).
    pool = list(graph.anonymous)
    rng.shuffle(pool)
    merge_pool = [s for s in pool if s.browsers[0].channel != "miniprogram"]
    used: set[str] = set()
    sessions: dict[str, int] = {"known": 0, "new_browser": 0, "sign_up": 0, "log_in": 0}
    merges: list[tuple[str, str]] = []
    n = 0
    messages: list[dict[str, Any]] = []
    channel_of: list[str] = []
    open_sessions: list[list[dict[str, Any]]] = []
    kinds = ("known", "new_browser", "sign_up", "log_in")
    weights = (mix.known, mix.new_browser, mix.sign_up, mix.log_in)

    def stamp() -> str:
        return (now - timedelta(seconds=events - n)).isoformat().replace("+00:00", "Z")

    def start() -> list[dict[str, Any]]:
        kind = rng.choices(kinds, weights)[0]
        length = rng.randint(3, 8)
        ts = stamp()
        out: list[dict[str, Any]] = []
        if kind == "known":
            if rng.random() < 0.5 and graph.members:
                m = rng.choice(graph.members)
                b = rng.choice(m.browsers)
                out = [_track(0, ts, b, m.user_id) for _ in range(length)]
            else:
                a = rng.choice(graph.anonymous)
                out = [_track(0, ts, a.browsers[0], None) for _ in range(length)]
        elif kind == "new_browser":
            ch = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            b = _browser(rng, ch, 900_000_000 + rng.getrandbits(24))
            out = [_track(0, ts, b, None) for _ in range(length)]
        else:
            candidates = pool if kind == "sign_up" else merge_pool
            while candidates and candidates[-1].person in used:
                candidates.pop()
            if not candidates:
                return start()
            a = candidates.pop()
            used.add(a.person)
            b = a.browsers[0]
            out = [_track(0, ts, b, None)]
            if kind == "sign_up":
                uid = f"new-{len(used):08d}"
                out.append(_identify(0, ts, b, uid, {"phone": f"139{len(used):08d}", "name": "新会员",
                                                     "created_at": ts}))
            else:
                m = rng.choice(graph.members)
                uid = m.user_id or ""
                out.append({**_identify(0, ts, b, uid, {"tier": "gold"}), "_merges": (b.anonymous_id, uid)})
            out += [_track(0, ts, b, uid) for _ in range(length - 2)]
        sessions[kind] += 1
        return out

    while n < events:
        while len(open_sessions) < 200:
            open_sessions.append(start())
        i = rng.randrange(len(open_sessions))
        s = open_sessions[i]
        m = s.pop(0)
        pair = m.pop("_merges", None)
        if pair:
            merges.append(pair)
        m["messageId"] = f"bi-{n:012d}"
        m["timestamp"] = stamp()
        messages.append(m)
        channel_of.append(_channel(m))
        n += 1
        if not s:
            open_sessions[i] = open_sessions[-1]
            open_sessions.pop()
    return Traffic(messages, sessions, merges, channel_of)


def _channel(m: dict[str, Any]) -> str:
    ctx = m["context"]
    return "miniprogram" if "miniprogram" in ctx else "app" if "app" in ctx else "web"
