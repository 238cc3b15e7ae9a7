"""The incoming wire format (reference/tracking-api.md), decoded with msgspec.

``properties``, ``traits`` and ``context`` stay raw JSON: they go to the event store as they came, without
a decode and re-encode; enrichment reads only the few context fields it needs (``enrich.ContextView``).
"""

from __future__ import annotations

from typing import Any

import msgspec


class Incoming(msgspec.Struct, kw_only=True):
    type: str | None = None
    messageId: str | None = None
    userId: str | int | None = None
    anonymousId: str | int | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    previousId: str | int | None = None
    groupId: str | int | None = None
    properties: msgspec.Raw = msgspec.Raw(b"")
    traits: msgspec.Raw = msgspec.Raw(b"")
    context: msgspec.Raw = msgspec.Raw(b"")
    timestamp: str | None = None
    originalTimestamp: str | None = None
    sentAt: str | None = None
    writeKey: str | None = None


class BatchEnvelope(msgspec.Struct, kw_only=True):
    batch: list[msgspec.Raw]
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sentAt: str | None = None
    writeKey: str | None = None


class KeyOnly(msgspec.Struct, kw_only=True):
    writeKey: str | None = None


incoming_decoder = msgspec.json.Decoder(Incoming)
batch_decoder = msgspec.json.Decoder(BatchEnvelope)
any_decoder = msgspec.json.Decoder()
json_encoder = msgspec.json.Encoder()

TYPES = ("track", "identify", "page", "screen", "group", "alias")
SHORT_PATHS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}
