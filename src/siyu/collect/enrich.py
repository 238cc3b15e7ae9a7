"""Enrichment of an accepted message: corrected time, UTM, mini-program scene, page fields.

Clock skew (reference/tracking-api.md): ``timestamp = receivedAt - (sentAt - originalTimestamp)``. A
difference between the client's ``sentAt`` and our ``receivedAt`` smaller than the tolerance
(``SIYU_CLOCK_SKEW_TOLERANCE_S``) cannot be told apart from network delay, so it is not applied:
folding a variable network delay into timestamps reorders one device's events across batches
(PostHog #98250). Every event of one request gets the same shift, so order within a batch is kept.
Messages from a ``server`` source keep the ``timestamp`` they send (historical import, trusted clocks).

This runs for every event on the ingest hot path: it reads only the few context fields it needs
(``ContextView``) and parses URLs by hand only when they carry UTM parameters.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

import msgspec

from siyu.kit.clock import parse_iso

UTM_KEYS = ("source", "medium", "campaign", "term", "content")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# Times every event store can hold and every reader can turn back into a datetime (ClickHouse's
# DateTime64 starts at 1900; a corrected time past year 9999 broke every query that read it).
MIN_US = (datetime(1900, 1, 1, tzinfo=UTC) - _EPOCH) // _US
MAX_US = (datetime(2200, 1, 1, tzinfo=UTC) - _EPOCH) // _US


class PageView(msgspec.Struct):
    url: Any = None
    search: Any = None
    referrer: Any = None


class ContextView(msgspec.Struct):
    """The parts of ``context`` enrichment reads; everything else is skipped by the decoder."""

    campaign: Any = None
    page: PageView | None = None
    ip: Any = None
    # Where WeChat-style mini-program SDKs put the launch scene value.
    scene: Any = None
    miniprogram: Any = None
    wechat: Any = None
    app: Any = None


context_view_decoder = msgspec.json.Decoder(ContextView)
page_view_decoder = msgspec.json.Decoder(PageView)


def to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def to_us_now() -> int:
    return time.time_ns() // 1000


@lru_cache(maxsize=4096)
def iso_to_us(value: str) -> int:
    """Microseconds since the epoch of an ISO-8601 string (cached: a batch repeats its sentAt)."""
    return to_us(parse_iso(value))


def correct_timestamp(
    received_us: int,
    timestamp: str | None,
    original: str | None,
    sent_at: str | None,
    trusted_clock: bool,
    tolerance_us: int,
) -> tuple[int, int | None, int | None]:
    """(corrected timestamp, original timestamp, sentAt) in microseconds. Raises ValueError on a bad value,
    or on a time (given or corrected) outside the years 1900-2199."""
    ts_us = iso_to_us(timestamp) if timestamp else None
    orig_us = iso_to_us(original) if original else ts_us
    sent_us = iso_to_us(sent_at) if sent_at else None
    if (orig_us is not None and not MIN_US <= orig_us < MAX_US) or (
        sent_us is not None and not MIN_US <= sent_us < MAX_US
    ) or (ts_us is not None and not MIN_US <= ts_us < MAX_US):
        raise ValueError("times must fall between the years 1900 and 2199")
    if trusted_clock and ts_us is not None:
        return ts_us, orig_us, sent_us
    if orig_us is None:
        return received_us, None, sent_us
    if sent_us is not None:
        skew = received_us - sent_us
        if skew > tolerance_us or -skew > tolerance_us:
            if not MIN_US <= orig_us + skew < MAX_US:
                raise ValueError("the corrected time falls outside the years 1900-2199")
            return orig_us + skew, orig_us, sent_us
    return orig_us, orig_us, sent_us


def text(v: Any, limit: int = 1024) -> str | None:
    """A short text value: strings stripped and cut to ``limit``, numbers as text, anything else None."""
    if type(v) is str and 0 < len(v) <= limit and not v[0].isspace() and not v[-1].isspace():
        return v
    if isinstance(v, str):
        v = v.strip()
        return (v if len(v) <= limit else v[:limit]) or None
    if v is None or isinstance(v, dict | list | bool):
        return None
    return str(v)[:limit]


@lru_cache(maxsize=16384)
def _url_utm(url: str) -> tuple[str | None, ...] | None:
    """UTM values in a URL's (or a bare query string's) parameters; cached, as landing URLs repeat."""
    query = url.split("#", 1)[0]
    query = query.split("?", 1)[1] if "?" in query else query
    found: list[str | None] = [None] * 5
    hit = False
    for part in query.split("&"):
        if not part.startswith("utm_"):
            continue
        key, _, value = part.partition("=")
        try:
            i = UTM_KEYS.index(key[4:])
        except ValueError:
            continue
        if found[i] is None and value:
            found[i] = text(unquote_plus(value) if ("%" in value or "+" in value) else value)
            hit = True
    return tuple(found) if hit else None


_NO_UTM: tuple[str | None, ...] = (None, None, None, None, None)


def utm_from(campaign: Any, page_url: str | None, page_search: str | None) -> tuple[str | None, ...]:
    """UTM values from ``context.campaign`` or else from the page URL's query string."""
    if isinstance(campaign, dict) and campaign:
        return tuple(text(campaign.get("name" if k == "campaign" else k)) for k in UTM_KEYS)
    for candidate in (page_search, page_url):
        if candidate and "utm_" in candidate:
            got = _url_utm(candidate)
            if got is not None:
                return got
    return _NO_UTM


def scene_from(view: ContextView) -> str | None:
    if view.scene is None and view.miniprogram is None and view.wechat is None and view.app is None:
        return None
    if view.scene is not None:
        return text(view.scene, 32)
    for holder in (view.miniprogram, view.wechat, view.app):
        if isinstance(holder, dict) and holder.get("scene") is not None:
            return text(holder["scene"], 32)
    return None


