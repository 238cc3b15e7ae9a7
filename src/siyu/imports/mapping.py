"""Column mappings and options: from flags, from a mapping file (JSON or TOML, with the flags' names as
keys: ``col_customer = "手机号"``, ``customer_kind = "phone"``, ``date_format = ["%Y/%m/%d %H:%M"]``, and for
members ``[ids]`` and ``[traits]`` tables of name -> column), or both (flags win)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siyu.identity.kinds import Kind
from siyu.imports.errors import BadMapping
from siyu.imports.values import AMOUNT_UNITS, CHANNELS, DEFAULT_FORMATS, check_currency, check_kind, zone

ORDER_COLUMNS = ("customer", "customer_kind", "order_id", "time", "amount", "quantity", "currency", "sku", "title",
                 "channel")
ORDER_OPTIONS = ("customer_kind", "date_format", "timezone", "currency", "amount_unit", "channel", "source",
                 "app_id")
MEMBER_COLUMNS = ("joined_at", "channel")
MEMBER_OPTIONS = ("ids", "traits", "date_format", "timezone", "channel", "source", "app_id", "as_of")
MEMBER_CHANNELS = ("miniprogram", "web", "app", "server")


def load_file(path: Path) -> dict[str, Any]:
    """A mapping file: JSON (``.json``) or TOML (anything else), keys spelled like the flags."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise BadMapping(f"Cannot read the mapping file {path}: {err}", details={"mapping": str(path)}) from err
    if not isinstance(data, dict):
        raise BadMapping("The mapping file must hold an object of keys.", details={"mapping": str(path)})
    return {str(k).lstrip("-").replace("-", "_"): v for k, v in data.items()}


def merge(from_file: Mapping[str, Any], flags: Mapping[str, Any], columns: Sequence[str],
          options: Sequence[str]) -> dict[str, Any]:
    allowed = {f"col_{c}" for c in columns} | set(options)
    unknown = sorted(set(from_file) - allowed)
    if unknown:
        raise BadMapping(f"Unknown keys in the mapping file: {', '.join(unknown)}.",
                         details={"unknown": unknown, "allowed": sorted(allowed)})
    out = dict(from_file)
    for k, v in flags.items():
        if v is not None and v != [] and v != {}:
            out[k] = v
    return out


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadMapping(f"{key} must be a non-empty text.", details={"key": key})
    return value.strip()


def _formats(value: Any) -> list[str]:
    if value is None:
        return list(DEFAULT_FORMATS)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise BadMapping("date_format must be a format or a list of formats.", details={"key": "date_format"})
    return [_str(v, "date_format") for v in items]


def pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    """``NAME=COLUMN`` flags (``--id phone=手机号``, ``--trait city=城市``) as a dict."""
    out: dict[str, str] = {}
    for item in values or ():
        name, eq, column = item.partition("=")
        if not eq or not name.strip() or not column.strip():
            raise BadMapping(f"{what} {item!r} must look like NAME=COLUMN.", details={"value": item})
        out[name.strip()] = column.strip()
    return out


@dataclass
class OrderOptions:
    columns: dict[str, str]  # mapped field -> header name
    customer_kind: str | None
    date_formats: list[str]
    timezone: str
    currency: str
    amount_unit: str
    channel: str
    source: str
    app_id: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        return asdict(self)


def order_options(values: Mapping[str, Any], default_source: str) -> OrderOptions:
    columns = {c: _str(values[f"col_{c}"], f"col_{c}") for c in ORDER_COLUMNS if values.get(f"col_{c}")}
    for needed in ("customer", "time", "amount"):
        if needed not in columns:
            raise BadMapping(f"Say which column holds the {needed.replace('_', ' ')} (--col-{needed}).",
                             details={"missing": f"col_{needed}"})
    kind = values.get("customer_kind")
    if kind is not None:
        kind = check_kind(_str(kind, "customer_kind"), "customer_kind")
    elif "customer_kind" not in columns:
        raise BadMapping("Say what kind of identifier the customer column holds (--customer-kind phone, email, "
                         "user_id, ...) or which column holds the kind (--col-customer-kind).",
                         details={"missing": "customer_kind"})
    unit = str(values.get("amount_unit") or "yuan")
    if unit not in AMOUNT_UNITS:
        raise BadMapping(f"amount_unit must be one of {', '.join(AMOUNT_UNITS)}.", details={"amount_unit": unit})
    channel = str(values.get("channel") or "miniprogram")
    if CHANNELS.get(channel.lower()) is None:
        raise BadMapping(f"Unknown channel {channel!r} (miniprogram, web or app).", details={"channel": channel})
    tz = str(values.get("timezone") or "Asia/Shanghai")
    zone(tz)
    source = _str(values.get("source") or default_source, "source")[:64]
    return OrderOptions(columns=columns, customer_kind=kind, date_formats=_formats(values.get("date_format")),
                        timezone=tz, currency=check_currency(str(values.get("currency") or "CNY")),
                        amount_unit=unit, channel=CHANNELS[channel.lower()], source=source,
                        app_id=values.get("app_id") or None)


@dataclass
class MemberOptions:
    ids: dict[str, str]  # identifier kind -> header name
    traits: dict[str, str]  # trait name -> header name
    columns: dict[str, str] = field(default_factory=dict)  # joined_at, channel -> header name
    date_formats: list[str] = field(default_factory=lambda: list(DEFAULT_FORMATS))
    timezone: str = "Asia/Shanghai"
    channel: str = "server"
    source: str = "members"
    app_id: str | None = None
    as_of: str | None = None  # when the traits were true (ISO-8601); the file's modification time if None

    def fingerprint(self) -> dict[str, Any]:
        return asdict(self)


def _table(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMapping(f"{key} must be a table of NAME = COLUMN.", details={"key": key})
    return {str(k): _str(v, f"{key}.{k}") for k, v in value.items()}


def member_options(values: Mapping[str, Any], default_source: str) -> MemberOptions:
    ids = _table(values.get("ids"), "ids")
    if not ids:
        raise BadMapping("Say which columns hold identifiers (--id phone=手机号 --id email=邮箱 ...).",
                         details={"missing": "ids"})
    for kind in ids:
        check_kind(kind, "--id")
    if Kind.anonymous_id in ids:
        raise BadMapping("Members are imported by identifiers a person owns, not anonymous ids.",
                         details={"kind": "anonymous_id"})
    traits = _table(values.get("traits"), "traits")
    columns = {c: _str(values[f"col_{c}"], f"col_{c}") for c in MEMBER_COLUMNS if values.get(f"col_{c}")}
    channel = str(values.get("channel") or "server")
    if channel not in MEMBER_CHANNELS:
        raise BadMapping(f"Unknown channel {channel!r} ({', '.join(MEMBER_CHANNELS)}).", details={"channel": channel})
    tz = str(values.get("timezone") or "Asia/Shanghai")
    zone(tz)
    return MemberOptions(ids=ids, traits=traits, columns=columns, date_formats=_formats(values.get("date_format")),
                         timezone=tz, channel=channel, source=_str(values.get("source") or default_source,
                                                                   "source")[:64],
                         app_id=values.get("app_id") or None, as_of=values.get("as_of") or None)


def bind(header: Sequence[str], wanted: Mapping[str, str]) -> dict[str, int]:
    """The position of each mapped column in the header (exact name first, then ignoring case)."""
    names = [h.strip() for h in header]
    lower = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    exact = {n: i for i, n in reversed(list(enumerate(names)))}
    out: dict[str, int] = {}
    missing = []
    for key, name in wanted.items():
        i = exact.get(name, lower.get(name.lower()))
        if i is None:
            missing.append(name)
        else:
            out[key] = i
    if missing:
        raise BadMapping(f"The file has no column {', '.join(repr(m) for m in missing)}; its columns are "
                         f"{', '.join(repr(n) for n in names)}.", details={"missing": missing, "header": names})
    return out
