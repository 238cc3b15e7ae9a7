"""Import runs in the operational database: find or start the run of a (kind, file, options), claim and
advance its checkpoint with each chunk (in the chunk's transaction), record its bad rows, finish it.

Two processes importing the same file with the same options cannot both advance the run: each chunk's
transaction begins with a conditional UPDATE of the run on the line it expects (the row lock on
PostgreSQL, the write lock on SQLite), and the one that finds the line moved stops with ``ImportBusy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, upsert
from siyu.imports.csvsource import FileInfo
from siyu.imports.errors import ImportBusy
from siyu.imports.models import ImportRowError, ImportRun
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id

RUNNING, DONE = "running", "done"
MAX_REASON = 500


@dataclass
class Run:
    id: str
    source: str
    last_line: int
    resumed_from: int  # 0 for a fresh run


@dataclass(frozen=True)
class BadRow:
    line: int
    code: str
    reason: str


def open_run(session: Session, key: str, kind: str, source: str, info: FileInfo) -> Run:
    """The unfinished run of this key (to resume), or a fresh one (a finished run starts over: importing
    the same file again finds everything imported and adds nothing)."""
    now = utcnow()
    session.execute(upsert(session, ImportRun).values(
        id=new_id(), key=key, kind=kind, source=source, file_name=str(info.path)[-500:], file_sha256=info.sha256,
        status=RUNNING, last_line=0, rows=0, imported=0, skipped=0, errors=0, started_at=now, updated_at=now,
        finished_at=None).on_conflict_do_nothing(index_elements=["key"]))
    run = session.execute(select(ImportRun.id, ImportRun.status, ImportRun.last_line)
                          .where(ImportRun.key == key)).one()
    run_id, status, last_line = run[0], run[1], int(run[2])
    if status == DONE:
        restarted = session.execute(update(ImportRun).where(ImportRun.id == run_id, ImportRun.status == DONE).values(
            status=RUNNING, last_line=0, rows=0, imported=0, skipped=0, errors=0, started_at=now, updated_at=now,
            finished_at=None, file_name=str(info.path)[-500:]))
        if not affected(restarted):
            raise ImportBusy(details={"run_id": run_id})
        session.execute(delete(ImportRowError).where(ImportRowError.run_id == run_id))
        last_line = 0
    return Run(id=run_id, source=source, last_line=last_line, resumed_from=last_line)


def claim(session: Session, run: Run) -> None:
    """First statement of a chunk's transaction: hold the run at the line this process expects."""
    stmt = (update(ImportRun).where(ImportRun.id == run.id, ImportRun.status == RUNNING,
                                    ImportRun.last_line == run.last_line).values(updated_at=utcnow()))
    if not affected(session.execute(stmt)):
        raise ImportBusy(details={"run_id": run.id})


def advance(session: Session, run: Run, last_line: int, rows: int, imported: int, skipped: int,
            bad: Sequence[BadRow]) -> None:
    """Record a chunk's outcome in its own transaction; ``run.last_line`` moves once the caller commits."""
    if bad:
        session.execute(insert(ImportRowError), [
            {"run_id": run.id, "line": b.line, "code": b.code, "reason": b.reason[:MAX_REASON]} for b in bad])
    session.execute(update(ImportRun).where(ImportRun.id == run.id).values(
        last_line=last_line, rows=ImportRun.rows + rows, imported=ImportRun.imported + imported,
        skipped=ImportRun.skipped + skipped, errors=ImportRun.errors + len(bad), updated_at=utcnow()))


def finish(session: Session, run: Run) -> None:
    now = utcnow()
    session.execute(update(ImportRun).where(ImportRun.id == run.id, ImportRun.last_line == run.last_line)
                    .values(status=DONE, finished_at=now, updated_at=now))


def totals(session: Session, run_id: str) -> tuple[int, int, int, int]:
    """(rows, imported, skipped, errors) of a run."""
    r = session.execute(select(ImportRun.rows, ImportRun.imported, ImportRun.skipped, ImportRun.errors)
                        .where(ImportRun.id == run_id)).one()
    return int(r[0]), int(r[1]), int(r[2]), int(r[3])


def bad_rows(session: Session, run_id: str) -> list[BadRow]:
    rows = session.execute(select(ImportRowError.line, ImportRowError.code, ImportRowError.reason)
                           .where(ImportRowError.run_id == run_id)
                           .order_by(ImportRowError.line, ImportRowError.id))
    return [BadRow(int(r[0]), r[1], r[2]) for r in rows]
