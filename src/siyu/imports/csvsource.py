"""Reading an export: its fingerprint (content hash, lines, encoding), its header, and its records with the
file line each starts and ends on, cut into chunks that never split the rows of one order."""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from siyu.imports.errors import UnreadableFile

# (first line, last line, fields): a quoted cell may hold line breaks, so a record can span lines
Record = tuple[int, int, list[str]]
FALLBACK_ENCODING = "gb18030"  # what Chinese spreadsheet software writes when it does not write UTF-8
_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    path: Path
    sha256: str
    lines: int
    encoding: str
    modified: datetime


def inspect(path: Path, encoding: str | None = None) -> FileInfo:
    """Hash the file and count its lines in one pass; without ``encoding``, UTF-8 if it decodes as UTF-8,
    else GB18030."""
    digest = hashlib.sha256()
    lines = 0
    decoder = codecs.getincrementaldecoder("utf-8")() if encoding is None else None
    utf8 = True
    last = b""
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
                lines += block.count(b"\n")
                last = block
                if decoder is not None and utf8:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        utf8 = False
            if decoder is not None and utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError as err:
        raise UnreadableFile(f"Cannot read {path}: {err.strerror or err}", details={"file": str(path)}) from err
    if last and not last.endswith(b"\n"):
        lines += 1
    chosen = encoding or ("utf-8-sig" if utf8 else FALLBACK_ENCODING)
    try:
        codecs.lookup(chosen)
    except LookupError as err:
        raise UnreadableFile(f"Unknown encoding {chosen!r}.", details={"encoding": chosen}) from err
    return FileInfo(path, digest.hexdigest(), lines, chosen, modified)


def delimiter_of(value: str | None) -> str:
    if value is None or value == "":
        return ","
    if value.lower() in ("tab", "\\t", "\t"):
        return "\t"
    if len(value) != 1:
        raise UnreadableFile("The delimiter must be one character (or 'tab').", details={"delimiter": value})
    return value


class Reader:
    """The records of a CSV file after its header. Blank lines are skipped."""

    def __init__(self, info: FileInfo, delimiter: str = ",") -> None:
        self.info = info
        self._fh = open(info.path, encoding=info.encoding, newline="")  # noqa: SIM115 - closed by close()
        self._csv = csv.reader(self._fh, delimiter=delimiter)
        self.header: list[str] = []
        try:
            for fields in self._csv:
                if fields and any(f.strip() for f in fields):
                    self.header = [f.strip() for f in fields]
                    break
        except (csv.Error, UnicodeDecodeError) as err:
            self.close()
            raise UnreadableFile(f"Cannot read the header of {info.path}: {err}",
                                 details={"file": str(info.path)}) from err
        if not self.header:
            self.close()
            raise UnreadableFile(f"{info.path} is empty.", details={"file": str(info.path)})

    def records(self, after_line: int = 0) -> Iterator[Record]:
        """Records whose last line is after ``after_line`` (a resumed run skips what it committed)."""
        reader = self._csv
        end = reader.line_num
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                if end <= after_line or not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                yield start, end, fields
        except (csv.Error, UnicodeDecodeError) as err:
            raise UnreadableFile(f"{self.info.path} line {reader.line_num + 1}: {err} (is --encoding right?)",
                                 details={"file": str(self.info.path), "line": reader.line_num + 1}) from err

    def close(self) -> None:
        self._fh.close()


def chunks(records: Iterator[Record], size: int,
           group: Callable[[list[str]], str] | None = None) -> Iterator[list[Record]]:
    """Chunks of about ``size`` records; with ``group`` (an order id), consecutive records of one group are
    never split between two chunks."""
    chunk: list[Record] = []
    last: str | None = None
    for rec in records:
        key = group(rec[2]) if group is not None else None
        if len(chunk) >= size and (key is None or key != last):
            yield chunk
            chunk = []
        chunk.append(rec)
        last = key
    if chunk:
        yield chunk
