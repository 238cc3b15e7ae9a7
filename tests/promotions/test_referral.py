"""Referral through the HTTP API: invite codes and links, binding, rewards on sign-up, first and every
purchase (exactly once, within caps), self-referral through linked identities refused, and the ledger."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from siyu.kit.clock import utcnow
from siyu.promotions.referral import rewards
from tests.orders.shop import Member, Shop

R = "/api/v1/promotions/referrals"


def coupon(shop: Shop, **kw: Any) -> str:
    body = {"name": "邀请券", "kind": "fixed", "amount_fen": 1000, "valid_days": 30, "per_member_limit": 5, **kw}
    return str(shop.admin("POST", "/api/v1/promotions/coupon-templates", body, status=201)["id"])


def configure(shop: Shop, **kw: Any) -> Any:
    return shop.admin("PUT", f"{R}/program", {"landing_url": "https://brand.example/invite?from=share",
                                               "miniprogram_page": "pages/invite/index", **kw})


def joined(m: Member, channel: str = "miniprogram") -> Any:
    r = m.call("POST", "/api/v1/loyalty/members", {"channel": channel})
    assert r.status_code in (200, 201), r.text
    return r.json()


def points(m: Member) -> int:
    return int(m.call("GET", "/api/v1/loyalty/me").json()["points"])


def invite_code(m: Member) -> str:
    r = m.call("POST", f"{R}/invite", {})
    assert r.status_code == 200, r.text
    return str(r.json()["code"])


def bind(m: Member, code: str, status: int = 201) -> Any:
    r = m.call("POST", f"{R}/bind", {"code": code, "channel": "miniprogram"})
    assert r.status_code == status, r.text
    return r.json()


def buy(m: Member) -> None:
    m.pay_online(m.order("app", ("SCARF-RED", 1)))


def test_invite_bind_and_rewards_on_every_trigger(shop: Shop) -> None:
    gift = coupon(shop)
    configure(shop, rewards={"signup": {"referrer": {"points": 100}, "invitee": {"coupon_template_id": gift}},
                             "first_purchase": {"referrer": {"points": 200}, "invitee": {"points": 50}},
                             "every_purchase": {"referrer": {"points": 10}}})
    lin = shop.member("13800140001")
    joined(lin)
    assert lin.call("POST", f"{R}/invite", {}).status_code == 200
    inv = lin.call("POST", f"{R}/invite", {}).json()
    assert inv == lin.call("POST", f"{R}/invite", {}).json()  # one code per member, the same ever after
    code = inv["code"]
    assert len(code) == 8 and not set(code) & set("01OIL")
    url = urlsplit(inv["url"])
    assert parse_qs(url.query) == {"from": ["share"], "ref": [code], "utm_source": ["referral"],
                                   "utm_medium": ["invite"], "utm_campaign": ["referral"], "utm_content": [code]}
    assert inv["miniprogram_path"] == f"pages/invite/index?ref={code}" and inv["scene"] == f"r={code}"
    assert shop.api.client.get(inv["short_path"], follow_redirects=False).headers["location"] == inv["url"]
    assert shop.api.client.get(f"/api/v1/promotions/links/{inv['link_id']}/qr.png",
                               headers={"Authorization": f"Bearer {lin.token}"}).status_code == 200

    wang = shop.member("13800140002")
    first = bind(wang, code.lower())  # codes are read case-insensitively
    assert first["referrer_person_id"] == lin.person_id and first["invitee_person_id"] == wang.person_id
    assert bind(wang, code, status=200)["id"] == first["id"]  # a retry answers the same referral
    before = points(lin)
    joined(wang, "app")
    shop.api.drain()
    assert points(lin) == before + 100
    mine = wang.call("GET", f"{R}/me").json()
    assert mine["referred_by"]["id"] == first["id"] and mine["code"] is None
    assert [(r["trigger"], r["beneficiary"], r["status"]) for r in mine["rewards"]] == [
        ("signup", "invitee", "granted")]
    coupons = wang.call("GET", "/api/v1/promotions/coupons").json()
    assert [(c["template_id"], c["source"]) for c in coupons] == [(gift, "referral")]

    wang_points = points(wang)
    buy(wang)
    buy(wang)
    shop.api.drain()
    shop.api.drain()
    assert points(lin) == before + 100 + 200 + 10 + 10
    assert points(wang) == wang_points + 50
    lin_view = lin.call("GET", f"{R}/me").json()
    assert lin_view["code"] == code and lin_view["invited"] == 1
    assert sorted((r["trigger"], r["points"]) for r in lin_view["rewards"]) == [
        ("every_purchase", 10), ("every_purchase", 10), ("first_purchase", 200), ("signup", 100)]

    verdict = shop.admin("GET", f"{R}/ledger/verify")
    assert {k: verdict[k] for k in ("ok", "entries", "first_bad")} == {"ok": True, "entries": 6, "first_bad": None}
    entries = shop.admin("GET", f"{R}/ledger?limit=4")
    assert [e["seq"] for e in entries["items"]] == [1, 2, 3, 4] and entries["next_after"] == 4
    rest = shop.admin("GET", f"{R}/ledger?after=4")["items"]
    payloads = [json.loads(e["payload"]) for e in entries["items"] + rest]
    assert payloads[0]["trigger"] == "signup" and payloads[0]["coupon_template_id"] == gift
    assert sum(p["points"] for p in payloads if p["beneficiary"] == "referrer") == 320
    assert verdict["checkpoint"] == {"seq": 6, "hash": rest[-1]["hash"]}
    assert wang.call("GET", f"{R}/ledger/verify").status_code == 403


def test_binding_after_joining_rewards_signup_once(shop: Shop) -> None:
    configure(shop, rewards={"signup": {"referrer": {"points": 30}, "invitee": {"points": 20}}})
    lin, wang = shop.member("13800140011"), shop.member("13800140012")
    joined(lin)
    code = invite_code(lin)
    joined(wang)  # joined first, then accepted the invitation (within the window)
    referral = bind(wang, code)
    before = points(lin), points(wang)
    shop.api.drain()
    assert (points(lin), points(wang)) == (before[0] + 30, before[1] + 20)
    with shop.api.runtime.db.session() as s:  # the same trigger again, from another event: nothing more
        rewards.on_bound(s, referral["id"], "another-event", utcnow())
        rewards.on_joined(s, wang.person_id, "yet-another", utcnow())
    assert (points(lin), points(wang)) == (before[0] + 30, before[1] + 20)
    assert shop.admin("GET", f"{R}/ledger/verify")["entries"] == 2


def test_bind_refusals(shop: Shop) -> None:
    configure(shop, bind_window_hours=0)
    lin, wang, zhao = shop.member("13800140021"), shop.member("13800140022"), shop.member("13800140023")
    joined(lin)
    joined(zhao)
    lin_code, zhao_code = invite_code(lin), invite_code(zhao)
    assert bind(lin, lin_code, status=422)["error"]["code"] == "self_referral"
    assert bind(wang, "ABCDEFGH", status=404)["error"]["code"] == "invite_code_not_found"
    bind(wang, lin_code)
    assert bind(wang, zhao_code, status=409)["error"]["code"] == "already_referred"
    assert bind(zhao, lin_code, status=409)["error"]["code"] == "referral_window_closed"  # a member already
    joined(wang)
    wang_code = invite_code(wang)
    assert bind(lin, wang_code, status=422)["error"]["code"] == "referral_cycle"
    buyer = shop.member("13800140024")
    buy(buyer)
    assert bind(buyer, lin_code, status=409)["error"]["code"] == "referral_not_new_customer"
    assert bind(shop.member("13800140025"), "x", status=422)["error"]["code"] == "validation_error"
    stranger = shop.member("13800140026")
    assert stranger.call("POST", f"{R}/invite", {}).json()["error"]["code"] == "not_a_member"
    configure(shop, enabled=False)
    assert bind(stranger, lin_code, status=403)["error"]["code"] == "referral_program_disabled"
    assert shop.admin("POST", f"{R}/bind", {"code": lin_code}, status=403)["error"]["code"] == "not_your_data"


def test_self_referral_through_linked_identities(shop: Shop) -> None:
    configure(shop, rewards={"every_purchase": {"referrer": {"points": 10}}})
    lin = shop.member("13800140031", user_id="lin")
    joined(lin)
    code = invite_code(lin)
    # The same customer on another phone, known to be Lin by a device both were seen on: refused.
    alt = shop.member("13800140032", user_id="lin-2nd", device_id="dev-lin")
    shop.member("13800140031", device_id="dev-lin")  # an identity conflict links the two
    assert shop.admin("GET", f"/api/v1/identity/conflicts?person_id={alt.person_id}")["items"]
    assert bind(alt, code, status=422)["error"]["code"] == "self_referral"
    # Bound while they looked like two customers, then merged: voided, no more rewards.
    other = shop.member("13800140033", user_id="lin-3rd")
    bind(other, code)
    shop.admin("POST", "/api/v1/identity/merges", {"into_person": lin.person_id, "from_person": other.person_id,
                                                    "reason": "same person"}, status=201)
    before = points(lin)
    buy(other)
    shop.api.drain()
    assert points(lin) == before
    view = shop.admin("GET", f"{R}/me?person_id={lin.person_id}")
    assert view["referred_by"]["status"] == "void" and view["referred_by"]["void_reason"] == "same_customer"
    assert shop.admin("GET", f"{R}/ledger/verify")["entries"] == 0


def test_caps_and_refused_coupons(shop: Shop) -> None:
    scarce = coupon(shop, total=1)
    configure(shop, referrer_monthly_cap=2, rewards={"signup": {"referrer": {"points": 10},
                                                                "invitee": {"coupon_template_id": scarce}}})
    lin = shop.member("13800140041")
    joined(lin)
    code = invite_code(lin)
    before = points(lin)
    friends = [shop.member(f"1380014005{i}") for i in range(3)]
    for f in friends:
        bind(f, code)
        joined(f)
    shop.api.drain()
    assert points(lin) == before + 20  # the third is past the monthly cap
    mine = shop.admin("GET", f"{R}/me?person_id={lin.person_id}")
    assert sorted(r["status"] for r in mine["rewards"]) == ["capped", "granted", "granted"]
    assert mine["invited"] == 3
    statuses = sorted((r["status"], r["note"]) for f in friends for r in f.call("GET", f"{R}/me").json()["rewards"])
    assert statuses == [("granted", ""), ("nothing", "coupon: coupons_sold_out"), ("nothing",
                                                                                   "coupon: coupons_sold_out")]
    issued = [t for t in shop.admin("GET", "/api/v1/promotions/coupon-templates") if t["id"] == scarce]
    assert issued[0]["issued"] == 1  # the refused issues left no count behind
    assert shop.admin("GET", f"{R}/ledger/verify")["entries"] == 3


def test_the_programme_is_validated(shop: Shop) -> None:
    r = shop.api.client.put(f"{R}/program", json={"rewards": {"signup": {"referrer": {"coupon_template_id": "nope"}}}},
                            headers=shop.api.admin_headers())
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_referral_program"
    for body in ({"rewards": {"sometimes": {}}}, {"timezone": "Mars/Olympus"}, {"landing_url": "javascript:x"}):
        assert shop.api.client.put(f"{R}/program", json=body, headers=shop.api.admin_headers()).status_code == 422
    assert shop.member("13800140061").call("PUT", f"{R}/program", {}).status_code == 403
    assert shop.admin("GET", f"{R}/program")["enabled"] is True


def test_joining_with_an_invite_code_binds_and_rewards_signup(shop: Shop) -> None:
    configure(shop, rewards={"signup": {"referrer": {"points": 100}, "invitee": {"points": 30}}})
    lin = shop.member("13800140091")
    joined(lin)
    code = invite_code(lin)
    zhao = shop.member("13800140092")
    r = zhao.call("POST", "/api/v1/loyalty/members", {"channel": "app", "referral_code": code})
    assert r.status_code == 201, r.text
    shop.api.drain()
    assert zhao.call("GET", f"{R}/me").json()["referred_by"]["referrer_person_id"] == lin.person_id
    assert points(lin) == 100 + 100 and points(zhao) == 100 + 30
    bad = shop.member("13800140093").call("POST", "/api/v1/loyalty/members",
                                          {"channel": "app", "referral_code": "NOSUCHCD"})
    assert bad.status_code == 404, bad.text
