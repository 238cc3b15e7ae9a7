"""Property filters on events: a small validated language compiled to SQL on either engine.

A filter is ``{"property": ..., "op": ..., "value": ...}``:

- ``property`` is an event column (:data:`COLUMNS`: channel, UTM fields, scene, page URL, ...) or else a
  top-level key of the event's ``properties`` (``total_fen``, ``category``, ...); ``properties.<key>`` always
  means the JSON key, even when a column has the same name;
- ``op`` is ``eq``, ``neq`` (also true when the property is absent), ``in``, ``contains`` (text),
  ``gt`` / ``lt`` (numbers) or ``is_set`` (present and not null; ``value`` is then ``true`` or ``false``);
- a text value compares with the property as text, a number value with the property as a JSON number.

Values only ever reach SQL as literals (:meth:`Dialect.lit`, numbers formatted by Python); property names
are checked against a strict pattern. Several filters on one step all have to hold.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from siyu.analytics.behaviour.errors import InvalidFilter
from siyu.analytics.dialect import Dialect

# Event columns a filter (or a breakdown) may name; everything else is a JSON property.
COLUMNS = ("channel", "source_id", "type", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
           "scene", "page_url", "referrer")
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
Scalar = str | int | float | bool


class Op(StrEnum):
    eq = "eq"
    neq = "neq"
    in_ = "in"
    contains = "contains"
    gt = "gt"
    lt = "lt"
    is_set = "is_set"


class PropertyFilter(BaseModel):
    property: str = Field(min_length=1, max_length=80, examples=["category"])
    op: Op = Op.eq
    value: Scalar | list[str | int | float] | None = None

    @model_validator(mode="after")
    def _check(self) -> PropertyFilter:
        name = self.property.removeprefix("properties.")
        if not _KEY.match(name):
            raise ValueError("a property is letters, digits, '_' or '-' (at most 64)")
        v = self.value
        if self.op is Op.is_set:
            if v is not None and not isinstance(v, bool):
                raise ValueError("is_set takes true, false or no value")
        elif self.op is Op.in_:
            if not isinstance(v, list) or not v or len(v) > 1000:
                raise ValueError("'in' takes a list of 1 to 1000 values")
        elif v is None or isinstance(v, list):
            raise ValueError(f"'{self.op.value}' takes one value")
        elif self.op in (Op.gt, Op.lt) and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValueError(f"'{self.op.value}' compares numbers")
        elif self.op is Op.contains and not isinstance(v, str):
            raise ValueError("'contains' takes text")
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError("numbers must be finite")
            if isinstance(x, str) and (len(x) > 1000 or "\x00" in x):
                raise ValueError("text values are at most 1000 characters")
        return self

    def describe(self) -> str:
        return f"{self.property} {self.op.value} {self.value!r}"


def _num(v: int | float) -> str:
    return repr(int(v)) if isinstance(v, int) else repr(float(v))


def _is_column(prop: str) -> bool:
    return prop in COLUMNS


def compile_filter(d: Dialect, f: PropertyFilter, props: str = "properties") -> str:
    """One filter as a SQL condition on an ``events`` row."""
    column = _is_column(f.property)
    key = f.property.removeprefix("properties.")
    v: Any = f.value

    def text() -> str:
        return key if column else d.json_str(props, key)

    def number() -> str:
        if column:
            raise InvalidFilter(f"{f.property} is text: compare it with text values", details={"filter": f.describe()})
        return d.json_num(props, key)

    def one(x: Scalar) -> str:
        if isinstance(x, bool):
            if column:
                raise InvalidFilter(f"{f.property} is text", details={"filter": f.describe()})
            return f"{d.json_str(props, key)} = {d.lit('true' if x else 'false')}"
        if isinstance(x, str):
            return f"{text()} = {d.lit(x)}"
        return f"{number()} = {_num(x)}"

    if f.op is Op.is_set:
        present = f"{key} IS NOT NULL" if column else d.json_has(props, key)
        return present if v is None or v else f"NOT ({present})"
    if f.op is Op.eq:
        return f"coalesce({one(v)}, false)"
    if f.op is Op.neq:
        return f"NOT coalesce({one(v)}, false)"
    if f.op is Op.in_:
        texts = [x for x in v if isinstance(x, str)]
        numbers = [x for x in v if not isinstance(x, str)]
        parts = []
        if texts:
            parts.append(f"{text()} IN {d.lits(texts)}")
        if numbers:
            parts.append(f"{number()} IN ({', '.join(_num(x) for x in numbers)})")
        return f"coalesce({' OR '.join(parts)}, false)"
    if f.op is Op.contains:
        return f"coalesce({d.contains(text(), d.lit(str(v)))}, false)"
    sign = ">" if f.op is Op.gt else "<"
    return f"coalesce({number()} {sign} {_num(v)}, false)"


def compile_filters(d: Dialect, filters: list[PropertyFilter]) -> list[str]:
    return [compile_filter(d, f) for f in filters]
