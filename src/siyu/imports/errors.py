"""Errors that stop an import before or between chunks (a bad row is not one: it is reported and skipped)."""

from __future__ import annotations

from siyu.errors import SiyuError


class BadMapping(SiyuError):
    code = "import_bad_mapping"
    status = 422
    message = "The column mapping does not fit the file."


class UnreadableFile(SiyuError):
    code = "import_unreadable_file"
    status = 422
    message = "The file cannot be read as CSV."


class ImportBusy(SiyuError):
    code = "import_busy"
    status = 409
    message = "Another run is importing this file with these options; wait for it or stop it first."
