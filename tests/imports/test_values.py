"""Cells: money without floats, times in several formats and zones, identifiers, currencies."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from siyu.identity.kinds import normalize
from siyu.imports import values as v
from siyu.imports.errors import BadMapping


@pytest.mark.parametrize(("raw", "code", "unit", "minor"), [
    ("199.00", "CNY", "yuan", 19900), ("199", "CNY", "yuan", 19900), ("1,299.50", "CNY", "yuan", 129950),
    ("¥ 99.9", "CNY", "yuan", 9990), (".5", "CNY", "yuan", 50), ("0", "CNY", "yuan", 0),
    ("19900", "CNY", "fen", 19900), ("1500", "JPY", "yuan", 1500), ("1.234", "KWD", "yuan", 1234),
    ("1e3", "CNY", "yuan", 100000), ("0.1", "CNY", "yuan", 10),
])
def test_amounts_are_exact_minor_units(raw: str, code: str, unit: str, minor: int) -> None:
    assert v.amount(raw, code, unit) == minor


@pytest.mark.parametrize(("raw", "code", "unit", "error"), [
    ("-1", "CNY", "yuan", "negative_amount"), ("12.345", "CNY", "yuan", "bad_amount"),
    ("1.5", "JPY", "yuan", "bad_amount"), ("12.5", "CNY", "fen", "bad_amount"), ("1,5", "CNY", "yuan", "bad_amount"),
    ("abc", "CNY", "yuan", "bad_amount"), ("NaN", "CNY", "yuan", "bad_amount"), ("", "CNY", "yuan", "missing_value"),
    ("inf", "CNY", "yuan", "bad_amount"),
])
def test_bad_amounts_are_refused(raw: str, code: str, unit: str, error: str) -> None:
    with pytest.raises(v.RowError) as err:
        v.amount(raw, code, unit)
    assert err.value.code == error


def test_times_in_several_formats_land_in_utc() -> None:
    times = v.Times(["iso", "%Y/%m/%d %H:%M", "%d.%m.%Y", "unix"], v.zone("Asia/Shanghai"))
    expected = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
    for raw in ("2024-03-01 10:00:00", "2024-03-01T10:00", "2024/03/01 10:00", "2024/3/1 10:00",
                "2024-03-01T02:00:00Z", "2024-03-01T11:00:00+09:00", "1709258400", "1709258400000"):
        assert times.parse(raw) == expected, raw
    assert times.parse("01.03.2024") == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)
    for raw in ("2024-02-30", "2024/03/01 10:00:00.5", "yesterday", "2999-01-01"):
        with pytest.raises(v.RowError) as err:
            times.parse(raw)
        assert err.value.code == "bad_date", raw


def test_identifiers_currencies_channels_and_quantities() -> None:
    ids = v.Identifiers(app_id="wxapp")
    assert ids.key("phone", " 138-0013-8000 ", "customer") == ("phone", "+8613800138000")
    assert ids.key("wechat_openid", "oXYZ", "customer") == ("wechat_openid", "wxapp:oXYZ")
    assert ids.key("email", "A@B.CN", "customer") == ("email", "a@b.cn")
    for kind, raw in (("phone", "12345"), ("user_id", "undefined"), ("email", "nobody"), ("fax", "1")):
        with pytest.raises(v.RowError):
            ids.key(kind, raw, "customer")
    assert [v.currency(c) for c in ("cny", "RMB", "usd", " jpy ")] == ["CNY", "CNY", "USD", "JPY"]
    with pytest.raises(v.RowError):
        v.currency("BTC")
    with pytest.raises(BadMapping):
        v.check_currency("XXX")
    assert [v.channel(c, "web") for c in ("小程序", "APP", "", "官网")] == ["miniprogram", "app", "web", "web"]
    assert [v.quantity(q) for q in ("", "3", "2.0")] == [1, 3, 2]
    for q in ("0", "1.5", "-2", "x"):
        with pytest.raises(v.RowError):
            v.quantity(q)


def test_the_mainland_mobile_shortcut_agrees_with_normalize() -> None:
    rnd = random.Random(4)
    taken = 0
    for prefix in range(100, 200):
        for _ in range(40):
            raw = f"{prefix}{rnd.randrange(10**8):08d}"
            fast = v.cn_mobile(raw)
            if fast is not None:
                taken += 1
                assert fast == normalize("phone", raw), raw
    assert taken > 1000  # most mainland mobile prefixes take it
    assert v.cn_mobile("+86 138 0013 8000") is None and v.cn_mobile("1380013800") is None
    assert v.cn_mobile("１３８００１３８０００") is None  # full-width digits: normalize decides
