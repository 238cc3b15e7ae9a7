"""A small shop for commerce tests: a catalog sold in three channels, a warehouse and a store, customers
with member tokens, and the calls a brand's apps and a payment provider make."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from siyu.orders.models import Payment, Refund, ReturnRequest
from siyu.orders.providers import sign
from siyu.outbox.models import OutboxMessage
from tests.conftest import Api

WEBHOOK_SECRET = "whsec_test_0123456789"
ADDRESS = {"name": "林小姐", "phone": "13800138000", "province": "浙江", "city": "杭州", "district": "西湖区",
           "line": "文三路 1 号"}


@dataclass
class Shop:
    api: Api
    skus: dict[str, str] = field(default_factory=dict)  # code -> id
    warehouse: str = ""
    store: str = ""

    @classmethod
    def open(cls, api: Api) -> Shop:
        shop = cls(api)
        shop.warehouse = shop.admin("POST", "/api/v1/catalog/locations",
                                    {"code": "WH-HZ", "name": "杭州仓", "kind": "warehouse"})["id"]
        shop.store = shop.admin("POST", "/api/v1/catalog/locations",
                                {"code": "ST-XH", "name": "西湖店", "kind": "store", "pickup": True,
                                 "ships": False})["id"]
        everywhere = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
        product = shop.admin("POST", "/api/v1/catalog/products", {
            "title": "羊毛围巾", "brand": "Siyu", "specs": [{"group": "材质", "name": "成分", "value": "100% 羊毛"}],
            "skus": [
                {"code": "SCARF-RED", "name": "红色", "attributes": {"color": "red"}, "listings": everywhere},
                {"code": "SCARF-APP", "name": "APP 专享", "listings": {"app": {"price_fen": 9900}}},
            ]})
        for sku in product["skus"]:
            shop.skus[sku["code"]] = sku["id"]
        shop.stock("SCARF-RED", shop.warehouse, 50)
        shop.stock("SCARF-RED", shop.store, 5)
        shop.stock("SCARF-APP", shop.warehouse, 10)
        return shop

    def admin(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        r = self.api.client.request(method, path, json=body, headers=self.api.admin_headers())
        if status is None:
            assert r.status_code < 400, r.text
        else:
            assert r.status_code == status, r.text
        return r.json()

    def stock(self, code: str, location: str, on_hand: int) -> None:
        self.admin("PUT", f"/api/v1/catalog/stock/{self.skus[code]}/{location}", {"on_hand": on_hand})

    def levels(self, code: str) -> dict[str, tuple[int, int]]:
        rows = self.admin("GET", f"/api/v1/catalog/skus/{self.skus[code]}/stock")
        return {r["location_id"]: (r["on_hand"], r["reserved"]) for r in rows}

    def server(self, *scopes: str) -> Server:
        """A brand server's secret key with ``scopes``."""
        token = self.admin("POST", "/api/v1/tokens", {"role": "server", "name": "brand server",
                                                      "scopes": list(scopes)})["token"]
        return Server(self, token)

    def member(self, phone: str, **ids: str) -> Member:
        r = self.api.client.post("/api/v1/identity/login", json={"phone": phone, **ids},
                                 headers=self.api.admin_headers())
        assert r.status_code == 200, r.text
        return Member(self, r.json()["person_id"], r.json()["member_token"])

    def callback(self, type_: str, **data: Any) -> Any:
        body = json.dumps({"id": f"evt-{type_}-{data.get('payment_ref') or data.get('refund_id')}-{len(data)}",
                           "type": type_, "data": data}).encode()
        return self.signed(body)

    def signed(self, body: bytes, secret: str = WEBHOOK_SECRET) -> Any:
        return self.api.client.post("/api/v1/payments/webhook", content=body,
                                    headers={"Siyu-Signature": sign(secret, body),
                                             "Content-Type": "application/json"})


def snapshot(shop: Shop) -> tuple[Any, ...]:
    """What a refused request must leave as it was: orders and their states, stock, payments and their
    states, refunds, after-sales requests and the outbox (no event of a change that did not happen)."""
    orders = shop.admin("GET", "/api/v1/orders?limit=200")["items"]
    with shop.api.runtime.db.session() as s:
        rows = (s.execute(select(Payment.id, Payment.status).order_by(Payment.id)).all(),
                s.scalar(select(func.count()).select_from(Refund)),
                s.scalar(select(func.count()).select_from(ReturnRequest)),
                s.scalar(select(func.count()).select_from(OutboxMessage)))
    return (len(orders), [o["status"] for o in orders], shop.levels("SCARF-RED"), shop.levels("SCARF-APP"),
            [tuple(p) for p in rows[0]], *rows[1:])


@dataclass
class Member:
    shop: Shop
    person_id: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.shop.api.client.request(method, path, json=body,
                                            headers={"Authorization": f"Bearer {self.token}"})

    def order(self, channel: str, *lines: tuple[str, int], pickup: bool = False) -> Any:
        body: dict[str, Any] = {"channel": channel,
                                "lines": [{"sku_code": code, "quantity": q} for code, q in lines]}
        if pickup:
            body.update(fulfilment="pickup", pickup_location_id=self.shop.store)
        else:
            body["address"] = ADDRESS
        r = self.call("POST", "/api/v1/orders", body)
        assert r.status_code == 201, r.text
        return r.json()

    def pay_online(self, order: dict[str, Any]) -> Any:
        """Open a webhook payment and have the provider confirm it."""
        r = self.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"})
        assert r.status_code == 201, r.text
        ref = r.json()["provider_ref"]
        answer = self.shop.callback("payment.succeeded", payment_ref=ref, amount_fen=order["total_fen"])
        assert answer.status_code == 200, answer.text
        return answer.json()


@dataclass
class Server:
    shop: Shop
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.shop.api.client.request(method, path, json=body,
                                            headers={"Authorization": f"Bearer {self.token}"})

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = self.call(method, path, body)
        assert r.status_code == status, r.text
        return r.json()
