"""The simulated population: who each person is, which channels they use and how, and when.

Every person gets a brand account id, an E.164 phone and WeChat ids; which of them a channel ever sees
depends on the channel plan (``mode`` and ``login``). People who use two or three channels are always
linkable by something the channels share (the account id, the UnionID or the phone), and a documented
share are linkable only by the UnionID or the phone. Hard cases for identity resolution:

- family tablets: two people log in on one APP install (same device id and anonymousId);
- buggy clients: once logged in, their messages carry a junk anonymousId ("undefined", "null", "0")
  next to a real userId;
- un-normalised phones ("138 0013 8000", "0086 13800138000") and mixed-case emails.
"""

from __future__ import annotations

import math
import random

from siyu.simulate import brand
from siyu.simulate.model import CHANNELS, ChannelPlan, Person, SimChannel, SimConfig, Weighted

PRIMARY = Weighted(CHANNELS, [45, 30, 25])
EXISTING_SHARE = 0.35  # customers from before the window
TWO_CHANNELS, THREE_CHANNELS = 0.22, 0.08
HAS_UNIONID = 0.9
BUGGY_SHARE = 0.015
SHARED_DEVICE_SHARE = 0.01  # of APP users, in pairs
# sessions per active day (median) and lifetime in days (mean), per channel
RATE = {"miniprogram": 0.06, "web": 0.045, "app": 0.17}
LIFETIME = {"miniprogram": 35.0, "web": 25.0, "app": 50.0}
PHONE_STYLE = Weighted(range(5), [70, 12, 8, 5, 5])  # see format_phone
PHONE_PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "158", "159", "177", "180",
                  "186", "187", "188", "189", "199"]
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def uuid4(rng: random.Random, upper: bool = False) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic, unlike uuid.uuid4)."""
    v = rng.getrandbits(128)
    v = (v & ~(0xF << 76)) | (0x4 << 76)
    v = (v & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{v:032x}"
    s = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return s.upper() if upper else s


def wechat_id(rng: random.Random) -> str:
    """An OpenID / UnionID lookalike: 28 characters starting with "o"."""
    return "o" + "".join(rng.choices(_ALPHABET, k=27))


def format_phone(e164: str, style: int) -> str:
    """The phone as a client sends it; style 0 is E.164, the others need normalising."""
    n = e164.removeprefix("+86")
    if style == 1:
        return n
    if style == 2:
        return f"{n[:3]} {n[3:7]} {n[7:]}"
    if style == 3:
        return f"+86 {n[:3]}-{n[3:7]}-{n[7:]}"
    if style == 4:
        return f"0086 {n}"
    return e164


def _session_days(rng: random.Random, first: int, days: int, rate: float, lifetime: float) -> list[int]:
    last = min(days - 1, first + int(rng.expovariate(1.0 / lifetime))) if lifetime > 0 else first
    out = [first]
    p = min(0.95, rate)
    day = first
    while True:
        day += 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))
        if day > last:
            return out
        out.append(day)


def _channels(rng: random.Random) -> list[SimChannel]:
    primary = PRIMARY.pick(rng)
    others = [c for c in CHANNELS if c != primary]
    r = rng.random()
    if r < THREE_CHANNELS:
        return [primary, *others]
    if r < THREE_CHANNELS + TWO_CHANNELS:
        return [primary, rng.choice(others)]
    return [primary]


def _mode(rng: random.Random, ch: SimChannel, unionid: bool, email: bool, multi: bool) -> tuple[str, str]:
    r = rng.random()
    if ch == "miniprogram":
        return ("member", "phone") if r < 0.55 else ("wechat", "wechat")
    if ch == "app":
        if r < 0.08 and not multi:
            return "anonymous", "phone"
        return "member", ("wechat" if unionid and rng.random() < 0.4 else "phone")
    if r < 0.45 and not multi:
        return "anonymous", "phone"
    if r < 0.65:
        return "guest", ("email" if email and rng.random() < 0.5 else "phone")
    m = rng.random()
    login = "wechat" if unionid and m < 0.15 else "email" if email and m < 0.45 else "phone"
    return "member", login


def link_kinds(person: Person, plan: ChannelPlan) -> set[str]:
    """The kinds of identifier this channel plan reveals (used to keep multi-channel people linkable)."""
    if plan.mode == "anonymous":
        return set()
    kinds: set[str] = set()
    if plan.mode == "member":
        kinds.add("user_id")
    if plan.login in ("phone", "email") and plan.mode != "wechat":
        kinds.add(plan.login)
    if person.unionid and (plan.login == "wechat" or plan.channel == "miniprogram"):
        kinds.add("wechat_unionid")
    return kinds


def _connected(person: Person) -> bool:
    plans = list(person.plans.values())
    reached = [plans[0]]
    rest = plans[1:]
    while rest:
        known = set().union(*(link_kinds(person, p) for p in reached))
        nxt = [p for p in rest if link_kinds(person, p) & known]
        if not nxt:
            return False
        reached += nxt
        rest = [p for p in rest if p not in nxt]
    return True


def _person(rng: random.Random, i: int, config: SimConfig) -> Person:
    existing = rng.random() < EXISTING_SHARE
    channels = _channels(rng)
    has_email = rng.random() < (0.7 if "web" in channels else 0.2)
    unionid = wechat_id(rng) if rng.random() < HAS_UNIONID else None
    email = f"{rng.choice(brand.PINYIN)}{rng.choice(brand.PINYIN)}{i}@{rng.choice(brand.EMAIL_HOSTS)}"
    sent = email if rng.random() < 0.85 else email.split("@")[0].title() + "@" + email.split("@")[1].upper()
    person = Person(
        pid=f"p{i:06d}", index=i, existing=existing,
        user_id=f"M{20_000_000 + i * 37 + rng.randrange(37):09d}",
        phone=f"+86{rng.choice(PHONE_PREFIXES)}{(i * 7_654_321 + config.seed) % 100_000_000:08d}",
        email=email if has_email else None, email_sent=sent if has_email else None, unionid=unionid,
        name=rng.choice(brand.SURNAMES) + rng.choice(brand.GIVEN), plans={},
        mp_openid=wechat_id(rng), app_openid=wechat_id(rng), web_openid=wechat_id(rng),
    )
    multi = len(channels) > 1
    first = rng.randrange(min(7, config.days)) if existing else rng.randrange(config.days)
    for n, ch in enumerate(channels):
        mode, login = _mode(rng, ch, unionid is not None, has_email, multi)
        start = first if n == 0 else first + int(rng.expovariate(1 / 12))
        if start >= config.days:
            continue
        rate = RATE[ch] * math.exp(rng.gauss(0, 0.7))
        lifetime = LIFETIME[ch] * (1.6 if existing else 1.0)
        if ch == "web" and not existing and rng.random() < 0.4:
            lifetime = 0.0  # one visit from a search, never back
        sessions = _session_days(rng, start, config.days, rate, lifetime)
        if existing and mode != "guest":
            login_session = -1
        elif mode == "wechat" or rng.random() < (0.75 if ch == "app" or multi else 0.45):
            login_session = 0
        else:
            login_session = 1 if multi else rng.randint(1, 3)
        style = PHONE_STYLE.pick(rng)
        person.plans[ch] = ChannelPlan(ch, mode, login, start, sessions, login_session, style,
                                       uuid4(rng, upper=ch == "app"), identified=login_session == -1)
    if len(person.plans) > 1 and not _connected(person):
        for plan in person.plans.values():
            plan.mode, plan.login = "member", "phone"
    if "app" in person.plans:
        make, model, kind, os_name, versions = rng.choice(brand.DEVICES)
        device_id = uuid4(rng, upper=True) if kind == "ios" else f"{rng.getrandbits(64):016x}"
        person.device = {"id": device_id, "manufacturer": make, "model": model, "type": kind}
        person.os = {"name": os_name, "version": rng.choice(versions)}
    person.buggy = rng.random() < BUGGY_SHARE and ("app" in person.plans or "miniprogram" in person.plans)
    return person


def _share_tablets(rng: random.Random, people: list[Person]) -> None:
    """Pair up a few APP users on one family tablet: same device id, same install (anonymousId)."""
    app_users = [p for p in people if "app" in p.plans and not p.buggy]
    pairs = max(1, int(len(app_users) * SHARED_DEVICE_SHARE / 2)) if len(app_users) >= 2 else 0
    chosen = rng.sample(app_users, pairs * 2)
    make, model, kind, os_name, versions = brand.TABLET
    for a, b in zip(chosen[::2], chosen[1::2], strict=True):
        device = {"id": uuid4(rng, upper=True), "manufacturer": make, "model": model, "type": kind}
        install = uuid4(rng, upper=True)
        for p in (a, b):
            p.device, p.os, p.shared_device = device, {"name": os_name, "version": versions[0]}, True
            plan = p.plans["app"]
            plan.mode, plan.anonymous_id, plan.login_session, plan.identified = "member", install, -1, True


def build_people(config: SimConfig, rng: random.Random) -> list[Person]:
    people = [_person(rng, i, config) for i in range(config.people)]
    _share_tablets(rng, people)
    return [p for p in people if p.plans]
