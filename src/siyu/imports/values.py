"""Parsing one cell: money (never floats), times, quantities, identifiers and channels. A bad value raises
:class:`RowError` with a stable code and a reason an operator can act on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from siyu.identity.kinds import KINDS, Kind, normalize
from siyu.imports.currencies import minor_digits
from siyu.imports.errors import BadMapping
from siyu.kit.clock import utcnow

ISO = "iso"  # the --date-format name of ISO-8601 (2024-03-01, 2024-03-01 10:00:00, 2024-03-01T10:00:00+08:00, ...)
UNIX = "unix"  # seconds (or milliseconds) since 1970
# Without --date-format: ISO-8601, and the slashed forms spreadsheets and Chinese shop systems export.
DEFAULT_FORMATS = (ISO, "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
# Formats fromisoformat() reads once their slashes are dashes, each with the pattern of its zero-padded form
_ISO_LIKE = {f"%Y{sep}%m{sep}%d{rest}": re.compile(
    "[1-9][0-9]{3}" + f"{sep}[0-9][0-9]{sep}[0-9][0-9]" + rest.replace("%H", "[0-9][0-9]").replace("%M", "[0-9][0-9]")
    .replace("%S", "[0-9][0-9]") + r"\Z") for sep in "-/" for rest in ("", " %H:%M", " %H:%M:%S", "T%H:%M:%S")}
AMOUNT_UNITS = ("yuan", "fen")  # major units (yuan, dollars: "199.00") or minor units (fen, cents: "19900")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_SYMBOLS = str.maketrans("", "", "¥￥$€£ \u00a0")
CHANNELS = {"miniprogram": "miniprogram", "mini-program": "miniprogram", "mini_program": "miniprogram",
            "wechat": "miniprogram", "小程序": "miniprogram", "web": "web", "website": "web", "h5": "web",
            "pc": "web", "网站": "web", "官网": "web", "商城": "web", "app": "app", "ios": "app", "android": "app"}


class RowError(Exception):
    """Why one row cannot be imported."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def required(raw: str, label: str) -> str:
    v = raw.strip()
    if not v:
        raise RowError("missing_value", f"{label} is empty")
    return v


def currency(raw: str) -> str:
    code = raw.strip().upper()
    if code in ("RMB", "CNH", "元", "人民币"):
        code = "CNY"
    if minor_digits(code) is None:
        raise RowError("unknown_currency", f"unknown currency {raw.strip()!r} (an ISO 4217 code such as CNY)")
    return code


def check_currency(code: str) -> str:
    """A currency given as an option (--currency): a bad one stops the import before it starts."""
    try:
        return currency(code)
    except RowError as err:
        raise BadMapping(err.reason, details={"currency": code}) from err


def amount(raw: str, code: str, unit: str, label: str = "amount") -> int:
    """An amount in the currency's minor units (fen). ``unit`` says how the file writes it."""
    digits = (minor_digits(code) or 0) if unit == "yuan" else 0
    whole, dot, part = raw.partition(".")
    if whole.isascii() and whole.isdigit() and (not dot or (part.isascii() and part.isdigit() and len(part) <= digits)):
        scale: int = 10**digits  # "199.00", plain digits: exact without Decimal
        return int(whole) * scale + (int(part.ljust(digits, "0")) if part else 0)
    s = required(raw, label).translate(_SYMBOLS)
    if "," in s:
        if not _GROUPED.match(s.lstrip("-")):
            raise RowError("bad_amount", f"{label} {raw.strip()!r} is not a number")
        s = s.replace(",", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise RowError("bad_amount", f"{label} {raw.strip()!r} is not a number") from None
    if not value.is_finite():
        raise RowError("bad_amount", f"{label} {raw.strip()!r} is not a number")
    if value < 0:
        raise RowError("negative_amount", f"{label} {raw.strip()!r} is negative")
    minor = value.scaleb(minor_digits(code) or 0) if unit == "yuan" else value
    if minor != minor.to_integral_value():
        what = f"more decimals than {code} has" if unit == "yuan" else "a fraction of a minor unit"
        raise RowError("bad_amount", f"{label} {raw.strip()!r} has {what}")
    return int(minor)


def quantity(raw: str) -> int:
    s = raw.strip()
    if not s:
        return 1
    try:
        q = int(s)
    except ValueError:
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise RowError("bad_quantity", f"quantity {s!r} is not a whole number") from None
        if not d.is_finite() or d != d.to_integral_value():
            raise RowError("bad_quantity", f"quantity {s!r} is not a whole number") from None
        q = int(d)
    if not 1 <= q <= 1_000_000:
        raise RowError("bad_quantity", f"quantity {s!r} is not between 1 and 1,000,000")
    return q


def channel(raw: str, default: str) -> str:
    s = raw.strip()
    if not s:
        return default
    found = CHANNELS.get(s.lower())
    if found is None:
        raise RowError("bad_channel", f"channel {s!r} is not miniprogram, web or app")
    return found


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise BadMapping(f"Unknown time zone {name!r}.", details={"timezone": name}) from err


class Times:
    """Parses times in the given formats (tried in order, the last one that worked first); a time without
    a zone is in ``tz``. Returns UTC."""

    def __init__(self, formats: list[str], tz: ZoneInfo, max_ahead: timedelta = timedelta(days=1)) -> None:
        self.formats = list(formats) or list(DEFAULT_FORMATS)
        self.tz = tz
        self.latest = utcnow() + max_ahead
        self._first = 0

    def _one(self, fmt: str, s: str) -> datetime:
        if fmt == ISO:
            return datetime.fromisoformat(s)
        padded = _ISO_LIKE.get(fmt)
        if padded is not None:  # strptime takes ~7 µs; this under 1 µs
            if padded.match(s):  # zero-padded, in this format exactly (what strftime(fmt) writes)
                return datetime.fromisoformat(s.replace("/", "-", 2))
            try:
                datetime.fromisoformat(s.replace("/", "-", 2))
            except ValueError:
                pass  # maybe without zero padding (2024/3/1): strptime decides
            else:  # a time, but not in this format
                raise ValueError(s)
        if fmt == UNIX:
            n = Decimal(s)
            return datetime.fromtimestamp(float(n / 1000 if n > 100_000_000_000 else n), UTC)
        return datetime.strptime(s, fmt)

    def parse(self, raw: str, label: str = "time") -> datetime:
        s = required(raw, label)
        n = len(self.formats)
        for i in range(n):
            k = (self._first + i) % n
            try:
                dt = self._one(self.formats[k], s)
            except (ValueError, ArithmeticError):
                continue
            self._first = k
            dt = dt.replace(tzinfo=self.tz) if dt.tzinfo is None else dt
            at = dt.astimezone(UTC)
            if at > self.latest:
                raise RowError("bad_date", f"{label} {s!r} is in the future")
            return at
        shown = ", ".join("ISO-8601" if f == ISO else f for f in self.formats)
        raise RowError("bad_date", f"{label} {s!r} does not match {shown}")


_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
assert _CN is not None and _CN.mobile is not None
_CN_MOBILE = re.compile(str(_CN.mobile.national_number_pattern))
_CN_TRUNK = re.compile(str(_CN.national_prefix_for_parsing))


def cn_mobile(s: str) -> str | None:
    """``kinds.normalize("phone", s)`` of a bare 11-digit mainland mobile number (what most exports hold),
    without parsing it (~30 µs): the number matches the mobile pattern of phonenumbers' own metadata for CN
    (so it is valid) and no trunk or carrier prefix for phonenumbers to strip. None: ask ``normalize``."""
    if len(s) == 11 and s.isascii() and s.isdigit() and _CN_MOBILE.fullmatch(s) and not _CN_TRUNK.match(s):
        return "+86" + s
    return None


class Identifiers:
    """``kinds.normalize`` with a memory (exports repeat their customers; a phone takes ~30 µs to check)."""

    def __init__(self, app_id: str | None = None, size: int = 1_000_000) -> None:
        self.app_id = app_id
        self.size = size
        self._memo: dict[tuple[str, str], str | None] = {}

    def key(self, kind: str, raw: str, label: str) -> tuple[str, str]:
        s = raw.strip()
        if not s:
            raise RowError("missing_value", f"{label} is empty")
        memo = (kind, s)
        v = self._memo.get(memo, "")
        if v == "":
            if kind not in KINDS:
                raise RowError("bad_identifier", f"{label}: unknown identifier kind {kind!r}")
            app = self.app_id if kind == Kind.wechat_openid and ":" not in s else None
            v = (kind == Kind.phone and cn_mobile(s)) or normalize(kind, s, app)
            if len(self._memo) >= self.size:
                self._memo.clear()
            self._memo[memo] = v
        if v is None:
            raise RowError("bad_identifier", f"{label} {s!r} is not a valid {kind}")
        return kind, v


def check_kind(kind: str, what: str) -> str:
    if kind not in KINDS:
        raise BadMapping(f"{what}: unknown identifier kind {kind!r} (one of {', '.join(sorted(KINDS))}).",
                         details={"kind": kind})
    return kind
