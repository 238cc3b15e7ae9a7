"""Reading acquisition spend CSV files."""

from __future__ import annotations

from datetime import date

import pytest

from siyu.analytics.value.errors import BadSpendFile
from siyu.analytics.value.spend import parse_csv


def test_amounts_in_fen_or_yuan_and_a_bom() -> None:
    rows = parse_csv("\ufeffChannel,Campaign,Start,End,Amount,Note\n"
                     "paid_search,spring,2026-03-01,2026-03-31,\"12,345.6\",baidu\n"
                     "\n"
                     "social,,2026-03-01,2026-03-01,0.05,\n")
    assert [(r.channel, r.campaign, r.start, r.end, r.amount_fen, r.currency, r.note) for r in rows] == [
        ("paid_search", "spring", date(2026, 3, 1), date(2026, 3, 31), 1234560, "CNY", "baidu"),
        ("social", None, date(2026, 3, 1), date(2026, 3, 1), 5, "CNY", ""),
    ]


def test_every_bad_row_is_reported_and_nothing_is_read() -> None:
    text = ("channel,start,end,amount_fen,currency\n"
            "a,2026-03-01,2026-03-31,100,cny\n"  # fine (currency upper-cased)
            "b,2026-03-01,2026-03-31,1.5,CNY\n"  # fen must be whole
            "c,2026-03-31,2026-03-01,100,CNY\n"  # ends before it starts
            ",2026-03-01,2026-03-31,100,CNY\n")  # no channel
    with pytest.raises(BadSpendFile) as err:
        parse_csv(text)
    assert [e["line"] for e in err.value.details["errors"]] == [3, 4, 5]
    with pytest.raises(BadSpendFile) as err:
        parse_csv("channel,start,end,amount\nx,2026-03-01,2026-03-01,1.234\n")
    assert "two decimals" in err.value.details["errors"][0]["reason"]


def test_the_header_is_checked() -> None:
    with pytest.raises(BadSpendFile) as err:
        parse_csv("channel,from,to,cost\nx,2026-03-01,2026-03-01,1\n")
    assert err.value.details == {"missing": ["amount_fen", "end", "start"]}
