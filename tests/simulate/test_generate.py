"""The simulated brand: reproducible, valid for the tracking API, and shaped as promised."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from siyu.collect.wire import TYPES
from siyu.simulate import CHANNELS, SimConfig, SimEvent, Simulator, generate
from tests.simulate.messages import JUNK, identifiers

END = date(2026, 3, 1)
SMALL = SimConfig(people=200, days=14, seed=42, end_date=END)
ECOMMERCE = {"Products Searched", "Product List Viewed", "Product Viewed", "Product Added", "Product Removed",
             "Cart Viewed", "Checkout Started", "Payment Info Entered", "Order Completed", "Coupon Applied",
             "Signed Up", "Signed In", "Product Shared"}


def encoded(config: SimConfig) -> list[tuple[str, bytes, str]]:
    return [(e.channel, msgspec.json.encode(e.message), e.person) for e in generate(config)]


class Run:
    def __init__(self, config: SimConfig) -> None:
        self.sim = Simulator(config)
        self.events: list[SimEvent] = list(self.sim.events())
        self.summary = self.sim.summary()
        self.truth_ids = set(self.sim.identifiers())

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [e.message for e in self.events if channel is None or e.channel == channel]


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(SimConfig(people=600, days=28, seed=7, end_date=END))


def test_same_seed_and_end_date_give_identical_messages() -> None:
    first = encoded(SMALL)
    assert len(first) > 1000
    assert encoded(SMALL) == first


def test_another_seed_or_end_date_gives_other_messages() -> None:
    base = encoded(SMALL)
    other = encoded(SimConfig(people=200, days=14, seed=43, end_date=END))
    assert other != base
    assert not {m for _, m, _ in base} & {m for _, m, _ in other}
    assert not {msgspec.json.decode(m)["messageId"] for _, m, _ in base} & {
        msgspec.json.decode(m)["messageId"] for _, m, _ in other}
    later = [msgspec.json.decode(m) for _, m, _ in encoded(SimConfig(people=200, days=14, seed=42,
                                                                      end_date=date(2026, 3, 2)))]
    assert later[0]["timestamp"] > msgspec.json.decode(base[0][1])["timestamp"]


def test_every_message_is_valid_for_the_tracking_api(run: Run) -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    end = datetime(2026, 3, 1, tzinfo=UTC)
    ids = set()
    for ev in run.events:
        m = ev.message
        assert ev.channel in CHANNELS
        assert m["type"] in TYPES
        assert m.get("userId") or m.get("anonymousId")
        if m["type"] == "track":
            assert m["event"].strip()
        if m["type"] == "alias":
            assert m["previousId"] and m["userId"]
        assert 0 < len(m["messageId"]) < 100
        ids.add(m["messageId"])
        assert len(msgspec.json.encode(m)) < 32 * 1024
        assert m["timestamp"].endswith("Z")
        assert start <= datetime.fromisoformat(m["timestamp"]) < end
        assert "sentAt" not in m
    assert len(ids) == len(run.events), "messageIds repeat"


def test_the_three_channels_and_segment_ecommerce_names(run: Run) -> None:
    s = run.summary
    assert set(s["events_by_channel"]) == set(CHANNELS)
    assert all(n > 1000 for n in s["events_by_channel"].values())
    names = {m.get("event") for m in run.messages()}
    assert names >= ECOMMERCE | {"Application Opened", "Group Buy Opened", "Group Buy Joined",
                                 "Push Notification Opened", "Order Refunded"}
    assert {m["type"] for m in run.messages()} == {"track", "identify", "page", "screen", "alias"}
    assert {m["type"] for m in run.messages("app")} >= {"screen", "track", "identify"}
    orders = [m["properties"] for m in run.messages() if m.get("event") == "Order Completed"]
    assert len(orders) == s["orders"] > 50
    for p in orders:
        assert p["currency"] == "CNY" and p["order_id"]
        assert isinstance(p["total_fen"], int) and round(p["total"] * 100) == p["total_fen"]
        assert p["products"] and all({"product_id", "sku", "price", "quantity"} <= set(x) for x in p["products"])
    assert sum(p["total_fen"] for p in orders) == s["revenue_fen"]


def test_miniprogram_traffic_has_scenes_shares_and_openids(run: Run) -> None:
    mp = run.messages("miniprogram")
    assert all(isinstance(m["context"]["miniprogram"]["scene"], int) for m in mp)
    assert all(m["context"]["externalIds"][0]["type"] == "wechat_openid" for m in mp)
    opened = [m for m in mp if m.get("event") == "Application Opened"]
    scenes = {m["properties"]["scene"] for m in opened}
    assert {1007, 1008, 1044, 1089, 1001} <= scenes
    by_share = [m for m in opened if m["properties"]["scene"] in (1007, 1008, 1044)]
    assert len(by_share) > len(opened) * 0.2
    assert all("share_id" in m["properties"] or "group_buy_id" in m["properties"] for m in by_share)
    joined = [m for m in mp if m.get("event") == "Group Buy Joined"]
    assert joined and all(m["context"]["miniprogram"]["scene"] in (1008, 1044) for m in joined)


def test_website_traffic_comes_from_search_with_utm(run: Run) -> None:
    web = run.messages("web")
    pages = [m for m in web if m["type"] == "page"]
    assert all(m["context"]["page"]["url"].startswith("https://") for m in pages)
    tagged = [m for m in pages if "utm_source=" in m["context"]["page"]["url"]]
    assert len(tagged) > 50
    for m in tagged:
        campaign = m["context"]["campaign"]
        assert f"utm_source={campaign['source']}" in m["context"]["page"]["search"]
    sources = {m["context"]["campaign"]["source"] for m in tagged}
    assert {"baidu", "bing", "xiaohongshu", "zhihu"} <= sources
    referrers = {m["context"]["page"]["referrer"] for m in pages}
    assert "https://www.baidu.com/" in referrers and "https://www.zhihu.com/" in referrers


def test_app_members_come_back_often(run: Run) -> None:
    assert all(m["context"]["device"]["id"] for m in run.messages("app"))
    opens: dict[str, dict[str, int]] = {ch: defaultdict(int) for ch in ("app", "miniprogram")}
    for e in run.events:
        if e.message.get("event") == "Application Opened":
            opens[e.channel][e.person] += 1
    per_person = {ch: sum(o.values()) / len(o) for ch, o in opens.items()}
    assert per_person["app"] > 3 and per_person["app"] > per_person["miniprogram"]
    assert max(opens["app"].values()) >= 10


def test_anonymous_browsing_is_later_identified(run: Run) -> None:
    anon_first: dict[tuple[str, str], int] = {}
    joined = set()
    for i, e in enumerate(run.events):
        m = e.message
        if "userId" not in m:
            anon_first.setdefault((e.person, m["anonymousId"]), i)
        elif m["type"] == "identify" and (e.person, m["anonymousId"]) in anon_first:
            joined.add(e.person)
    assert len(joined) > 50
    assert run.summary["anonymous_then_identified_people"] >= len(joined) * 0.8


def per_channel_ids(run: Run) -> dict[str, dict[str, set[tuple[str, str]]]]:
    out: dict[str, dict[str, set[tuple[str, str]]]] = defaultdict(lambda: defaultdict(set))
    for e in run.events:
        out[e.person][e.channel] |= identifiers(e.message)
    return out


def test_people_on_two_or_three_channels_are_linked_by_unionid_or_phone(run: Run) -> None:
    linked: dict[str, set[str]] = defaultdict(set)
    cross = three = unlinked = 0
    for person, channels in per_channel_ids(run).items():
        if len(channels) < 2:
            continue
        cross += 1
        three += len(channels) == 3
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for ids in channels.values():
            for ident in ids:
                seen[ident] += 1
        shared = {(k, v) for (k, v), n in seen.items() if n > 1 and k not in ("anonymous_id", "device_id")}
        for kind, _ in shared:
            linked[kind].add(person)
        # a channel holding none of the shared identifiers cannot be linked from the data
        unlinked += not all(ids & shared for ids in channels.values())
    only = (linked["wechat_unionid"] | linked["phone"]) - linked["user_id"]
    assert len(linked["wechat_unionid"]) > 5 and len(linked["phone"]) > 20 and len(only) > 5
    assert three > 5
    assert cross == run.summary["cross_channel_people"]
    assert run.summary["cross_channel_linked_only_by_unionid_or_phone"] == len(only)
    # most are linkable from what the channels sent; the rest never logged in on one of their channels
    assert 0 < run.summary["cross_channel_unlinkable_people"] < cross * 0.3
    assert unlinked <= run.summary["cross_channel_unlinkable_people"] + 3


def test_hard_identity_cases_are_present(run: Run) -> None:
    msgs = run.messages()
    junk = [m for m in msgs if m.get("anonymousId") in JUNK]
    assert junk and all(m.get("userId") for m in junk)
    assert len(junk) == run.summary["junk_anonymous_id_messages"]
    assert sum(m["type"] == "alias" for m in msgs) == run.summary["alias_calls"] > 0
    phones = [m["traits"]["phone"] for m in msgs if "phone" in m.get("traits", {})]
    assert any(p.startswith("+86") and " " not in p for p in phones)
    assert any(" " in p or not p.startswith("+") for p in phones)
    device_people: dict[str, set[str]] = defaultdict(set)
    for e in run.events:
        if e.channel == "app":
            device_people[e.message["context"]["device"]["id"]].add(e.person)
    shared = [people for people in device_people.values() if len(people) > 1]
    assert shared and all(len(p) == 2 for p in shared)


def test_truth_identifiers_are_exactly_what_the_messages_reveal(run: Run) -> None:
    from_messages = {(kind, value, e.person) for e in run.events for kind, value in identifiers(e.message)}
    assert from_messages == run.truth_ids
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, value, person in run.truth_ids:
        owners[(kind, value)].add(person)
    # Only the family tablets' device id and install id belong to two people.
    assert {k for k, v in owners.items() if len(v) > 1 and k[0] not in ("device_id", "anonymous_id")} == set()


def test_output_does_not_depend_on_hash_randomisation() -> None:
    """Nothing iterates a set or dict whose order depends on PYTHONHASHSEED."""
    import os
    import subprocess
    import sys

    code = ("import hashlib, msgspec; from datetime import date; from siyu.simulate import SimConfig, Simulator; "
            "s = Simulator(SimConfig(people=150, days=10, seed=9, end_date=date(2026, 3, 1))); h = hashlib.sha256(); "
            "[h.update(msgspec.json.encode([e.channel, e.person, e.message])) for e in s.events()]; "
            "h.update(repr(s.identifiers()).encode()); h.update(msgspec.json.encode(s.summary())); "
            "print(h.hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(n)},
                              capture_output=True, text=True, check=True).stdout for n in (1, 2)}
    assert len(digests) == 1
