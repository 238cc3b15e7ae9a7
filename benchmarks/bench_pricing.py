"""pricing.dry_runs_per_s: pricing-engine dry runs per second for a 10-line cart, through the engine
directly (``siyu.promotions.pricing.price``, one read-only transaction per dry run, as the quote endpoint
runs it) on the embedded runtime's SQLite database. The cart: 10 SKUs (two of them on an early-bird price
schedule), a loyalty member, two coupons of different stacking groups (a 满减 threshold and a capped
percent), delivery with a shipping fee and a free-shipping threshold.

Baseline, same run, same database: the least any quote does, one plain SQL query for the 10 listing prices
(sqlite3, no ORM) summed in Python, per dry run.

    python -m benchmarks.bench_pricing [--runs 3000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from benchmarks.common import record, workdir
from siyu.app import create_app
from siyu.auth.schemas import Role
from siyu.auth.service import create_token
from siyu.config import Settings
from siyu.promotions import pricing


def seed(client: TestClient, admin: str) -> tuple[str, list[str], list[str]]:
    """(person id, 10 SKU ids, 2 coupon ids)."""
    h = {"Authorization": f"Bearer {admin}"}

    def ok(method: str, path: str, body: Any, headers: dict[str, str] = h) -> Any:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code < 400, r.text
        return r.json()

    skus = [{"code": f"SKU-{i}", "listings": {ch: {"price_fen": 1990 + 1000 * i} for ch in ("app", "web")}}
            for i in range(10)]
    sku_ids = [s["id"] for s in ok("POST", "/api/v1/catalog/products", {"title": "套装", "skus": skus})["skus"]]
    now = datetime.now(UTC)
    for sku in sku_ids[:2]:
        ok("POST", "/api/v1/promotions/price-schedules", {"sku_id": sku, "channel": "app", "price_fen": 990,
                                                         "starts_at": (now - timedelta(days=1)).isoformat(),
                                                         "label": "早鸟价"})
    ok("PUT", "/api/v1/commerce/policy", {"shipping_fee_fen": 800, "free_shipping_over_fen": 100_000_000})
    login = ok("POST", "/api/v1/identity/login", {"phone": "13700000001"})
    member = {"Authorization": f"Bearer {login['member_token']}"}
    ok("POST", "/api/v1/loyalty/members", {"channel": "app"}, member)
    coupons = []
    for t in ({"name": "满300减50", "kind": "threshold", "amount_fen": 5000, "threshold_fen": 30000,
               "stacking_group": "full"},
              {"name": "9折", "kind": "percent", "percent_bp": 1000, "max_discount_fen": 3000,
               "stacking_group": "discount"}):
        tid = ok("POST", "/api/v1/promotions/coupon-templates", {**t, "valid_days": 30})["id"]
        coupons.append(ok("POST", f"/api/v1/promotions/coupon-templates/{tid}/claim", {"channel": "app"},
                          member)["id"])
    return login["person_id"], sku_ids, coupons


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3000)
    args = p.parse_args()
    work = workdir()
    settings = Settings(data_dir=work / "siyu", embedded_worker=False)
    app = create_app(settings, run_worker=False, with_warehouse=False)
    with TestClient(app) as client:
        db = app.state.runtime.db
        with db.session() as s:
            _, admin = create_token(s, Role.admin, "bench")
        person, skus, coupons = seed(client, admin)
        cart = pricing.Cart(channel="app", person_id=person, lines=[(sku, 1 + i % 3) for i, sku in enumerate(skus)],
                            coupons=coupons)
        with db.session() as s:
            q = pricing.price(s, cart, datetime.now(UTC)).quote
        assert len(q.lines) == 10 and len(q.coupons_applied) == 2 and not q.coupons_rejected, q
        for _ in range(200):  # warm-up
            with db.session() as s:
                pricing.price(s, cart, datetime.now(UTC))
        started = time.perf_counter()
        for _ in range(args.runs):
            with db.session() as s:
                out = pricing.price(s, cart, datetime.now(UTC)).quote
        rate = args.runs / (time.perf_counter() - started)
        assert out.total_fen == q.total_fen
    raw = sqlite3.connect(str(work / "siyu" / "siyu.sqlite3"))
    marks = ",".join("?" * len(skus))
    sql = f"SELECT sku_id, price_fen FROM listings WHERE channel = 'app' AND sku_id IN ({marks})"
    qty = dict(cart.lines)
    started = time.perf_counter()
    for _ in range(args.runs):
        total = sum(price * qty[sku] for sku, price in raw.execute(sql, skus))
    base = args.runs / (time.perf_counter() - started)
    raw.close()
    assert total > 0
    cmd = ("python -m benchmarks.bench_pricing " + " ".join(sys.argv[1:])).strip()
    record("pricing.dry_runs_per_s", rate, "dry runs/s", base, cmd, lines=10, coupons=2,
           note="the engine directly (pricing.price), one read-only transaction per dry run, embedded SQLite; "
                "10-line cart, loyalty member, 2 coupons, 2 early-bird schedules, shipping; baseline: one plain "
                "sqlite3 query for the 10 listing prices, summed")
    print(f"pricing: {rate:,.0f} dry runs/s   baseline {base:,.0f}/s   ratio {rate / base:.3f}")


if __name__ == "__main__":
    main()
