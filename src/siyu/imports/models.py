"""Import runs: a checkpoint per (kind, file content, options), the bad rows each run found, and the member
rows already imported (what makes a member re-import add nothing; orders have their own unique
``(import_source, external_id)``).

A run's ``last_line`` is advanced in the same transaction as the chunk it covers, so after a crash the next
run of the same command continues right after the last committed chunk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # sha256 of (kind, file content, options): the same command on the same file finds its run again
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # orders | members
    source: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | done
    last_line: Mapped[int] = mapped_column(BigInteger, default=0)  # the last file line committed
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    imported: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ImportRowError(Base):
    """A bad row of a run: its line in the file (the first line of the record) and why."""

    __tablename__ = "import_errors"
    __table_args__ = (Index("ix_import_errors_run_line", "run_id", "line"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32))
    line: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))


class ImportedMember(Base):
    """A member row (by its normalised content) imported from a source, and the person it resolved to."""

    __tablename__ = "imported_members"

    import_source: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(32))
    line: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
