"""The few places where DuckDB's and ClickHouse's SQL differ, as functions that return SQL text.

Analyses are written with these helpers and otherwise with SQL both engines read the same way (CTEs,
joins, GROUP BY, window functions, CASE). Literals always go through :meth:`Dialect.lit` /
:meth:`Dialect.ts_lit` (never string formatting of user input). Local dates use the brand's fixed UTC offset
(Asia/Shanghai is UTC+8 all year), so no time-zone database is needed in either engine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

Unit = Literal["day", "week", "month"]


class Dialect:
    def __init__(self, name: str, tz_offset_minutes: int = 480) -> None:
        if name not in ("duckdb", "clickhouse"):
            raise ValueError(f"unknown SQL dialect {name!r}")
        self.name = name
        self.ch = name == "clickhouse"
        self.offset = int(tz_offset_minutes)

    # -- literals ---------------------------------------------------------------------------------------
    def lit(self, value: str) -> str:
        if "\x00" in value:
            raise ValueError("NUL in a literal")
        if self.ch:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"

    def lits(self, values: list[str] | tuple[str, ...]) -> str:
        """``(v1, v2, ...)`` for IN lists (never empty: callers check)."""
        return "(" + ", ".join(self.lit(v) for v in values) + ")"

    def ts_lit(self, value: datetime) -> str:
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime64('{text}', 6, 'UTC')" if self.ch else f"TIMESTAMP '{text}'"

    def date_lit(self, value: date) -> str:
        return f"toDate('{value.isoformat()}')" if self.ch else f"DATE '{value.isoformat()}'"

    # -- time -------------------------------------------------------------------------------------------
    def epoch_us(self, col: str) -> str:
        """Microseconds since the epoch (UTC) of a timestamp column, as a 64-bit integer."""
        return f"toUnixTimestamp64Micro({col})" if self.ch else f"epoch_us({col})"

    def local_date(self, col: str) -> str:
        """The brand-local calendar date of a UTC timestamp."""
        if self.ch:
            return f"toDate({col} + INTERVAL {self.offset} MINUTE)"
        return f"CAST({col} + INTERVAL {self.offset} MINUTE AS DATE)"

    def trunc(self, unit: Unit, date_expr: str) -> str:
        """The first day of the day / ISO week (Monday) / month of a date."""
        if unit == "day":
            return date_expr
        if self.ch:
            return f"toMonday({date_expr})" if unit == "week" else f"toStartOfMonth({date_expr})"
        return f"CAST(date_trunc('{unit}', {date_expr}) AS DATE)"

    def days_between(self, a: str, b: str) -> str:
        """Whole calendar days from date ``a`` to date ``b``."""
        return f"dateDiff('day', {a}, {b})" if self.ch else f"date_diff('day', {a}, {b})"

    def periods_between(self, unit: Unit, a: str, b: str) -> str:
        """Whole periods (day/week/month) from the period starting at date ``a`` to the one at ``b``."""
        return f"dateDiff('{unit}', {a}, {b})" if self.ch else f"date_diff('{unit}', {a}, {b})"

    # -- JSON properties --------------------------------------------------------------------------------
    def json_str(self, col: str, key: str) -> str:
        """A top-level string property (NULL when absent)."""
        self._key(key)
        if self.ch:
            return f"nullIf(JSONExtractString({col}, '{key}'), '')"
        return f"json_extract_string({col}, '$.{key}')"

    def json_int(self, col: str, key: str) -> str:
        """A top-level integer property, e.g. ``total_fen`` (NULL when absent or not a number)."""
        self._key(key)
        if self.ch:
            return f"toInt64OrNull(JSONExtractRaw({col}, '{key}'))"
        return f"TRY_CAST(json_extract({col}, '$.{key}') AS BIGINT)"

    def json_float(self, col: str, key: str) -> str:
        self._key(key)
        if self.ch:
            return f"toFloat64OrNull(JSONExtractRaw({col}, '{key}'))"
        return f"TRY_CAST(json_extract({col}, '$.{key}') AS DOUBLE)"

    @staticmethod
    def _key(key: str) -> None:
        if not key.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"property names are letters, digits, '_' and '-': {key!r}")

    # -- aggregates -------------------------------------------------------------------------------------
    def count_if(self, cond: str) -> str:
        return f"countIf({cond})" if self.ch else f"count_if({cond})"

    def arg_min(self, value: str, key: str) -> str:
        return f"argMin({value}, {key})" if self.ch else f"arg_min({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"argMax({value}, {key})" if self.ch else f"arg_max({value}, {key})"

    def count_distinct(self, expr: str) -> str:
        """Exact distinct count (ClickHouse's ``uniq`` is approximate; ``uniqExact`` is not)."""
        return f"uniqExact({expr})" if self.ch else f"count(DISTINCT {expr})"

    # -- lists and URLs (added for the value analyses; usable by any) -------------------------------------
    def ordered_list(self, value: str, order: list[str] | tuple[str, ...]) -> str:
        """An aggregate: the group's ``value`` as a list, sorted by ``order`` then ``value`` (so ties are
        broken the same way on both engines). Values must not be NULL (coalesce them first)."""
        keys = ", ".join(order)
        if self.ch:
            return (f"arrayMap(x -> tupleElement(x, {len(order) + 1}), "
                    f"arraySort(groupArray(tuple({keys}, {value}))))")
        return f"list({value} ORDER BY {keys}, {value})"

    def url_host(self, col: str) -> str:
        """The lower-cased host of a URL, without a leading ``www.`` (NULL when there is none)."""
        pattern = "'^[A-Za-z][A-Za-z0-9+.-]*://(?:www[.])?([^/:?#@]+)'"
        if self.ch:
            return f"nullIf(lower(extract({col}, {pattern})), '')"
        return f"nullif(lower(regexp_extract({col}, {pattern}, 1)), '')"

    # -- added for the behaviour analyses (funnels, retention, paths, KPIs) -----------------------------
    def hash64(self, *exprs: str) -> str:
        """A 64-bit hash of one or more values, for grouping and joining on a narrow key (the engines'
        hashes differ, so it is never shown: only counts made with it are compared)."""
        args = ", ".join(exprs)
        return f"cityHash64({args})" if self.ch else f"hash({args})"

    def json_num(self, col: str, key: str) -> str:
        """A top-level property that is a JSON number, as a double (NULL when absent, null, a string or a
        boolean: both engines read the raw JSON text the same way)."""
        self._key(key)
        if self.ch:
            return f"toFloat64OrNull(JSONExtractRaw({col}, '{key}'))"
        return f"TRY_CAST(CAST(json_extract({col}, '$.{key}') AS VARCHAR) AS DOUBLE)"

    def json_has(self, col: str, key: str) -> str:
        """Whether a top-level property is present and not JSON null."""
        self._key(key)
        if self.ch:
            return f"(JSONHas({col}, '{key}') AND JSONType({col}, '{key}') != 'Null')"
        return f"coalesce(json_type({col}, '$.{key}') != 'NULL', false)"

    def contains(self, expr: str, needle_sql: str) -> str:
        """Whether text contains a substring (``needle_sql`` is a literal made with :meth:`lit`)."""
        return f"(position({expr}, {needle_sql}) > 0)" if self.ch else f"contains({expr}, {needle_sql})"

    def median_low(self, expr: str) -> str:
        """The lower median (an actual value: the ceil(n/2)-th smallest; NULLs skipped), identical on both."""
        return f"quantileExactLow(0.5)({expr})" if self.ch else f"quantile_disc({expr}, 0.5)"

    def idiv(self, a: str, b: str) -> str:
        """Integer division of two integers, truncating (identical on both for non-negative numbers)."""
        return f"intDiv({a}, {b})" if self.ch else f"(({a}) // ({b}))"
