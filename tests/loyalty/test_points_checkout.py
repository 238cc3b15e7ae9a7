"""Points at checkout: the pricing engine's dry run and the order agree (totals, points, each line's points
share); too few points refuse the whole order; points beyond the cap are clamped the same way in both; a
partial refund of a points-paid order refunds the cash share of its units and gives back their points share;
and, over random carts, points and refund sequences, no value is created or destroyed."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.loyalty.test_flow import join
from tests.loyalty.test_mall import me
from tests.orders.shop import ADDRESS, Member, Shop, snapshot

CART = [("SCARF-RED", 2), ("SCARF-APP", 1)]  # app: 2 x 199 + 99 = 497 yuan


def member_with(shop: Shop, phone: str, points: int) -> Member:
    m = shop.member(phone)
    join(m, "app")  # 100 welcome points
    if points - 100:
        shop.admin("POST", f"/api/v1/loyalty/members/{m.person_id}/points/adjust",
                   {"points": points - 100, "reason": "test"})
    return m


def quote(m: Member, cart: list[tuple[str, int]], points: int) -> dict[str, Any]:
    r = m.call("POST", "/api/v1/promotions/pricing/quote",
               {"channel": "app", "lines": [{"sku_code": c, "quantity": q} for c, q in cart], "points": points})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def place(m: Member, cart: list[tuple[str, int]], points: int) -> Any:
    return m.call("POST", "/api/v1/orders", {"channel": "app", "address": ADDRESS, "points": points,
                                             "lines": [{"sku_code": c, "quantity": q} for c, q in cart]})


@pytest.mark.parametrize("points", [12345, 99999])  # within the cap; beyond it (clamped to half the goods)
def test_a_dry_run_with_points_is_what_checkout_charges(shop: Shop, points: int) -> None:
    m = member_with(shop, "13800150001", 100_000)
    q = quote(m, CART, points)
    goods = q["subtotal_fen"] - q["tier_discount_fen"] - q["coupon_discount_fen"]
    assert q["points"] == min(points, goods // 2) and q["points_discount_fen"] == q["points"]  # 100 a yuan
    assert sum(ln["points_fen"] for ln in q["lines"]) == q["points_discount_fen"]
    r = place(m, CART, points)
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["total_fen"], order["points_discount_fen"], order["shipping_fen"]) == (
        q["total_fen"], q["points_discount_fen"], q["shipping_fen"])
    assert sorted((ln["sku_code"], ln["points_fen"]) for ln in order["lines"]) == sorted(
        (ln["sku_code"], ln["points_fen"]) for ln in q["lines"])
    assert me(m)["points"] == 100_000 - q["points"]
    redeemed = [x for x in m.call("GET", "/api/v1/loyalty/mall/redemptions").json() if x["order_id"] == order["id"]]
    assert [x["points"] for x in redeemed] == [q["points"]]


def test_too_few_points_refuse_the_whole_order(shop: Shop) -> None:
    m = member_with(shop, "13800150002", 1000)
    before = snapshot(shop)
    r = place(m, CART, 5000)
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_points", r.text
    assert snapshot(shop) == before  # no order, no stock reserved, no event
    assert me(m)["points"] == 1000


def test_points_after_checkout_follow_the_same_rule_and_are_allocated_over_the_lines(shop: Shop) -> None:
    m = member_with(shop, "13800150003", 100_000)
    order = place(m, CART, 0).json()
    path = f"/api/v1/loyalty/orders/{order['id']}/points"
    over = m.call("POST", path, {"points": 24851})  # the cap: half of the goods (shipping excluded)
    assert over.status_code == 409 and over.json()["error"]["code"] == "points_not_applicable", over.text
    assert over.json()["error"]["details"]["max_fen"] == quote(m, CART, 99999)["points_discount_fen"] == 24850
    assert m.call("POST", path, {"points": 10000}).status_code == 200
    assert m.call("POST", path, {"points": 2345}).status_code == 200
    got = shop.admin("GET", f"/api/v1/orders/{order['id']}")
    q = quote(m, CART, 12345)
    assert got["total_fen"] == q["total_fen"]
    assert sorted((ln["sku_code"], ln["points_fen"]) for ln in got["lines"]) == sorted(
        (ln["sku_code"], ln["points_fen"]) for ln in q["lines"])


def test_a_partial_refund_returns_the_cash_share_and_the_points_share(shop: Shop) -> None:
    m = member_with(shop, "13800150004", 100_000)
    order = place(m, [("SCARF-RED", 3)], 20000).json()  # 597 yuan, 200 of it in points
    line = order["lines"][0]
    assert line["points_fen"] == 20000
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
    shop.api.drain()
    before = me(m)["points"]
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds",
                   {"lines": [{"line_id": line["id"], "quantity": 1}]}, status=201)
    assert r["amount_fen"] == (59700 - 20000) // 3  # one unit's cash share: 132.33, rounded down
    shop.api.drain()
    assert me(m)["points"] == before + 20000 // 3  # its points share: 6666 points
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds",
                   {"lines": [{"line_id": line["id"], "quantity": 2}]}, status=201)
    assert r["amount_fen"] == 59700 - 20000 - (59700 - 20000) // 3  # the last unit takes the remainder
    shop.api.drain()
    got = shop.admin("GET", f"/api/v1/orders/{order['id']}")
    assert got["refunded_fen"] == got["paid_fen"] and got["status"] == "cancelled"
    assert me(m)["points"] == before + 20000  # every point back, none twice (the closing reversal included)


def _share(amount: int, qty: int, refunded: int) -> int:
    """The documented rule: amount // qty a unit, the last unit takes the remainder."""
    return amount // qty * refunded + (amount % qty if refunded == qty else 0)


def test_refund_sequences_conserve_value(shop: Shop, database_url: str) -> None:
    phones = itertools.count(13800160000)

    @settings(max_examples=25, deadline=None)
    @given(red=st.integers(1, 4), app=st.integers(0, 3), points=st.integers(0, 40000),
           steps=st.lists(st.tuples(st.integers(0, 1), st.integers(1, 3)), max_size=5))
    def run(red: int, app: int, points: int, steps: list[tuple[int, int]]) -> None:
        shop.stock("SCARF-RED", shop.warehouse, 50)
        shop.stock("SCARF-APP", shop.warehouse, 10)
        m = member_with(shop, str(next(phones)), 50_000)
        cart = [("SCARF-RED", red)] + ([("SCARF-APP", app)] if app else [])
        q = quote(m, cart, points)
        r = place(m, cart, points)
        assert r.status_code == 201, r.text
        order = r.json()
        assert (order["total_fen"], order["points_discount_fen"]) == (q["total_fen"], q["points_discount_fen"])
        shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
        shop.api.drain()
        start = me(m)["points"]
        lines = order["lines"]
        refunded = {ln["id"]: 0 for ln in lines}
        cash = 0
        for i, n in steps:
            ln = lines[i % len(lines)]
            n = min(n, ln["quantity"] - refunded[ln["id"]])
            if n == 0 or shop.admin("GET", f"/api/v1/orders/{order['id']}")["status"] == "cancelled":
                continue
            out = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds",
                             {"lines": [{"line_id": ln["id"], "quantity": n}]}, status=201)
            refunded[ln["id"]] += n
            cash += out["amount_fen"]
            shop.api.drain()
            got = shop.admin("GET", f"/api/v1/orders/{order['id']}")
            back = me(m)["points"] - start  # 100 points a yuan: a point is a fen
            assert got["refunded_fen"] <= got["paid_fen"] == order["total_fen"]
            if got["status"] == "cancelled":  # every unit refunded: the order closed, everything came back
                assert got["refunded_fen"] == got["paid_fen"] and back == order["points_discount_fen"]
                break
            assert got["refunded_fen"] == cash
            cost = sum(_share(x["total_fen"] - x["discount_fen"], x["quantity"], refunded[x["id"]]) for x in lines)
            points_share = sum(_share(x["points_fen"], x["quantity"], refunded[x["id"]]) for x in lines)
            assert back == points_share
            # never more than the units' proportional cost; exactly what they cost once a line is refunded in full
            assert (cash + back) * 1 <= sum(Fraction((x["total_fen"] - x["discount_fen"]) * refunded[x["id"]],
                                                     x["quantity"]) for x in lines)
            assert cash + back >= cost - 2 * sum(refunded.values())  # per-unit rounding, cash and points
            assert cash + back == sum(_share(x["total_fen"] - x["discount_fen"] - x["points_fen"], x["quantity"],
                                             refunded[x["id"]]) for x in lines) + points_share

    run()

