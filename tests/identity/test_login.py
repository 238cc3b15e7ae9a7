"""The trusted login: a brand server asserts what it verified (a WeChat login's app id, OpenID and UnionID, a
phone checked by SMS) and gets the customer's person and a member token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.models import SigningKey
from siyu.identity.models import (
    Identifier,
    IdentifierChannel,
    IdentifierTrait,
    IdentityClock,
    IdentityConflict,
    IdentityMerge,
    Person,
    TraitChange,
)
from siyu.kit.clock import parse_iso
from tests.conftest import Api
from tests.identity.journeys import identifiers, msg, person, send

MINI = "wx-mini-01"  # the mini-program's app id
APP = "wx-app-02"  # the mobile APP's app id (WeChat Open Platform)
UNIONID = "oUnion-7788"


@pytest.fixture
def brand(api: Api) -> dict[str, str]:
    """The brand server's secret key: trusted logins only."""
    r = api.client.post("/api/v1/tokens", json={"role": "server", "name": "brand server",
                                                "scopes": ["identity:write"]}, headers=api.admin_headers())
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def login(api: Api, brand: dict[str, str], **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/v1/identity/login", json=body, headers=brand)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def me(api: Api, token: str) -> dict[str, Any]:
    r = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_wechat_login_returns_the_person_and_a_member_token(api: Api, brand: dict[str, str]) -> None:
    before = datetime.now(UTC)
    out = login(api, brand, app_id=MINI, openid="oMini-openid-1", unionid=UNIONID, phone="138 0013 8000",
                channel="miniprogram", traits={"nickname": "小林"})
    assert set(out) == {"person_id", "member_token", "expires_at", "merged"} and out["merged"] == 0
    ttl = (parse_iso(out["expires_at"].removesuffix("Z")) - before).total_seconds()
    assert api.runtime.settings.member_token_ttl_s - 5 < ttl <= api.runtime.settings.member_token_ttl_s + 5
    p = me(api, out["member_token"])
    assert p["id"] == out["person_id"]
    assert identifiers(p) == {("wechat_unionid", UNIONID), ("phone", "+8613800138000"),
                              ("wechat_openid", f"{MINI}:oMini-openid-1")}
    assert p["traits"] == {"nickname": "小林"}
    assert [c["channel"] for c in p["channels"]] == ["miniprogram"]
    # the same login again is the same person, and every identifier finds it
    assert login(api, brand, app_id=MINI, openid="oMini-openid-1", unionid=UNIONID)["person_id"] == p["id"]
    for kind, value in (("phone", "13800138000"), ("wechat_unionid", UNIONID),
                        ("wechat_openid", f"{MINI}:oMini-openid-1")):
        found = person(api, kind, value)
        assert found is not None and found["id"] == p["id"]


def test_one_unionid_across_apps_is_one_person_with_both_openids(api: Api, brand: dict[str, str]) -> None:
    first = login(api, brand, app_id=MINI, openid="oMini-openid-1", unionid=UNIONID, channel="miniprogram")
    second = login(api, brand, app_id=APP, openid="oApp-openid-9", unionid=UNIONID, channel="app")
    assert second["person_id"] == first["person_id"] and second["merged"] == 0
    p = me(api, second["member_token"])
    assert identifiers(p) == {("wechat_unionid", UNIONID), ("wechat_openid", f"{MINI}:oMini-openid-1"),
                              ("wechat_openid", f"{APP}:oApp-openid-9")}
    assert {c["channel"] for c in p["channels"]} == {"miniprogram", "app"}
    # either OpenID alone now finds the person; an OpenID is only ever compared within its own app
    assert login(api, brand, app_id=APP, openid="oApp-openid-9")["person_id"] == p["id"]
    stranger = login(api, brand, app_id="wx-other-03", openid="oMini-openid-1")
    assert stranger["person_id"] != p["id"]
    # a second UnionID for the same OpenID is another customer's: kept apart, recorded as a conflict
    other = login(api, brand, app_id=MINI, openid="oMini-openid-1", unionid="oUnion-other")
    assert other["person_id"] != p["id"]
    r = api.client.get("/api/v1/identity/conflicts", headers=api.admin_headers())
    assert {(c["identifier_kind"], frozenset((c["person_id"], c["other_person_id"])))
            for c in r.json()["items"]} == {("wechat_openid", frozenset((p["id"], other["person_id"])))}


def test_a_login_joins_the_anonymous_history_it_carries(api: Api, brand: dict[str, str]) -> None:
    # a first login adopts the anonymous browsing of the mini-program it came from
    send(api, "miniprogram",
         msg("page", anonymousId="mp-anon-1", name="Home", timestamp="2026-11-01T10:00:00Z"),
         msg("track", anonymousId="mp-anon-1", event="Product Viewed", timestamp="2026-11-01T10:01:00Z"))
    api.drain()
    anon = person(api, "anonymous_id", "mp-anon-1")
    assert anon is not None
    first = login(api, brand, app_id=MINI, openid="oMini-openid-1", unionid=UNIONID, anonymous_id="mp-anon-1",
                  channel="miniprogram")
    assert first["person_id"] == anon["id"]

    # later the same customer logs in on the website, which has its own anonymous history
    send(api, "web",
         msg("page", anonymousId="web-anon-2", name="Product", timestamp="2026-11-03T12:00:00Z"),
         msg("track", anonymousId="web-anon-2", event="Product Viewed", timestamp="2026-11-03T12:01:00Z"))
    api.drain()
    web = person(api, "anonymous_id", "web-anon-2")
    assert web is not None and web["id"] != anon["id"]
    second = login(api, brand, unionid=UNIONID, phone="13800138000", anonymous_id="web-anon-2", channel="web")
    assert second["person_id"] == anon["id"] and second["merged"] == 1
    p = me(api, second["member_token"])
    assert {("anonymous_id", "mp-anon-1"), ("anonymous_id", "web-anon-2")} <= identifiers(p)
    assert {c["channel"] for c in p["channels"]} == {"miniprogram", "web"}
    assert p["merged_from"] == [web["id"]]
    history = api.client.get(f"/api/v1/persons/{p['id']}/identity-history", headers=api.admin_headers()).json()
    assert [(h["action"], h["trigger"], h["from_person"]) for h in history] == [("merge", "login", web["id"])]
    assert history[0]["actor"].startswith("server:")
    # the events follow (once the worker copied the links to the event store), no event rewritten
    api.drain()
    rows = api.sql("SELECT anonymous_id, count(*), min(person_id), max(person_id) FROM events GROUP BY 1 ORDER BY 1")
    assert rows == [["mp-anon-1", 2, p["id"], p["id"]], ["web-anon-2", 2, p["id"], p["id"]]]
    timeline = api.client.get(f"/api/v1/persons/{p['id']}/timeline",
                              headers={"Authorization": f"Bearer {second['member_token']}"})
    assert len(timeline.json()["items"]) == 4


def _counts(api: Api) -> dict[str, int]:
    with api.runtime.db.session() as s:
        counts = {m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
                  for m in (Person, Identifier, IdentifierChannel, IdentifierTrait, TraitChange, IdentityMerge,
                            IdentityConflict, SigningKey)}
        counts["clock"] = int(s.scalar(select(IdentityClock.seq)) or 0)
    return counts


BAD_LOGINS: list[tuple[dict[str, Any], str, str | None]] = [
    ({"openid": "oMini-openid-1", "unionid": UNIONID}, "invalid_identifier", "wechat_openid"),  # no app_id
    ({"app_id": MINI, "openid": "oMini-openid-1", "phone": "12345"}, "invalid_identifier", "phone"),
    ({"unionid": UNIONID, "phone": "000-0000"}, "invalid_identifier", "phone"),
    ({"unionid": "undefined"}, "invalid_identifier", "wechat_unionid"),
    ({"email": "not-an-email", "user_id": "u-1"}, "invalid_identifier", "email"),
    ({}, "no_identifiers", None),
    ({"app_id": MINI, "traits": {"phone": "13800138000"}}, "no_identifiers", None),
    ({"phone": 13800138000}, "validation_error", None),
    ({"unionid": UNIONID, "channel": "tv"}, "validation_error", None),
]


def test_bad_logins_are_422_and_write_nothing(api: Api, brand: dict[str, str]) -> None:
    login(api, brand, user_id="someone-else", phone="13900000000")
    before = _counts(api)
    for body, code, kind in BAD_LOGINS:
        r = api.client.post("/api/v1/identity/login", json=body, headers=brand)
        assert r.status_code == 422, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == code and err["message"], (body, err)
        if kind is not None:
            assert err["details"] == {"kind": kind}, (body, err)
        assert "member_token" not in r.text
        assert _counts(api) == before, body
