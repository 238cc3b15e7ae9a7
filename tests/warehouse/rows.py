"""Event rows as the worker hands them to an event store (the tracking API's records, msgpack round trip)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from siyu.warehouse.record import EventRecord, decode_rows, encode_records

BASE = datetime(2026, 11, 11, 12, 0, 0, 123456, tzinfo=UTC)


def _us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def record(i: int, *, source: str = "src-a", message_id: str | None = None, received: datetime | None = None,
           event: str = "Order Completed", **kw: object) -> EventRecord:
    received = received or BASE + timedelta(seconds=i)
    fields: dict[str, object] = dict(
        message_id=message_id or f"msg-{i:06d}",
        source_id=source,
        channel="web" if i % 2 else "miniprogram",
        type="track",
        event=event,
        anonymous_id=f"anon-{i % 7}",
        user_id=None if i % 3 == 0 else f"user-{i % 5}",
        group_id=None,
        previous_id=None,
        timestamp_us=_us(received - timedelta(milliseconds=250)),
        original_timestamp_us=None,
        sent_at_us=None,
        received_at_us=_us(received),
        properties=json.dumps({"order_id": f"o{i}", "revenue": i * 100, "currency": "CNY", "名": "价"},
                              ensure_ascii=False).encode(),
        traits=b"{}",
        context=json.dumps({"campaign": {"source": "wechat", "name": "双11"}, "ip": "10.0.0.1"},
                           ensure_ascii=False).encode(),
        utm_source="wechat" if i % 2 else None,
        utm_medium="social" if i % 2 else None,
        utm_campaign="双11" if i % 2 else None,
        utm_term=None,
        utm_content="banner" if i % 4 == 1 else None,
        scene="1047" if i % 2 == 0 else None,
        page_url=None,
        referrer=None,
        ip="10.0.0.1",
        person_id=f"p-{i % 5}" if i % 2 else None,
    )
    fields.update(kw)
    return EventRecord(**fields)  # type: ignore[arg-type]


def rows(records: list[EventRecord]) -> list[tuple[object, ...]]:
    """What the worker passes to ``write_rows`` for these records (it decodes bus message bodies)."""
    return decode_rows(encode_records(records))


def batch(start: int, n: int, **kw: object) -> list[tuple[object, ...]]:
    return rows([record(i, **kw) for i in range(start, start + n)])
