"""Property filters compile to the same answers on DuckDB and ClickHouse (chdb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from siyu.analytics.behaviour.errors import InvalidFilter
from siyu.analytics.behaviour.filters import PropertyFilter, compile_filter
from tests.analytics.behaviour_fixtures import at, ev
from tests.analytics.stores import KINDS, store

PROPS: list[dict[str, Any]] = [
    {"category": "tea", "price": 12, "vip": True, "note": "green tea"},
    {"category": "coffee", "price": 30.5, "vip": False},
    {"category": "tea", "price": "12"},
    {"price": None},
    {},
]
CASES: list[tuple[dict[str, Any], list[int]]] = [
    ({"property": "category", "value": "tea"}, [0, 2]),
    ({"property": "category", "op": "neq", "value": "tea"}, [1, 3, 4]),
    ({"property": "category", "op": "in", "value": ["tea", "coffee"]}, [0, 1, 2]),
    ({"property": "note", "op": "contains", "value": "green"}, [0]),
    ({"property": "price", "op": "gt", "value": 20}, [1]),
    ({"property": "price", "op": "lt", "value": 20}, [0]),  # "12" is text, not a number
    ({"property": "price", "value": 12}, [0]),
    ({"property": "price", "value": "12"}, [0, 2]),  # as text: the number 12 reads "12" too
    ({"property": "price", "op": "in", "value": [12, 30.5]}, [0, 1]),
    ({"property": "price", "op": "is_set"}, [0, 1, 2]),  # null is not set
    ({"property": "price", "op": "is_set", "value": False}, [3, 4]),
    ({"property": "vip", "value": True}, [0]),
    ({"property": "vip", "op": "neq", "value": True}, [1, 2, 3, 4]),
    ({"property": "channel", "value": "app"}, [4]),
    ({"property": "utm_source", "op": "is_set"}, [4]),
    ({"property": "utm_source", "op": "in", "value": ["baidu", "bing"]}, [4]),
    ({"property": "properties.category", "op": "contains", "value": "ff"}, [1]),
]


@pytest.mark.parametrize("kind", KINDS)
def test_each_operator(kind: str, tmp_path: Path) -> None:
    records = [ev(f"p{i}", at(1, 10 + i), "X", "app" if i == 4 else "web", props=p,
                  utm_source="baidu" if i == 4 else None) for i, p in enumerate(PROPS)]
    with store(kind, tmp_path, records) as an:
        for spec, want in CASES:
            cond = compile_filter(an.dialect, PropertyFilter.model_validate(spec))
            rows = an.rows(f"SELECT user_id FROM events WHERE {cond} ORDER BY user_id")
            assert [int(str(r[0])[1:]) for r in rows] == want, spec


def test_malformed_filters_are_refused() -> None:
    for spec in [{"property": "a b", "value": 1}, {"property": "x", "op": "gt", "value": "1"},
                 {"property": "x", "op": "in", "value": []}, {"property": "x", "op": "in", "value": 1},
                 {"property": "x", "op": "contains", "value": 3}, {"property": "x", "op": "eq"},
                 {"property": "x", "op": "is_set", "value": "yes"}, {"property": "x", "value": float("nan")},
                 {"property": "x", "op": "nope", "value": 1}]:
        with pytest.raises(ValidationError):
            PropertyFilter.model_validate(spec)
    from siyu.analytics.dialect import Dialect

    with pytest.raises(InvalidFilter):
        compile_filter(Dialect("duckdb"), PropertyFilter(property="channel", op="gt", value=3))
