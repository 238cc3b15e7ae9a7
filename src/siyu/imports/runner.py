"""Running an import: the loop that owns the transactions. Each chunk of rows is one transaction that
claims the run's checkpoint, writes what the chunk imports and advances the checkpoint, so an interrupted
run (Ctrl-C, ``kill -9``, a crash) leaves whole chunks only and the same command continues after the last
one. Bad rows go to the summary and to an errors CSV next to the file (or ``errors_path``)."""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.imports import checkpoint
from siyu.imports.csvsource import FileInfo, Reader, Record, chunks, inspect
from siyu.imports.errors import UnreadableFile
from siyu.imports.rows import ChunkResult
from siyu.imports.schemas import ImportSummary, RowErrorOut

ERRORS_HEADER = ["line", "code", "reason"]


class Importer(Protocol):
    kind: str
    source: str
    run_id: str

    def bind(self, header: list[str]) -> None: ...
    def target(self, dialect: Dialect) -> None: ...  # the database ``prepare`` builds rows for
    def fingerprint(self) -> dict[str, Any]: ...
    def group(self) -> Callable[[list[str]], str] | None: ...
    def prepare(self, chunk: list[Record]) -> Any: ...  # parse and check the rows, without the database
    def write(self, session: Session, prepared: Any) -> ChunkResult: ...
    def committed(self) -> None: ...


class Interrupted(Exception):
    """Ctrl-C between or during chunks: everything up to ``last_line`` is committed."""

    def __init__(self, last_line: int) -> None:
        super().__init__(f"interrupted after line {last_line}")
        self.last_line = last_line


Progress = Callable[[int, int], None]  # (lines done, lines in the file)


def run_key(kind: str, info: FileInfo, options: dict[str, Any], delimiter: str) -> str:
    spec = {"kind": kind, "sha256": info.sha256, "options": options, "delimiter": delimiter}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def default_errors_path(path: Path) -> Path:
    return path.with_name(path.name + ".errors.csv")


def write_errors(path: Path, bad: list[checkpoint.BadRow]) -> str | None:
    """Write the bad rows (none: remove an errors file an earlier run of ours left there)."""
    if not bad:
        try:
            with open(path, encoding="utf-8-sig") as fh:
                ours = fh.readline().strip() == ",".join(ERRORS_HEADER)
            if ours:
                path.unlink()
        except OSError:
            pass
        return None
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ERRORS_HEADER)
        w.writerows([b.line, b.code, b.reason] for b in bad)
    return str(path)


def _bigger_cache(session: Session) -> None:
    """SQLite, on this connection: a page cache of 256 MB (with the default 2 MB every index insert into a
    large table is a read) and WAL checkpoints every 64 MB rather than 4 MB (an index page that several
    chunks change is copied back once)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA cache_size = -{256 * 1024}"))
        session.execute(text("PRAGMA wal_autocheckpoint = 16384"))


_FORKED: list[tuple[Importer, Iterator[list[Record]]]] = []  # in the forked preparing process


def _adopt(importer: Importer, batches: Iterator[list[Record]]) -> None:
    if sys.platform.startswith("linux"):  # die with the importing process, even after kill -9
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # The fork's copies of the parent's open files are not this process's to close (but for the CSV file,
    # which from now on only this process reads).
    warnings.simplefilter("ignore", ResourceWarning)
    _FORKED.append((importer, batches))


def _next() -> tuple[Any, int, int] | None:
    """In the forked process: read the next chunk of the file and prepare it; None at the end."""
    importer, batches = _FORKED[0]
    chunk = next(batches, None)
    if chunk is None:
        return None
    return importer.prepare(chunk), chunk[-1][1], len(chunk)


class _Pipeline:
    """Reading, parsing and checking the chunks (``importer.prepare``: CPU only) in a second process while
    this one writes, for files long enough to be worth a process; in order, up to two chunks ahead. The
    process is forked with the importer bound and the file open at the first record to read; it alone
    reads the file from then on, and only prepared chunks cross to this process."""

    AHEAD = 2

    def __init__(self, parallel: bool, importer: Importer, batches: Iterator[list[Record]]) -> None:
        self.importer = importer
        self.batches = batches
        self.pool = (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_adopt,
                                         initargs=(importer, batches)) if parallel else None)

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def prepared(self) -> Iterator[tuple[Any, int, int]]:
        """(prepared chunk, its last file line, its records), in file order."""
        if self.pool is None:
            for chunk in self.batches:
                yield self.importer.prepare(chunk), chunk[-1][1], len(chunk)
            return
        ahead = deque(self.pool.submit(_next) for _ in range(self.AHEAD))
        while (done := ahead.popleft().result()) is not None:
            ahead.append(self.pool.submit(_next))
            yield done


def run_import(db: Database, importer: Importer, path: Path, *, encoding: str | None = None,
               delimiter: str = ",", chunk_size: int = 5000, errors_path: Path | None = None,
               progress: Progress | None = None, after_chunk: Callable[[int], None] | None = None) -> ImportSummary:
    started = time.monotonic()
    report = errors_path or default_errors_path(path)
    if not os.access(report.parent, os.W_OK):
        raise UnreadableFile(f"Cannot write the bad rows to {report}: its folder is missing or read-only.",
                             details={"errors": str(report)})
    info = inspect(path, encoding)
    reader = Reader(info, delimiter)
    run: checkpoint.Run | None = None
    try:
        importer.bind(reader.header)
        importer.target(db.engine.dialect)
        key = run_key(importer.kind, info, importer.fingerprint(), delimiter)
        with db.session() as session:
            run = checkpoint.open_run(session, key, importer.kind, importer.source, info)
        importer.run_id = run.id
        if progress is not None:
            progress(run.last_line, info.lines)
        current = run

        def commit(prepared: Any, last: int, rows: int) -> None:
            with db.session() as session:
                checkpoint.claim(session, current)
                _bigger_cache(session)
                result = importer.write(session, prepared)
                checkpoint.advance(session, current, last, rows, result.imported, result.skipped, result.bad)
            current.last_line = last
            importer.committed()
            if progress is not None:
                progress(last, info.lines)
            if after_chunk is not None:
                after_chunk(last)

        batches = chunks(reader.records(run.last_line), chunk_size, importer.group())
        with _Pipeline(info.lines - run.last_line > 2 * chunk_size, importer, batches) as pipeline:
            for prepared, last, rows in pipeline.prepared():
                commit(prepared, last, rows)
        with db.session() as session:
            checkpoint.finish(session, run)
            rows, imported, skipped, _ = checkpoint.totals(session, run.id)
            bad = checkpoint.bad_rows(session, run.id)
    except KeyboardInterrupt:
        raise Interrupted(run.last_line if run is not None else 0) from None
    finally:
        reader.close()
    written = write_errors(report, bad)
    return ImportSummary(
        run_id=run.id, kind=importer.kind, file=str(path), source=importer.source, rows=rows, imported=imported,
        skipped=skipped, errors=[RowErrorOut(line=b.line, code=b.code, reason=b.reason) for b in bad],
        error_count=len(bad), errors_file=written, resumed_from_line=run.resumed_from,
        seconds=round(time.monotonic() - started, 3))
