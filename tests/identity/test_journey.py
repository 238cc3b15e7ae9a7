"""The journey of issue 3: one shopper across mini-program, website and APP becomes one person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, make_settings, open_api
from tests.identity.journeys import identifiers, msg, person, person_id, send

APPID = "wx8f2a1c"
OPENID = "oAbC123-openid"
UNIONID = "uUnion-42"


def test_the_cross_channel_journey_is_one_person(api: Api) -> None:
    ext = [{"id": OPENID, "type": "wechat_openid", "collection": APPID}]
    # anonymous mini-program browsing with an OpenID
    send(api, "miniprogram",
         msg("track", anonymousId="mp-anon-1", context={"externalIds": ext},
             timestamp="2026-11-01T10:00:00Z"),
         msg("page", anonymousId="mp-anon-1", name="Home", context={"externalIds": ext},
             timestamp="2026-11-01T10:01:00Z"))
    # phone login in the mini-program (the brand's user id, the phone, the UnionID)
    send(api, "miniprogram",
         msg("identify", anonymousId="mp-anon-1", userId="user-7",
             traits={"phone": "138 0013 8000", "wechat_unionid": UNIONID, "name": "林小姐", "tier": "silver"},
             context={"externalIds": ext}, timestamp="2026-11-01T10:05:00Z"))
    # anonymous website visits, then identify by user id
    send(api, "web",
         msg("page", anonymousId="web-anon-9", name="Product", timestamp="2026-11-03T12:00:00Z"),
         msg("track", anonymousId="web-anon-9", event="Product Viewed", timestamp="2026-11-03T12:01:00Z"))
    send(api, "web", msg("identify", anonymousId="web-anon-9", userId="user-7",
                         traits={"email": "Lin@Example.COM", "tier": "gold"}, timestamp="2026-11-03T12:02:00Z"))
    # the APP: a device id, anonymous, then the same UnionID from a WeChat login in the APP
    device = {"id": "ios-device-1", "type": "ios"}
    send(api, "app",
         msg("screen", anonymousId="app-anon-3", name="Home", context={"device": device},
             timestamp="2026-11-05T08:00:00Z"),
         msg("identify", anonymousId="app-anon-3", traits={"wechat_unionid": UNIONID},
             context={"device": device}, timestamp="2026-11-05T08:01:00Z"),
         msg("track", anonymousId="app-anon-3", event="Order Completed", context={"device": device},
             properties={"revenue": 199}, timestamp="2026-11-05T08:02:00Z"))
    api.drain()

    p = person(api, "user_id", "user-7")
    assert p is not None
    assert identifiers(p) == {
        ("user_id", "user-7"), ("wechat_unionid", UNIONID), ("phone", "+8613800138000"),
        ("email", "lin@example.com"), ("wechat_openid", f"{APPID}:{OPENID}"), ("device_id", "ios-device-1"),
        ("anonymous_id", "mp-anon-1"), ("anonymous_id", "web-anon-9"), ("anonymous_id", "app-anon-3"),
    }
    assert {c["channel"] for c in p["channels"]} == {"miniprogram", "web", "app"}
    first = {c["channel"]: c["first_seen"] for c in p["channels"]}
    assert first["miniprogram"].startswith("2026-11-01T10:00:00")
    assert first["app"].startswith("2026-11-05T08:00:00")
    assert p["traits"]["tier"] == "gold"  # the newest value wins
    assert p["traits"]["name"] == "林小姐"
    # every identifier of every kind finds the same person
    for kind, value in [("phone", "13800138000"), ("phone", "+86 138-0013-8000"), ("email", "lin@example.com"),
                        ("wechat_unionid", UNIONID), ("wechat_openid", f"{APPID}:{OPENID}"),
                        ("device_id", "ios-device-1"), ("anonymous_id", "web-anon-9")]:
        assert person_id(api, kind, value) == p["id"], (kind, value)
    # the events of all three channels carry the person in the event store
    rows = api.sql("SELECT channel, count(*), count(DISTINCT person_id), min(person_id) FROM events "
                   "GROUP BY channel ORDER BY channel")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("app", 3, 1, p["id"]), ("miniprogram", 3, 1, p["id"]), ("web", 3, 1, p["id"])]
    # the timeline pages through all nine events, newest first
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        url = f"/api/v1/persons/{p['id']}/timeline?limit=4" + (f"&before={cursor}" if cursor else "")
        r = api.client.get(url, headers=api.admin_headers())
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9
    stamps = [str(e["timestamp"]) for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert seen[0]["event"] == "Order Completed" and seen[0]["channel"] == "app"


def test_two_user_ids_sharing_a_device_or_phone_stay_two_people_with_a_conflict(api: Api) -> None:
    tablet = {"id": "family-tablet", "type": "android"}
    send(api, "app",
         msg("identify", anonymousId="tablet-anon", userId="mum", context={"device": tablet}),
         msg("track", anonymousId="tablet-anon", userId="mum", context={"device": tablet}),
         msg("identify", anonymousId="tablet-anon", userId="son", context={"device": tablet}),
         msg("track", anonymousId="tablet-anon", userId="son", context={"device": tablet}))
    send(api, "web",
         msg("identify", userId="alice", traits={"phone": "13900001111"}),
         msg("identify", userId="bob", traits={"phone": "139-0000-1111"}))
    api.drain()
    mum, son = person_id(api, "user_id", "mum"), person_id(api, "user_id", "son")
    alice, bob = person_id(api, "user_id", "alice"), person_id(api, "user_id", "bob")
    assert len({mum, son, alice, bob}) == 4
    assert person_id(api, "device_id", "family-tablet") == mum  # first come, kept
    assert person_id(api, "phone", "13900001111") == alice
    r = api.client.get("/api/v1/identity/conflicts", headers=api.admin_headers())
    assert r.status_code == 200
    pairs = {frozenset((c["person_id"], c["other_person_id"])) for c in r.json()["items"]
             if c["reason"] == "identified_persons"}
    assert frozenset((mum, son)) in pairs and frozenset((alice, bob)) in pairs
    # each user's own events stay theirs
    rows = api.sql("SELECT user_id, count(DISTINCT person_id) AS n, min(person_id) FROM events "
                   "WHERE user_id IN ('mum', 'son') GROUP BY user_id ORDER BY user_id")
    assert [(r[0], r[1], r[2]) for r in rows] == [("mum", 1, mum), ("son", 1, son)]


def test_parts_known_by_complementary_identifiers_join_at_the_login(api: Api) -> None:
    """A mini-program visitor whose wx.login revealed a UnionID, and a web guest who left a phone, are both
    identified before anything links them; the member login that carries the user id, the UnionID and the
    phone joins them (nothing they hold contradicts), while two guests' different phones on one browser
    stay two people with a conflict."""
    ext = [{"id": OPENID, "type": "wechat_openid", "collection": APPID}]
    send(api, "miniprogram",
         msg("identify", anonymousId="mp-anon-5", traits={"wechat_unionid": UNIONID, "wechat_openid": OPENID,
                                                         "wechat_appid": APPID}, context={"externalIds": ext}))
    send(api, "web", msg("identify", anonymousId="web-anon-5", traits={"phone": "13700137000"}))
    api.drain()
    assert person_id(api, "wechat_unionid", UNIONID) != person_id(api, "phone", "13700137000")
    send(api, "miniprogram",
         msg("identify", anonymousId="mp-anon-5", userId="member-5",
             traits={"wechat_unionid": UNIONID, "phone": "137 0013 7000"}, context={"externalIds": ext}))
    send(api, "web",
         msg("identify", anonymousId="shared-browser", traits={"phone": "13600136000"}),
         msg("identify", anonymousId="other-browser", traits={"phone": "13500135000"}),
         msg("identify", anonymousId="shared-browser", traits={"phone": "13500135000"}))
    api.drain()
    p = person(api, "user_id", "member-5")
    assert p is not None
    assert identifiers(p) == {
        ("user_id", "member-5"), ("wechat_unionid", UNIONID), ("phone", "+8613700137000"),
        ("wechat_openid", f"{APPID}:{OPENID}"), ("anonymous_id", "mp-anon-5"), ("anonymous_id", "web-anon-5")}
    first, second = person_id(api, "phone", "13600136000"), person_id(api, "phone", "13500135000")
    assert first != second and person_id(api, "anonymous_id", "shared-browser") == first
    r = api.client.get("/api/v1/identity/conflicts", headers=api.admin_headers())
    pairs = {frozenset((c["person_id"], c["other_person_id"])) for c in r.json()["items"]
             if c["reason"] == "identified_persons"}
    assert pairs == {frozenset((first, second))}


def test_junk_ids_never_join_anyone(api: Api) -> None:
    for i, junk in enumerate(["undefined", "null", "0", "-1", "00000000-0000-0000-0000-000000000000", "guest",
                              "[object Object]", "NaN"]):
        send(api, "web", msg("identify", userId=f"real-{i}", anonymousId=junk,
                             traits={"email": "none", "phone": "0"}, context={"device": {"id": junk}}))
    api.drain()
    ids = {person_id(api, "user_id", f"real-{i}") for i in range(8)}
    assert len(ids) == 8 and None not in ids
    for junk in ["undefined", "null", "0", "guest"]:
        assert person(api, "anonymous_id", junk) is None
        assert person(api, "device_id", junk) is None
    for i in range(8):
        p = person(api, "user_id", f"real-{i}")
        assert p is not None and identifiers(p) == {("user_id", f"real-{i}")}


def test_an_unmerge_restores_exactly_the_state_before_the_merge(api: Api) -> None:
    send(api, "web",
         msg("track", anonymousId="browser-1", timestamp="2026-11-02T09:00:00Z"),
         msg("identify", anonymousId="browser-1", traits={"city": "杭州"}, timestamp="2026-11-02T09:01:00Z"))
    send(api, "app", msg("identify", userId="u-1", traits={"city": "上海", "tier": "gold"},
                         timestamp="2026-11-02T10:00:00Z"))
    api.drain()
    anon, known = person(api, "anonymous_id", "browser-1"), person(api, "user_id", "u-1")
    assert anon is not None and known is not None and anon["id"] != known["id"]
    before = {"anon": anon, "known": known,
              "events": api.sql("SELECT message_id, person_id FROM events ORDER BY message_id")}

    link = msg("identify", anonymousId="browser-1", userId="u-1", timestamp="2026-11-02T11:00:00Z")
    send(api, "web", link)
    api.drain()
    merged = person(api, "anonymous_id", "browser-1")
    assert merged is not None and merged["id"] == known["id"]
    assert identifiers(merged) == identifiers(anon) | identifiers(known)
    assert {c["channel"] for c in merged["channels"]} == {"web", "app"}
    r = api.client.get(f"/api/v1/persons/{known['id']}/identity-history", headers=api.admin_headers())
    merges = [m for m in r.json() if m["action"] == "merge"]
    assert len(merges) == 1 and merges[0]["from_person"] == anon["id"] and merges[0]["trigger"] == "identify"
    # the merged-away id still answers, as the surviving person
    assert api.client.get(f"/api/v1/persons/{anon['id']}", headers=api.admin_headers()).json()["id"] == known["id"]

    r = api.client.post(f"/api/v1/identity/merges/{merges[0]['id']}/undo", json={"reason": "wrong merge"},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    again = api.client.post(f"/api/v1/identity/merges/{merges[0]['id']}/undo", headers=api.admin_headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "merge_already_undone"
    api.drain()  # copies the moved links to the event store
    after_anon, after_known = person(api, "anonymous_id", "browser-1"), person(api, "user_id", "u-1")
    assert after_anon is not None and after_known is not None
    for b, a in ((anon, after_anon), (known, after_known)):
        assert a["id"] == b["id"]
        assert identifiers(a) == identifiers(b)
        assert a["traits"] == b["traits"]
    # the linking identify itself carries the user id, so it stays the user's (and with it, the web channel)
    assert after_anon["channels"] == anon["channels"]
    assert {c["channel"] for c in after_known["channels"]} == {"app", "web"}
    events = dict(api.sql("SELECT message_id, person_id FROM events ORDER BY message_id"))  # type: ignore[arg-type]
    assert events.pop(link["messageId"]) == known["id"]
    assert events == dict(before["events"])  # type: ignore[arg-type]

    # the two stay apart afterwards, whatever links them again, until an operator merges them
    send(api, "web", msg("track", anonymousId="browser-1", userId="u-1"),
         msg("alias", previousId="browser-1", userId="u-1"))
    api.drain()
    assert person_id(api, "anonymous_id", "browser-1") == anon["id"]
    assert person_id(api, "user_id", "u-1") == known["id"]


def test_an_operator_merge_and_its_undo_leave_no_trace(api: Api) -> None:
    send(api, "web", msg("identify", userId="twin-a", traits={"phone": "13700001111", "city": "杭州"},
                         timestamp="2026-11-02T09:00:00Z"),
         msg("track", userId="twin-a", event="Product Viewed", timestamp="2026-11-02T09:01:00Z"))
    send(api, "app", msg("identify", userId="twin-b", traits={"email": "b@example.com", "city": "上海"},
                         timestamp="2026-11-02T10:00:00Z"),
         msg("screen", userId="twin-b", anonymousId="app-b", name="Home", timestamp="2026-11-02T10:01:00Z"))
    api.drain()
    a, b = person(api, "user_id", "twin-a"), person(api, "user_id", "twin-b")
    assert a is not None and b is not None
    events_before = api.sql("SELECT message_id, person_id FROM events ORDER BY message_id")

    r = api.client.post("/api/v1/identity/merges", headers=api.admin_headers(),
                        json={"into_person": a["id"], "from_person": b["id"], "reason": "same customer"})
    assert r.status_code == 201, r.text
    api.drain()
    merged = person(api, "email", "b@example.com")
    assert merged is not None and merged["id"] == a["id"]
    assert identifiers(merged) == identifiers(a) | identifiers(b)
    assert merged["traits"]["city"] == "上海"  # the newer observation wins
    assert {row[1] for row in api.sql("SELECT message_id, person_id FROM events")} == {a["id"]}

    r = api.client.post(f"/api/v1/identity/merges/{r.json()['id']}/undo", headers=api.admin_headers())
    assert r.status_code == 200, r.text
    api.drain()
    assert person(api, "user_id", "twin-a") == a
    assert person(api, "user_id", "twin-b") == b
    assert api.sql("SELECT message_id, person_id FROM events ORDER BY message_id") == events_before


@pytest.fixture(params=["duckdb", "chdb"])
def store_api(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The app on each event store: DuckDB, and ClickHouse's engine in process (chdb)."""
    url = f"chdb://{tmp_path / 'chdb'}" if request.param == "chdb" else ""
    with open_api(make_settings(tmp_path, database_url=database_url, warehouse_url=url)) as api:
        yield api


def test_events_known_only_by_another_identifier_get_their_person(store_api: Api) -> None:
    """An event whose anonymousId is junk and that has no userId, but carries a device id or a phone, belongs
    to the person of that identifier in the event store too, and follows it through a merge and its undo."""
    api = store_api
    device = {"id": "tv-box-77", "type": "android"}
    by_device = [msg("screen", anonymousId="0", name="Home", context={"device": device}),
                 msg("track", anonymousId="undefined", event="Product Viewed", context={"device": device})]
    by_phone = msg("identify", anonymousId="null", traits={"phone": "137 0000 2222", "city": "杭州"})
    by_openid = msg("track", anonymousId="0", event="Product Viewed",
                    context={"externalIds": [{"id": "oTV-1", "type": "wechat_openid", "collection": APPID}]})
    send(api, "app", *by_device, by_phone, by_openid)
    send(api, "web", msg("identify", userId="tv-owner", traits={"email": "owner@example.com"}))
    api.drain()
    tv, phone = person_id(api, "device_id", "tv-box-77"), person_id(api, "phone", "13700002222")
    openid, owner = person_id(api, "wechat_openid", f"{APPID}:oTV-1"), person_id(api, "user_id", "tv-owner")
    assert None not in (tv, phone, openid, owner) and len({tv, phone, openid, owner}) == 4

    def persons() -> dict[str, object]:
        return dict(api.sql("SELECT message_id, person_id FROM events WHERE user_id IS NULL"))  # type: ignore[arg-type]

    expected = {by_device[0]["messageId"]: tv, by_device[1]["messageId"]: tv, by_phone["messageId"]: phone,
                by_openid["messageId"]: openid}
    assert persons() == expected
    # the device's person is merged into the owner (the owner logs in on the box): its events follow
    send(api, "app", msg("identify", userId="tv-owner", context={"device": device}))
    api.drain()
    assert person_id(api, "device_id", "tv-box-77") == owner
    assert persons() == {**expected, by_device[0]["messageId"]: owner, by_device[1]["messageId"]: owner}
    r = api.client.get(f"/api/v1/persons/{owner}/timeline", headers=api.admin_headers())
    assert r.status_code == 200, r.text
    assert {e["message_id"] for e in r.json()["items"]} >= {m["messageId"] for m in by_device}
    # an unmerge takes them back
    history = api.client.get(f"/api/v1/persons/{owner}/identity-history", headers=api.admin_headers()).json()
    merge = next(m for m in history if m["action"] == "merge" and m["from_person"] == tv)
    r = api.client.post(f"/api/v1/identity/merges/{merge['id']}/undo", json={"reason": "shared box"},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    api.drain()
    assert persons() == expected


def test_a_changed_trait_keeps_its_older_values_in_the_history_and_the_profile_shows_the_newest(api: Api) -> None:
    """The newest observation wins by its time, not by its arrival: a late, older value goes into the history
    only. Values seen on an anonymous browser join the history and the profile when it is merged."""
    silver = msg("identify", userId="u-trait", traits={"tier": "silver", "city": "杭州"},
                 timestamp="2026-11-02T09:00:00Z")
    gold = msg("identify", userId="u-trait", traits={"tier": "gold"}, timestamp="2026-11-04T09:00:00Z")
    late = msg("identify", userId="u-trait", traits={"tier": "bronze"}, timestamp="2026-11-01T09:00:00Z")
    send(api, "web", silver)
    api.drain()
    send(api, "app", gold)
    api.drain()
    send(api, "web", late)  # sent last, observed first
    api.drain()
    p = person(api, "user_id", "u-trait")
    assert p is not None and p["traits"] == {"tier": "gold", "city": "杭州"}

    def history(key: str | None = None, limit: int = 100) -> list[tuple[str, object, str, str]]:
        query = f"?limit={limit}" + (f"&key={key}" if key else "")
        r = api.client.get(f"/api/v1/persons/{p['id']}/traits/history{query}", headers=api.admin_headers())
        assert r.status_code == 200, r.text
        return [(t["key"], t["value"], t["observed_at"][:19], t["message_id"]) for t in r.json()]

    assert history("tier") == [("tier", "gold", "2026-11-04T09:00:00", gold["messageId"]),
                               ("tier", "silver", "2026-11-02T09:00:00", silver["messageId"]),
                               ("tier", "bronze", "2026-11-01T09:00:00", late["messageId"])]
    assert history(limit=2) == [("tier", "gold", "2026-11-04T09:00:00", gold["messageId"]),
                                ("city", "杭州", "2026-11-02T09:00:00", silver["messageId"])]

    # a newer city seen on an anonymous browser, merged into the person by a later identify
    moved = msg("identify", anonymousId="b-trait", traits={"city": "上海"}, timestamp="2026-11-05T09:00:00Z")
    send(api, "web", moved, msg("identify", anonymousId="b-trait", userId="u-trait",
                                timestamp="2026-11-05T10:00:00Z"))
    api.drain()
    p = person(api, "user_id", "u-trait")
    assert p is not None and p["traits"] == {"tier": "gold", "city": "上海"}
    assert [v for _, v, _, _ in history("city")] == ["上海", "杭州"]
