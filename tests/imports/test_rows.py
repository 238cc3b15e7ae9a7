"""The rows an import builds ahead of writing are what the ORM and ``outbox.service.payload`` would write:
the same values in each column, the same event JSON, ids in the layout of ``kit.ids.new_id``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from siyu.imports.bulk import _processor
from siyu.imports.order_rows import ORDER_COLUMNS, PERSON, Line, Rows, event, ids_at, who
from siyu.imports.rows import id_at
from siyu.orders.models import Order
from siyu.outbox.service import Track, payload

AT = datetime(2024, 3, 1, 2, 15, 30, 123456, tzinfo=UTC)


def lines() -> list[list[Line]]:
    one = Line(2, "E1", ("phone", "+8613800138000"), AT, 19900, "CNY", 1, "SCARF", "围巾 \"红\"", "miniprogram")
    two = [Line(3, "E2", ("phone", "+8613900139000"), AT, 129950, "CNY", 1, "COAT", "大衣", "web"),
           Line(4, "E2", ("phone", "+8613900139000"), AT, 9900, "CNY", 3, "HAT", "帽子", "web")]
    return [[one], two]


PSYCOPG: Dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), PSYCOPG], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("anchor", [("user_id", "u-42"), ("anonymous_id", "siyu:p1")])
def test_built_rows_and_events_are_what_the_orm_and_the_outbox_write(dialect: Dialect,
                                                                        anchor: tuple[str, str]) -> None:
    rows = Rows(dialect, "youzan")
    built = rows.build(lines())
    stamp = _processor(cast(Table, Order.__table__).c.created_at, dialect)
    assert stamp is not None
    assert [(k[0], k[2]) for k in built.keys] == [("E1", 19900), ("E2", 139850)]
    assert built.ends == [1, 3] and built.numbers == [2, 3, 4]
    order = dict(zip(rows.orders.columns, built.orders[1], strict=True))
    assert {c: order[c] for c in ORDER_COLUMNS if c not in ("id", "person_id")} == {
        "channel": "web", "status": "completed", "fulfilment": "delivery", "pickup_attempts": 0, "currency": "CNY",
        "subtotal_fen": 139850, "discount_fen": 0, "shipping_fen": 0, "total_fen": 139850, "paid_fen": 139850,
        "refunded_fen": 0, "note": "", "created_at": stamp(AT), "paid_at": stamp(AT), "completed_at": stamp(AT),
        "import_source": "youzan", "external_id": "E2"}
    assert order["points_discount_fen"] == 0 and built.orders[1][PERSON] is None
    assert [(ln[1], ln[2], ln[4], ln[5], ln[6]) for ln in built.lines[1:]] == [
        (order["id"], "COAT", 1, 129950, 129950), (order["id"], "HAT", 3, 3300, 9900)]

    person = "0190f0c0a0b07c0d8e0f101112131415"
    text = event(built.events[1], who(person, anchor))
    kind, value = anchor
    props = {"order_id": order["id"], "total": 1398.5, "total_fen": 139850, "currency": "CNY",
             "products": [{"product_id": None, "sku": "COAT", "name": "大衣", "price": 1299.5, "quantity": 1},
                          {"product_id": None, "sku": "HAT", "name": "帽子", "price": 33.0, "quantity": 3}],
             "fulfilment": "delivery", "revenue": 1398.5, "subtotal": 1398.5, "shipping": 0.0, "discount": 0.0,
             "import_source": "youzan"}
    data = {"order_id": order["id"], "status": "completed", "channel": "web", "amount_fen": 139850,
            "total_fen": 139850, "currency": "CNY", "import_source": "youzan", "external_id": "E2"}
    expected: dict[str, Any] = payload("orders.paid", data, person_id=person, at=AT, track=Track(
        "Order Completed", "web", value if kind == "user_id" else None, value if kind == "anonymous_id" else None,
        props))
    expected["id"] = built.events[1][0]
    assert json.loads(text) == expected
    assert text == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    first = json.loads(event(built.events[0], who(person, anchor)))
    assert first["track"]["properties"]["products"][0]["name"] == "围巾 \"红\""


def test_ids_have_the_layout_of_new_id_with_the_given_clock() -> None:
    made = ids_at(AT, 3)
    assert len(set(made)) == 3
    for i in made:
        value = int(i, 16)
        assert len(i) == 32 and i[:12] == id_at(AT)[:12] and (value >> 76) & 0xF == 7 and (value >> 62) & 0x3 == 2
