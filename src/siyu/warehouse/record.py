"""The row of the event store, as the tracking API produces it and the worker writes it.

One bus message carries the accepted events of one API request, *column by column* (a msgpack array of
one array per column, in ``COLUMNS`` order): cheap to encode, and the worker concatenates columns and
hands them to the store as arrow arrays without building a Python object per row. Adding a column means
appending it at the end; older messages are padded with nulls.
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

Row = tuple[object, ...]
WIDTH = len(COLUMNS)

_encoder = msgspec.msgpack.Encoder()
_columns_decoder = msgspec.msgpack.Decoder(list[list[object]])


def encode_rows(rows: list[Row]) -> bytes:
    return _encoder.encode(list(zip(*rows, strict=True)) if rows else [[] for _ in range(WIDTH)])


def encode_records(records: list[EventRecord]) -> bytes:
    return encode_rows([msgspec.structs.astuple(r) for r in records])


def decode_columns(body: bytes) -> list[list[object]]:
    """The columns of one bus message, padded to the current width."""
    cols = _columns_decoder.decode(body)
    if len(cols) < WIDTH:
        n = len(cols[0]) if cols else 0
        cols.extend([None] * n for _ in range(WIDTH - len(cols)))
    return cols[:WIDTH]


def decode_rows(body: bytes) -> list[Row]:
    """The same events as row tuples in column order."""
    return list(zip(*decode_columns(body), strict=True))
