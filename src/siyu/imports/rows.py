"""What the importers share: a chunk's outcome, time-ordered ids for historical rows, and microseconds."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from siyu.imports.checkpoint import BadRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass
class ChunkResult:
    imported: int = 0
    skipped: int = 0
    bad: list[BadRow] = field(default_factory=list)


def micros(at: datetime) -> int:
    return (at - EPOCH) // _US


def id_at(at: datetime) -> str:
    """An id in the layout of ``kit.ids.new_id`` whose clock part is ``at``, so imported history sorts by when
    it happened among the orders placed here (lists are newest first by id)."""
    ms = max(0, micros(at) // 1000)
    value = (ms << 80) | random.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"
