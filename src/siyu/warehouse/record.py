"""The row of the event store, as the tracking API produces it and the worker writes it.

It travels on the bus as msgpack arrays (one bus message = the accepted events of one API request),
so adding a column means appending a field with a default at the end.
"""

from __future__ import annotations

import msgspec

TOPIC_EVENTS = "events.{type}"  # events.track, events.identify, ...
EVENTS_PATTERN = "events.*"


class EventRecord(msgspec.Struct, array_like=True):
    message_id: str
    source_id: str
    channel: str
    type: str
    event: str | None
    anonymous_id: str | None
    user_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp_us: int
    original_timestamp_us: int | None
    sent_at_us: int | None
    received_at_us: int
    properties: bytes  # JSON text (UTF-8), carried as bytes to skip a decode on the hot path
    traits: bytes
    context: bytes
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    scene: str | None
    page_url: str | None
    referrer: str | None
    ip: str | None
    person_id: str | None = None


# (column, kind) in table order; kind is one of "str", "str?", "ts", "ts?", "json".
COLUMNS: list[tuple[str, str]] = [
    ("message_id", "str"),
    ("source_id", "str"),
    ("channel", "str"),
    ("type", "str"),
    ("event", "str?"),
    ("anonymous_id", "str?"),
    ("user_id", "str?"),
    ("group_id", "str?"),
    ("previous_id", "str?"),
    ("timestamp", "ts"),
    ("original_timestamp", "ts?"),
    ("sent_at", "ts?"),
    ("received_at", "ts"),
    ("properties", "json"),
    ("traits", "json"),
    ("context", "json"),
    ("utm_source", "str?"),
    ("utm_medium", "str?"),
    ("utm_campaign", "str?"),
    ("utm_term", "str?"),
    ("utm_content", "str?"),
    ("scene", "str?"),
    ("page_url", "str?"),
    ("referrer", "str?"),
    ("ip", "str?"),
    ("person_id", "str?"),
]
assert len(COLUMNS) == len(EventRecord.__struct_fields__)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[EventRecord])
_raw_decoder = msgspec.msgpack.Decoder(list[tuple[object, ...]])


def encode_records(records: list[EventRecord]) -> bytes:
    return _encoder.encode(records)


def decode_records(body: bytes) -> list[EventRecord]:
    return _decoder.decode(body)


def decode_rows(body: bytes) -> list[tuple[object, ...]]:
    """The same records as plain tuples in column order (cheaper, for bulk writers)."""
    rows = _raw_decoder.decode(body)
    width = len(COLUMNS)
    return [r if len(r) == width else (*r, *([None] * (width - len(r)))) for r in rows]
