"""Imported order history (``siyu import orders``) feeds RFM and lifetime value like live orders do."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from siyu.analytics.engine import Analytics
from siyu.analytics.value import clv, rfm
from siyu.analytics.value.schemas import RfmQuery
from tests.conftest import make_settings, open_api
from tests.imports.helpers import ORDER_HEADER, Cli, write_csv

EXPORT = [  # order id, phone, time (Asia/Shanghai), amount, quantity, SKU, title, channel, currency
    ["A1", "13800138000", "2024-03-01 10:00:00", "100.00", "1", "TEA-1", "龙井", "小程序", "CNY"],
    ["A2", "13800138000", "2024-03-01 21:00:00", "50.00", "1", "TEA-2", "红茶", "小程序", "CNY"],  # same day
    ["A3", "13800138000", "2024-03-11 09:00:00", "200.00", "1", "TEA-1", "龙井", "官网", "CNY"],
    ["A4", "13800138000", "2024-03-21 23:30:00", "300.00", "1", "TEA-3", "普洱", "app", "CNY"],
    ["B1", "13900139000", "2024-02-01 12:00:00", "80.00", "1", "TEA-2", "红茶", "官网", "CNY"],
    ["C1", "13700137000", "2024-01-01 08:00:00", "10.00", "1", "CUP-1", "杯", "app", "CNY"],
    ["C2", "13700137000", "2024-03-31 00:30:00", "30.00", "1", "CUP-1", "杯", "app", "CNY"],
]


def test_imported_orders_are_order_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    with open_api(make_settings(tmp_path, database_url=url)) as api:
        cli = Cli({"SIYU_DATABASE_URL": url, "SIYU_DATA_DIR": str(tmp_path / "cli-data")})
        summary = cli.orders(write_csv(tmp_path / "orders.csv", ORDER_HEADER, EXPORT))
        assert summary["imported"] == 7
        api.drain()
        an = Analytics.of(api.runtime.warehouse)
        c = clv.customers(an, date(2024, 3, 31))
        report = rfm.rfm(an, RfmQuery(as_of=date(2024, 3, 31), window_days=366, members=10))
    # three persons (by phone), in person-id order; summarise by x to compare
    got = sorted(zip(c.x.tolist(), c.t_x.tolist(), c.T.tolist(), c.m.tolist(), strict=True))
    assert got == [(0, 0, 59, 0), (1, 90, 90, 3000), (2, 20, 30, 25000)]
    by_frequency = sorted((m.frequency, m.monetary_fen, m.recency_days) for m in report.members)
    assert by_frequency == [(1, 8000, 59), (2, 4000, 0), (4, 65000, 10)]
