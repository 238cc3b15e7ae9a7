"""Coupon rules through the API: operator grants (wallet, total, per-member limit, all or none), absolute and
relative validity as time passes (at claim, in a pricing dry run and at checkout), tier restrictions at
claim and at use, and new-member coupons across linked identities."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from siyu.kit.clock import utcnow
from siyu.loyalty import growth
from siyu.loyalty.models import Member as MemberRow
from tests.orders.shop import Member, Shop
from tests.promotions.test_coupons import claim, order, template

P = "/api/v1/promotions"


class Clock:
    """The time the promotions API and order placement see (both take ``utcnow`` from their module)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def move(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr("siyu.promotions.router.utcnow", c)
    monkeypatch.setattr("siyu.orders.service.utcnow", c)
    yield c


def wallet(m: Member) -> list[dict[str, Any]]:
    r = m.call("GET", f"{P}/coupons")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def issued(shop: Shop, template_id: str) -> int:
    return next(t["issued"] for t in shop.admin("GET", f"{P}/coupon-templates") if t["id"] == template_id)  # type: ignore[no-any-return]


def refused(r: Any, status: int, code: str, reason: str | None = None) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    if reason is not None:
        assert err["details"]["reason"] == reason, err


def quote(m: Member, coupons: list[str], channel: str = "web") -> dict[str, Any]:
    r = m.call("POST", f"{P}/pricing/quote", {"channel": channel, "coupons": coupons,
                                               "lines": [{"sku_code": "SCARF-RED", "quantity": 1}]})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def rejected(q: dict[str, Any]) -> list[str]:
    return [c["code"] for c in q["coupons_rejected"]]


def grants(shop: Shop, template_id: str, person_ids: list[str], key: str | None = None) -> Any:
    headers = shop.api.admin_headers() | ({"Idempotency-Key": key} if key else {})
    return shop.api.client.post(f"{P}/coupon-templates/{template_id}/grants", json={"person_ids": person_ids},
                                headers=headers)


# -- (a) grants ---------------------------------------------------------------------------------------------------
def test_an_operator_grant_lands_in_the_wallet_within_the_total_all_or_none(shop: Shop) -> None:
    lin, bob, amy = (shop.member(f"1380013410{i}") for i in range(3))
    t = template(shop, name="客服补偿券", total=3, claimable=False)
    refused(claim(lin, t["id"], "web"), 403, "coupon_not_claimable", "granted_only")  # granted only
    one = shop.admin("POST", f"{P}/coupon-templates/{t['id']}/grant", {"person_id": lin.person_id,
                                                                       "reason": "ticket-42"}, status=201)
    mine = wallet(lin)
    assert [(c["id"], c["source"], c["status"], c["template_id"]) for c in mine] == [
        (one["id"], "grant", "available", t["id"])]
    assert quote(lin, [one["id"]])["coupons_applied"] == [one["id"]]  # usable like a claimed one
    # two are left: granting three refuses with the total's code and grants none of them
    refused(grants(shop, t["id"], [bob.person_id, amy.person_id, lin.person_id]), 409, "coupons_sold_out")
    assert wallet(bob) == wallet(amy) == [] and len(wallet(lin)) == 1 and issued(shop, t["id"]) == 1
    two = grants(shop, t["id"], [bob.person_id, amy.person_id], key="batch-1")
    assert two.status_code == 201, two.text
    assert [c["person_id"] for c in two.json()] == [bob.person_id, amy.person_id]
    assert [c["id"] for c in wallet(bob) + wallet(amy)] == [c["id"] for c in two.json()]
    # a retry with the same key answers the same coupons and issues nothing more
    again = grants(shop, t["id"], [bob.person_id, amy.person_id], key="batch-1")
    assert again.status_code == 201 and again.json() == two.json() and issued(shop, t["id"]) == 3
    refused(shop.api.client.post(f"{P}/coupon-templates/{t['id']}/grant", json={"person_id": amy.person_id},
                                 headers=shop.api.admin_headers()), 409, "coupons_sold_out")
    # members cannot grant themselves coupons
    refused(amy.call("POST", f"{P}/coupon-templates/{t['id']}/grants", {"person_ids": [amy.person_id]}),
            403, "scope_required")
    assert issued(shop, t["id"]) == 3


def test_grants_respect_the_per_member_limit_all_or_none(shop: Shop) -> None:
    lin, bob = shop.member("13800134110"), shop.member("13800134111")
    t = template(shop, name="每人限2张", per_member_limit=2)
    refused(grants(shop, t["id"], [bob.person_id, lin.person_id, lin.person_id, lin.person_id]), 409,
            "coupon_limit_reached")
    assert wallet(lin) == wallet(bob) == [] and issued(shop, t["id"]) == 0  # bob's was rolled back too
    ok = grants(shop, t["id"], [lin.person_id, lin.person_id])
    assert ok.status_code == 201 and len(wallet(lin)) == 2 and issued(shop, t["id"]) == 2
    refused(grants(shop, t["id"], [lin.person_id]), 409, "coupon_limit_reached")
    refused(claim(lin, t["id"], "web"), 409, "coupon_limit_reached")
    assert issued(shop, t["id"]) == 2


# -- (b) validity --------------------------------------------------------------------------------------------------
def test_absolute_validity_at_claim_in_a_dry_run_and_at_checkout(shop: Shop, clock: Clock) -> None:
    lin = shop.member("13800134120")
    start = clock.now
    t = template(shop, name="双11券", valid_days=None, valid_from=(start + timedelta(days=1)).isoformat(),
                 valid_until=(start + timedelta(days=3)).isoformat())
    refused(claim(lin, t["id"], "web"), 403, "coupon_not_claimable", "not_yet_valid")
    clock.move(timedelta(days=1))
    got = claim(lin, t["id"], "web")
    assert got.status_code == 201, got.text
    c = got.json()
    assert (c["valid_from"], c["valid_until"]) == (t["valid_from"], t["valid_until"])
    clock.move(timedelta(days=2) - timedelta(seconds=1))  # its last second
    assert quote(lin, [c["id"]])["coupons_applied"] == [c["id"]]
    clock.move(timedelta(seconds=1))  # valid_until: over
    assert rejected(quote(lin, [c["id"]])) == ["coupon_expired"]
    refused(order(lin, "web", [c["id"]]), 422, "coupon_not_usable", "coupon_expired")
    assert [x["status"] for x in wallet(lin)] == ["available"]  # nothing was locked
    refused(claim(shop.member("13800134121"), t["id"], "web"), 403, "coupon_not_claimable", "ended")
    assert t["id"] not in [x["id"] for x in lin.call("GET", f"{P}/coupon-templates?claimable=true").json()]


def test_relative_validity_runs_from_the_claim_and_stops_at_the_templates_end(shop: Shop, clock: Clock) -> None:
    lin = shop.member("13800134130")
    week = template(shop, name="领取后7天有效", valid_days=7)
    capped = template(shop, name="7天但活动2天后结束", valid_days=7,
                      valid_until=(clock.now + timedelta(days=2)).isoformat())
    clock.move(timedelta(hours=5))
    claimed_at = clock.now
    c = claim(lin, week["id"], "web").json()
    d = claim(lin, capped["id"], "web").json()
    assert datetime.fromisoformat(c["valid_from"]) == claimed_at
    assert datetime.fromisoformat(c["valid_until"]) == claimed_at + timedelta(days=7)
    assert d["valid_until"] == capped["valid_until"]  # never past the template's own end
    clock.move(timedelta(days=2))
    assert rejected(quote(lin, [d["id"]])) == ["coupon_expired"]
    assert quote(lin, [c["id"]])["coupons_applied"] == [c["id"]]
    clock.move(timedelta(days=5))  # seven days after the claim
    assert rejected(quote(lin, [c["id"]])) == ["coupon_expired"]
    refused(order(lin, "web", [c["id"]]), 422, "coupon_not_usable", "coupon_expired")
    # an operator's dry run at an earlier time still prices it: expiry is about time, not a state change
    at = (claimed_at + timedelta(days=6)).isoformat()
    q = shop.admin("POST", f"{P}/pricing/quote", {"channel": "web", "person_id": lin.person_id, "at": at,
                                                   "coupons": [c["id"]],
                                                   "lines": [{"sku_code": "SCARF-RED", "quantity": 1}]})
    assert q["coupons_applied"] == [c["id"]]


# -- (c) tiers -------------------------------------------------------------------------------------------------------
def _member_row(shop: Shop, m: Member, fn: Callable[[Any, MemberRow], None]) -> None:
    with shop.api.runtime.db.session() as s:
        row = s.query(MemberRow).filter(MemberRow.person_id == m.person_id).one()
        fn(s, row)
        s.commit()


def test_a_tier_coupon_is_checked_at_claim_and_again_at_use(shop: Shop) -> None:
    lin, guest = shop.member("13800134140"), shop.member("13800134141")
    lin.call("POST", "/api/v1/loyalty/members", {"channel": "web"})
    t = template(shop, name="黄金会员专享", tiers=["gold"])
    refused(claim(lin, t["id"], "web"), 403, "coupon_not_claimable", "wrong_tier")  # regular
    refused(claim(guest, t["id"], "web"), 403, "coupon_not_claimable", "wrong_tier")  # not a member at all
    now = utcnow()
    _member_row(shop, lin, lambda s, row: growth.add(s, row.id, 1000, kind="adjust", key="gold", day=now.date(),
                                                     now=now))
    c = claim(lin, t["id"], "web")
    assert c.status_code == 201, c.text
    cid = c.json()["id"]
    assert quote(lin, [cid])["coupons_applied"] == [cid]
    # the tier drops before the coupon is used (a downgrade at period end): it no longer applies
    _member_row(shop, lin, lambda s, row: growth.change_tier(s, row, "regular", "downgrade", now))
    q = quote(lin, [cid])
    assert rejected(q) == ["coupon_wrong_tier"] and q["coupon_discount_fen"] == 0
    refused(order(lin, "web", [cid]), 422, "coupon_not_usable", "coupon_wrong_tier")
    assert [x["status"] for x in wallet(lin)] == ["available"]  # kept: usable again if the tier comes back


# -- (d) new members -------------------------------------------------------------------------------------------------
def test_a_new_member_coupon_is_refused_at_claim_after_a_paid_order(shop: Shop) -> None:
    t = template(shop, name="新人券", new_members_only=True)
    fresh = shop.member("13800134150")
    assert claim(fresh, t["id"], "web").status_code == 201
    lin = shop.member("13800134151")
    unpaid = lin.order("web", ("SCARF-RED", 1))  # placed, not paid: still new
    buyer = shop.member("13800134152")
    buyer.pay_online(buyer.order("web", ("SCARF-RED", 1)))
    refused(claim(buyer, t["id"], "web"), 403, "coupon_not_claimable", "not_a_new_member")
    assert wallet(buyer) == []
    assert claim(lin, t["id"], "web").status_code == 201, unpaid["status"]
    assert issued(shop, t["id"]) == 2


def test_a_customer_merged_with_a_buyer_is_not_new_and_keeps_one_limit(shop: Shop) -> None:
    t = template(shop, name="新人券", new_members_only=True)
    old, new = shop.member("13800134160"), shop.member("13800134161")
    old.pay_online(old.order("web", ("SCARF-RED", 1)))
    shop.admin("POST", "/api/v1/identity/merges", {"into_person": new.person_id, "from_person": old.person_id,
                                                    "reason": "same person"}, status=201)
    # the new account itself has no order, but the customer it is now has paid one
    refused(claim(new, t["id"], "web"), 403, "coupon_not_claimable", "not_a_new_member")
    # the per-member limit counts what the customer holds under every linked identity
    two = template(shop, name="每人限2张", per_member_limit=2)
    a, b = shop.member("13800134162"), shop.member("13800134163")
    for m in (a, b):
        assert claim(m, two["id"], "web").status_code == 201
    shop.admin("POST", "/api/v1/identity/merges", {"into_person": a.person_id, "from_person": b.person_id,
                                                    "reason": "same person"}, status=201)
    assert len(wallet(a)) == 2
    refused(claim(a, two["id"], "web"), 409, "coupon_limit_reached")
    refused(grants(shop, two["id"], [a.person_id]), 409, "coupon_limit_reached")
    assert len(wallet(a)) == 2 and issued(shop, two["id"]) == 2
