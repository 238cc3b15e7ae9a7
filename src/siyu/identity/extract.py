"""What identity resolution needs from an event: its identifiers (normalised, highest priority first),
whether it may merge, its anchor, channel, time and (for identify) its traits.

Identifiers come from ``userId``, ``anonymousId``, ``previousId`` (alias), traits (``phone``, ``email``,
``wechat_unionid``, ``wechat_openid`` with ``wechat_appid``), ``context.traits``, ``context.device.id`` and
``context.externalIds`` entries whose ``type`` is a kind (an OpenID's ``collection`` is its app id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from siyu.identity.kinds import JUNK, KINDS, MAX_LENGTH, PRIORITY, ZEROS_OR_DASHES, Kind, normalize
from siyu.warehouse.record import COLUMNS

Key = tuple[str, str]

TRAIT_KINDS = (Kind.phone, Kind.email, Kind.wechat_unionid)
# The members themselves, bound once: an enum attribute lookup costs more than a global one.
_K_USER, _K_ANONYMOUS, _K_DEVICE, _K_OPENID = Kind.user_id, Kind.anonymous_id, Kind.device_id, Kind.wechat_openid

_json = msgspec.json.Decoder()


@dataclass(slots=True)
class Observation:
    message_id: str
    channel: str
    at_us: int
    ids: list[Key]  # highest priority first, no duplicates
    trigger: str  # the message type (or "login"), recorded on the merges it causes
    anchor: Key | None  # the identifier the event row carries (user id, else anonymous id)
    traits: dict[str, Any] = field(default_factory=dict)
    previous: str | None = None  # alias: a known user id, else an anonymous id (the resolver decides)


def _obj(raw: object) -> dict[str, Any]:
    if isinstance(raw, bytes | str) and raw:
        try:
            value = _json.decode(raw)
        except msgspec.DecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _from_traits(traits: dict[str, Any], found: list[Key]) -> None:
    for kind in TRAIT_KINDS:
        if kind in traits:
            v = normalize(kind, traits[kind])
            if v:
                found.append((kind, v))
    if "wechat_openid" in traits:
        v = normalize(Kind.wechat_openid, traits["wechat_openid"], traits.get("wechat_appid"))
        if v:
            found.append((Kind.wechat_openid, v))


class _Context(msgspec.Struct):
    """The parts of ``context`` that carry identifiers; everything else is skipped unparsed."""

    device: Any = None
    traits: Any = None
    externalIds: Any = None


class _Device(msgspec.Struct):
    id: Any = msgspec.UNSET


class _External(msgspec.Struct):
    id: Any = None
    type: Any = None
    collection: Any = None


class _TypedContext(msgspec.Struct):
    """The same, decoded into structs: what well-formed clients send. A context of another shape (a device
    that is not an object, say) fails this and is read through :class:`_Context`."""

    device: _Device | None = None
    traits: Any = None
    externalIds: list[_External] | None = None


_context_decoder = msgspec.json.Decoder(_Context)
_typed_context_decoder = msgspec.json.Decoder(_TypedContext)


# Recent results of normalize(), since a client sends the same ids with every event: (kind, value) -> result,
# "" = not seen (a normalised identifier is never empty). Bounded: emptied when full.
_MEMO_SIZE = 100_000
_normalized: dict[tuple[str, str], str | None] = {}
_openids: dict[tuple[str, str], str | None] = {}


def _norm(kind: str, value: object) -> str | None:
    """``normalize(kind, value)``, remembered for string values."""
    if type(value) is not str:
        return normalize(kind, value)
    key = (kind, value)
    v = _normalized.get(key, "")
    if v == "":
        if len(_normalized) >= _MEMO_SIZE:
            _normalized.clear()
        v = _normalized[key] = normalize(kind, value)
    return v


def _openid(value: object, app: object) -> str | None:
    """``normalize(wechat_openid, value, app)``, remembered for string values."""
    if type(value) is not str or type(app) is not str:
        return normalize(_K_OPENID, value, app)
    key = (value, app)
    v = _openids.get(key, "")
    if v == "":
        if len(_openids) >= _MEMO_SIZE:
            _openids.clear()
        v = _openids[key] = normalize(_K_OPENID, value, app)
    return v


def _from_context(raw: bytes, found: list[Key]) -> None:
    try:
        typed = _typed_context_decoder.decode(raw)
    except msgspec.ValidationError:  # valid JSON of another shape
        pass
    except msgspec.DecodeError:
        return
    else:
        _from_typed_context(typed, found)
        return
    try:
        context = _context_decoder.decode(raw)
    except msgspec.DecodeError:  # includes ValidationError: not a JSON object
        return
    device = context.device
    if isinstance(device, dict) and "id" in device:
        v = _norm(_K_DEVICE, device["id"])
        if v:
            found.append((_K_DEVICE, v))
    ctx_traits = context.traits
    if isinstance(ctx_traits, dict):
        _from_traits(ctx_traits, found)
    external = context.externalIds
    if isinstance(external, list):
        for entry in external[:20]:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("type")
            if kind not in KINDS:
                continue
            if kind == _K_OPENID:
                v = _openid(entry.get("id"), entry.get("collection"))
            else:
                v = normalize(kind, entry.get("id"))
            if v:
                found.append((kind, v))


def _from_typed_context(context: _TypedContext, found: list[Key]) -> None:
    """:func:`_from_context` on a context that decoded into structs (the same reads, as attributes)."""
    device = context.device
    if device is not None and device.id is not msgspec.UNSET:
        v = _norm(_K_DEVICE, device.id)
        if v:
            found.append((_K_DEVICE, v))
    if isinstance(context.traits, dict):
        _from_traits(context.traits, found)
    external = context.externalIds
    if external is not None:
        for entry in external[:20]:
            kind = entry.type
            if kind not in KINDS:
                continue
            v = _openid(entry.id, entry.collection) if kind == _K_OPENID else normalize(kind, entry.id)
            if v:
                found.append((kind, v))


def ordered(found: list[Key]) -> list[Key]:
    n = len(found)
    if n < 2:
        return list(found)
    if n == 2:  # the common case (user id and anonymous id): no sort
        a, b = found
        if a == b:
            return [a]
        return [b, a] if PRIORITY[b[0]] < PRIORITY[a[0]] else [a, b]
    seen: set[Key] = set()
    out = []
    for key in sorted(found, key=lambda k: PRIORITY[k[0]]):  # stable: equal priorities keep their order
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def observe(message_id: str, channel: str, type_: str, anonymous_id: str | None, user_id: str | None,
            previous_id: str | None, at_us: int, traits_raw: object, context_raw: object) -> Observation:
    found: list[Key] = []
    anchor: Key | None = None
    uid = _norm(_K_USER, user_id) if user_id is not None else None
    if uid:
        anchor = (_K_USER, uid)
        found.append(anchor)
    aid = _norm(_K_ANONYMOUS, anonymous_id) if anonymous_id is not None else None
    if aid:
        key = (_K_ANONYMOUS, aid)
        found.append(key)
        if anchor is None:
            anchor = key
    traits: dict[str, Any] = {}
    if type_ == "identify":
        traits = _obj(traits_raw)
        _from_traits(traits, found)
    previous = normalize(_K_ANONYMOUS, previous_id) if type_ == "alias" and previous_id is not None else None
    if context_raw:
        raw = context_raw if isinstance(context_raw, bytes) else \
            context_raw.encode() if isinstance(context_raw, str) else None
        if raw is not None and (b'"device"' in raw or b'"externalIds"' in raw or b'"traits"' in raw):
            _from_context(raw, found)
    ids = ordered(found)
    return Observation(message_id, channel, at_us, ids, type_, anchor or (ids[0] if ids else None), traits, previous)


# Column positions in a decoded bus message (warehouse.record.COLUMNS).
_MID, _SOURCE, _CHANNEL, _TYPE, _ANON, _USER, _PREV, _TS, _TRAITS, _CONTEXT = 0, 1, 2, 3, 5, 6, 8, 9, 14, 15


class _Columns(msgspec.Struct, array_like=True):
    """The columns of a bus message (``warehouse.record.COLUMNS``) that identity reads; the others are
    skipped undecoded, and later columns are ignored."""

    message_id: list[Any]
    source_id: msgspec.Raw
    channel: list[Any]
    type: list[Any]
    event: msgspec.Raw
    anonymous_id: list[Any]
    user_id: list[Any]
    group_id: msgspec.Raw
    previous_id: list[Any]
    timestamp: list[Any]
    original_timestamp: msgspec.Raw = msgspec.Raw(b"")
    sent_at: msgspec.Raw = msgspec.Raw(b"")
    received_at: msgspec.Raw = msgspec.Raw(b"")
    properties: msgspec.Raw = msgspec.Raw(b"")
    traits: list[Any] = []
    context: list[Any] = []


assert [name for name, _ in COLUMNS[:len(_Columns.__struct_fields__)]] == list(_Columns.__struct_fields__)
_columns_decoder = msgspec.msgpack.Decoder(_Columns)


def observe_message(body: bytes) -> list[Observation]:
    """Observations for every event of an encoded bus message, in order (what :func:`observe_columns` gives
    for its decoded columns, without decoding the columns identity does not read)."""
    c = _columns_decoder.decode(body)
    n = len(c.message_id)
    traits = c.traits if len(c.traits) == n else [None] * n  # a message older than these columns
    context = c.context if len(c.context) == n else [None] * n
    mids, channels, types, anons, users, prevs, stamps = (c.message_id, c.channel, c.type, c.anonymous_id,
                                                          c.user_id, c.previous_id, c.timestamp)
    return [observe(mids[i], channels[i], types[i], anons[i], users[i], prevs[i], stamps[i], traits[i], context[i])
            for i in range(n)]


def observe_columns(columns: list[list[Any]]) -> list[Observation]:
    """Observations for every event of a decoded bus message, in order."""
    c = columns
    return [
        observe(c[_MID][i], c[_CHANNEL][i], c[_TYPE][i], c[_ANON][i], c[_USER][i], c[_PREV][i], c[_TS][i],
                c[_TRAITS][i], c[_CONTEXT][i])
        for i in range(len(c[_MID]))
    ]


_JUNK_MAX = max(map(len, JUNK))
_ZERO_OR_DASH = frozenset("0-_.")


def plain_id(value: object) -> bool:
    """Whether ``value`` is a user id or anonymous id as it stands (``normalize`` returns it unchanged): a
    string, not padded, not junk. :func:`~siyu.identity.kinds.is_junk` spelled out for an unpadded string,
    with its cheapest tests first."""
    if type(value) is not str or not value or len(value) > MAX_LENGTH or value[0].isspace() \
            or value[-1].isspace():
        return False
    if len(value) <= _JUNK_MAX and value.lower() in JUNK:
        return False
    return value[0] not in _ZERO_OR_DASH or not ZEROS_OR_DASHES.match(value)


def event_anchors(columns: list[list[Any]]) -> list[tuple[str, str, str, str]]:
    """``(source_id, message_id, kind, value)`` for each event of decoded columns whose person the event store
    cannot find through the event's own ``user_id`` or ``anonymous_id`` columns: neither is an identifier (a
    junk anonymousId such as ``0`` and no userId), yet the event carries another one (``context.device.id``,
    a phone in traits, an ``externalIds`` entry). The identifier is the one resolution anchors the event to
    (:func:`observe`), so the event follows that identifier's person through merges and unmerges. Events
    whose ``user_id`` or ``anonymous_id`` is an identifier (nearly all) cost a few string tests."""
    c = columns
    users, anons = c[_USER], c[_ANON]
    out: list[tuple[str, str, str, str]] = []
    for i in range(len(users)):
        user, anon = users[i], anons[i]
        if plain_id(user):
            continue  # found through user_id
        if plain_id(anon) and (user is None or _norm(_K_USER, user) is None):
            continue  # found through anonymous_id
        anchor = observe(c[_MID][i], c[_CHANNEL][i], c[_TYPE][i], anon, user, c[_PREV][i], 0, c[_TRAITS][i],
                         c[_CONTEXT][i]).anchor
        if anchor is not None:
            out.append((c[_SOURCE][i], c[_MID][i], anchor[0], anchor[1]))
    return out
