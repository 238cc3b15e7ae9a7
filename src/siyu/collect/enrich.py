"""Enrichment of an accepted message: corrected time, UTM, mini-program scene, page fields.

Clock skew (reference/tracking-api.md): ``timestamp = receivedAt - (sentAt - originalTimestamp)``. A
difference between the client's ``sentAt`` and our ``receivedAt`` smaller than the tolerance
(``SIYU_CLOCK_SKEW_TOLERANCE_S``) cannot be told apart from network delay, so it is not applied:
folding a variable network delay into timestamps reorders one device's events across batches
(PostHog #98250). Every event of one request gets the same shift, so order within a batch is kept.
Messages from a ``server`` source keep the ``timestamp`` they send (historical import, trusted clocks).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from siyu.kit.clock import parse_iso

UTM_KEYS = ("source", "medium", "campaign", "term", "content")
# Where WeChat-style mini-program SDKs put the launch scene value.
_SCENE_PATHS = (("scene",), ("miniprogram", "scene"), ("wechat", "scene"), ("app", "scene"), ("launch", "scene"))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def correct_timestamp(
    *,
    received_us: int,
    timestamp: str | None,
    original: str | None,
    sent_at: str | None,
    trusted_clock: bool,
    tolerance_us: int,
) -> tuple[int, int | None, int | None]:
    """(corrected timestamp, original timestamp, sentAt) in microseconds. Raises ValueError on a bad value."""
    orig_us = to_us(parse_iso(original)) if original else None
    ts_us = to_us(parse_iso(timestamp)) if timestamp else None
    sent_us = to_us(parse_iso(sent_at)) if sent_at else None
    if orig_us is None:
        orig_us = ts_us
    if trusted_clock and ts_us is not None:
        return ts_us, orig_us, sent_us
    if orig_us is None:
        return received_us, None, sent_us
    if sent_us is not None:
        skew = received_us - sent_us
        if abs(skew) > tolerance_us:
            return orig_us + skew, orig_us, sent_us
    return orig_us, orig_us, sent_us


def _dig(obj: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _text(v: Any, limit: int = 1024) -> str | None:
    if v is None or isinstance(v, dict | list):
        return None
    s = str(v).strip()
    return s[:limit] if s else None


def utm_from(context: dict[str, Any], page_url: str | None, page_search: str | None) -> list[str | None]:
    """UTM values from ``context.campaign`` or else from the page URL's query string."""
    campaign = context.get("campaign")
    if isinstance(campaign, dict) and campaign:
        return [_text(campaign.get("name" if k == "campaign" else k)) for k in UTM_KEYS]
    query = page_search or (urlsplit(page_url).query if page_url else "")
    if not query:
        return [None] * 5
    params = parse_qs(query.lstrip("?"), keep_blank_values=False)
    return [_text(params.get(f"utm_{k}", [None])[0]) for k in UTM_KEYS]


def scene_from(context: dict[str, Any]) -> str | None:
    for path in _SCENE_PATHS:
        v = _dig(context, path)
        if v is not None and not isinstance(v, dict | list):
            return _text(v, 32)
    return None


def page_fields(
    context: dict[str, Any], properties: dict[str, Any] | None
) -> tuple[str | None, str | None, str | None]:
    """(url, search, referrer) from ``context.page``, or from a page call's own properties."""
    page = context.get("page")
    src: dict[str, Any] = page if isinstance(page, dict) else {}
    if not src and properties:
        src = properties
    return _text(src.get("url"), 2048), _text(src.get("search"), 2048), _text(src.get("referrer"), 2048)


def to_us_now() -> int:
    return time.time_ns() // 1000
