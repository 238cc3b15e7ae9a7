"""One message: validation and enrichment into an event-store row. The ingest hot path: it runs for
every event, so it stays flat (few calls, no decode of what it does not read)."""

from __future__ import annotations

from typing import Any

import msgspec

from siyu.collect import enrich
from siyu.collect.wire import TYPES, Incoming, any_decoder, json_encoder
from siyu.identity.kinds import RESERVED_PREFIX
from siyu.kit.ids import new_id
from siyu.sources.service import SourceAuth
from siyu.warehouse.record import Row

MAX_ID = 1024
MAX_MESSAGE_ID = 100
MAX_EVENT_NAME = 512
_TYPES = frozenset(TYPES)

_EMPTY = b"{}"


class ItemError(Exception):
    """Why one message was rejected: a machine-readable code and a sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _id(v: str | int | None, field_name: str) -> str | None:
    if v is None:
        return None
    s = v.strip() if isinstance(v, str) else str(v)
    if not s:
        return None
    if len(s) > MAX_ID:
        raise ItemError("invalid_field", f"{field_name} is longer than {MAX_ID} characters")
    return s


def _object(raw: msgspec.Raw, field_name: str, utf8_checked: bool) -> bytes:
    """The raw JSON of an object field (``{}`` when absent or null); anything else is an item error."""
    data = bytes(raw)
    if not data or data[0] == 110:  # absent, or null
        return _EMPTY
    if data[0] != 123:  # "{"
        raise ItemError("invalid_field", f"{field_name} must be an object")
    if not utf8_checked:
        try:
            data.decode()
        except UnicodeDecodeError as exc:
            raise ItemError("invalid_utf8", f"{field_name} is not valid UTF-8") from exc
    return data


def _context(
    raw: msgspec.Raw, batch_context: dict[str, Any] | None, utf8_checked: bool
) -> tuple[bytes, enrich.ContextView]:
    """The message's context as JSON (the batch's top-level context under it) and the enrichment view."""
    data = _object(raw, "context", utf8_checked)
    if batch_context:
        data = json_encoder.encode({**batch_context, **any_decoder.decode(data)})
    try:
        return data, enrich.context_view_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise ItemError("invalid_field", f"context: {exc}") from exc


def build_record(
    msg: Incoming,
    msg_type: str | None,
    source: SourceAuth,
    *,
    batch_context: dict[str, Any] | None,
    batch_sent_at: str | None,
    received_us: int,
    client_ip: str | None,
    tolerance_us: int,
    utf8_checked: bool,
) -> Row:
    """Validate one message and turn it into an event-store row (``record.COLUMNS`` order), or raise
    :class:`ItemError`.

    ``utf8_checked`` says the whole request body is known to be valid UTF-8 (the raw JSON parts are then
    not checked again one by one).
    """
    if msg_type not in _TYPES:
        raise ItemError("invalid_type", f"type must be one of {', '.join(TYPES)}")
    assert msg_type is not None
    user_id = _id(msg.userId, "userId")
    anonymous_id = _id(msg.anonymousId, "anonymousId")
    previous_id = _id(msg.previousId, "previousId") if msg.previousId is not None else None
    group_id = _id(msg.groupId, "groupId") if msg.groupId is not None else None
    for value in (anonymous_id, previous_id, user_id):
        if value is not None and value.startswith(RESERVED_PREFIX):
            raise ItemError("reserved_identifier", f"ids starting with {RESERVED_PREFIX!r} are Siyu's own")
    if msg_type == "alias":
        if previous_id is None or user_id is None:
            raise ItemError("missing_previous_id", "alias needs previousId and userId")
    elif user_id is None and anonymous_id is None:
        raise ItemError("missing_id", "every message needs userId or anonymousId")
    message_id = msg.messageId
    if message_id is None or not message_id.strip():
        message_id = "srv-" + new_id()
    elif len(message_id) > MAX_MESSAGE_ID:
        raise ItemError("invalid_message_id", f"messageId is longer than {MAX_MESSAGE_ID} characters")
    event: str | None = None
    if msg_type == "track":
        event = msg.event.strip() if msg.event else None
        if not event:
            raise ItemError("missing_event", "track needs a non-empty event name")
    elif msg_type == "page" or msg_type == "screen":
        event = msg.name.strip() or None if msg.name else None
    elif msg_type == "group" and group_id is None:
        raise ItemError("missing_group_id", "group needs groupId")
    if event is not None and len(event) > MAX_EVENT_NAME:
        raise ItemError("invalid_field", f"event name is longer than {MAX_EVENT_NAME} characters")

    properties = _object(msg.properties, "properties", utf8_checked)
    traits = _object(msg.traits, "traits", utf8_checked)
    context, view = _context(msg.context, batch_context, utf8_checked)
    try:
        ts_us, orig_us, sent_us = enrich.correct_timestamp(
            received_us, msg.timestamp, msg.originalTimestamp, msg.sentAt or batch_sent_at,
            source.channel == "server", tolerance_us,
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise ItemError("invalid_timestamp", f"a timestamp is not ISO-8601: {exc}") from exc

    page = view.page
    if page is None and msg_type == "page" and properties is not _EMPTY:
        page = enrich.page_view_decoder.decode(properties)  # a page call's own url/search/referrer
    page_url = search = referrer = None
    if page is not None:
        page_url = enrich.text(page.url, 2048)
        search = enrich.text(page.search, 2048) if page.search is not None else None
        referrer = enrich.text(page.referrer, 2048) if page.referrer is not None else None
    utm = enrich.utm_from(view.campaign, page_url, search)
    ip = view.ip
    if ip is None and source.channel != "server":
        ip = client_ip
    return (
        message_id, source.source_id, source.channel, msg_type, event, anonymous_id, user_id, group_id,
        previous_id, ts_us, orig_us, sent_us, received_us, properties, traits, context,
        utm[0], utm[1], utm[2], utm[3], utm[4], enrich.scene_from(view), page_url, referrer,
        enrich.text(ip, 64) if ip is not None else None, None,
    )
