from __future__ import annotations

from pydantic import BaseModel, Field


class RowErrorOut(BaseModel):
    line: int = Field(description="The file line the bad row starts on (the header is line 1).")
    code: str
    reason: str


class ImportSummary(BaseModel):
    run_id: str
    kind: str
    file: str
    source: str
    rows: int = Field(description="Data rows read (blank lines are not rows).")
    imported: int
    skipped: int = Field(description="Rows imported before (by this or an earlier run): nothing was added.")
    errors: list[RowErrorOut]
    error_count: int
    errors_file: str | None
    resumed_from_line: int = Field(description="0, or the line an interrupted run had committed up to.")
    seconds: float
