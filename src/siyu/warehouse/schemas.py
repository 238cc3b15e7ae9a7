from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class QueryRequest(BaseModel):
    sql: str = Field(
        min_length=1, max_length=100_000, description="One SELECT (or WITH ... SELECT) statement."
    )
    max_rows: int | None = Field(default=None, ge=1, le=1_000_000)


class QueryResponse(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="True when the result had more rows than max_rows.")
