"""Identifier kinds, their priority and limits, normalisation and the junk-value blocklist.

Rules (see docs/identity.md):
- Kinds in priority order: ``user_id`` > ``wechat_unionid`` > ``phone``, ``email`` > ``wechat_openid`` >
  ``device_id``, ``anonymous_id``. An event belongs to the person of its highest-priority identifier.
- A person is *identified* once it holds a ``user_id``, UnionID, phone or email (the ``STRONG`` kinds). Two
  persons that both hold a strong identifier of the same kind (two user ids, two phones, ...) are two
  customers known by different values: never merged by resolution, only by an operator. Persons known by
  complementary kinds (a UnionID on one, a user id and phone on the other) are parts of one customer.
- Per-kind limits cap what automatic resolution attaches to one person (one user id, one UnionID, one
  OpenID per app, a few phones and emails, many devices and anonymous ids), so one shared device or a
  buggy client cannot collapse many people into one. Operator merges are not capped.
"""

from __future__ import annotations

import re
from enum import StrEnum

import phonenumbers


class Kind(StrEnum):
    user_id = "user_id"
    wechat_unionid = "wechat_unionid"
    phone = "phone"
    email = "email"
    wechat_openid = "wechat_openid"
    device_id = "device_id"
    anonymous_id = "anonymous_id"


PRIORITY: dict[str, int] = {
    Kind.user_id: 0,
    Kind.wechat_unionid: 1,
    Kind.phone: 2,
    Kind.email: 2,
    Kind.wechat_openid: 3,
    Kind.device_id: 4,
    Kind.anonymous_id: 4,
}
STRONG = frozenset({Kind.user_id, Kind.wechat_unionid, Kind.phone, Kind.email})
LIMITS: dict[str, int] = {
    Kind.user_id: 1,
    Kind.wechat_unionid: 1,
    Kind.phone: 3,
    Kind.email: 3,
    Kind.wechat_openid: 1,  # per app id: the limit is counted per "APPID:" prefix
    Kind.device_id: 20,
    Kind.anonymous_id: 500,
}
KINDS = frozenset(k.value for k in Kind)
# The kinds an event row carries itself; the event store maps them to persons at query time.
EVENT_KINDS = (Kind.user_id, Kind.anonymous_id)

JUNK = frozenset({
    "", "0", "-1", "null", "none", "nil", "undefined", "nan", "anonymous", "guest", "[object object]", "true",
    "false", "id", "email", "distinct_id", "user_id", "userid", "anonymous_id", "unknown", "n/a",
    "{}", "[]", "''", '""', "(null)",
})
ZEROS_OR_DASHES = re.compile(r"^[0\-_.\s]+$")
MAX_LENGTH = 200
# Anonymous ids Siyu gives persons for their domain events (``anchors``); clients may not send them.
RESERVED_PREFIX = "siyu:"


def is_junk(value: str) -> bool:
    v = value.strip().lower()
    return v in JUNK or bool(ZEROS_OR_DASHES.match(v)) or len(v) > MAX_LENGTH


def normalize_phone(value: str, region: str = "CN") -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(kind: str, value: object, app_id: object = None) -> str | None:
    """The canonical value of an identifier, or None when it is not a usable identifier (junk, malformed).

    OpenIDs are scoped by app id: the value is ``APPID:OPENID`` (given whole, or as ``value`` + ``app_id``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(int(value)) if isinstance(value, int) or value.is_integer() else str(value)
    if not isinstance(value, str):
        return None
    v = value.strip()
    if is_junk(v):
        return None
    if kind == Kind.phone:
        return normalize_phone(v)
    if kind == Kind.email:
        v = v.lower()
        local, at, domain = v.partition("@")
        return v if at and local and "." in domain and " " not in v else None
    if kind == Kind.wechat_openid:
        if app_id is not None:
            app = normalize("app_id", app_id)
            return f"{app}:{v}" if app else None
        app_part, colon, openid = v.partition(":")
        if not colon or is_junk(app_part) or is_junk(openid):
            return None
        return f"{app_part.strip()}:{openid.strip()}"
    return v


def limit_key(kind: str, value: str) -> str:
    """What a per-kind limit counts: OpenIDs count per app id."""
    if kind == Kind.wechat_openid:
        return f"{kind}:{value.partition(':')[0]}"
    return kind
