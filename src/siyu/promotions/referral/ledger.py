"""The referral reward ledger: append-only and hash-chained, with a checkpoint of its head.

Entry ``seq`` (1, 2, 3, ... with no gaps) holds ``payload``, the canonical JSON of one reward (keys sorted,
no spaces, UTF-8), ``prev_hash`` (the previous entry's hash; 64 zeros for entry 1) and

    hash = hex(SHA-256(prev_hash + "\\n" + payload + "\\n" + str(seq)))

so each entry commits to every entry before it: anyone holding a copy (``GET .../referrals/ledger``)
can recompute the chain with a few lines of code.

Appends are serialised on the head row (``referral_ledger_head``, one row: the newest (seq, hash)): an
append first locks it (an UPDATE, which holds PostgreSQL's row lock or SQLite's write lock until commit),
reads (seq, hash), inserts entry seq + 1 and moves the head, all in the caller's transaction. Two
appenders can therefore never both extend the same entry (no fork), and a rolled-back append leaves no
gap. The head doubles as the checkpoint that makes a cut-off tail detectable.

:func:`verify` recomputes the chain from the genesis and reports the first bad entry: a changed payload
or hash (the hash no longer matches), an inserted entry (a broken link, or an entry past the checkpoint),
a deleted one (a gap in ``seq``, or entries missing before the checkpoint). Limits: the chain has no
secret, so someone able to rewrite every entry from some point on *and* the checkpoint can forge a
consistent chain; comparing with a checkpoint published outside the database (``anchor``) catches that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, upsert
from siyu.promotions.referral.models import LedgerEntry, LedgerHead

GENESIS = "0" * 64
CHUNK = 2000


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, payload: str, seq: int) -> str:
    return hashlib.sha256(f"{prev_hash}\n{payload}\n{seq}".encode()).hexdigest()


def lock(session: Session, now: datetime) -> tuple[int, str]:
    """Lock the head (until the transaction ends) and return it as (seq, hash); creates it at first use."""
    stmt = update(LedgerHead).where(LedgerHead.id == 1).values(seq=LedgerHead.seq) \
        .returning(LedgerHead.seq, LedgerHead.hash)
    row = session.execute(stmt, execution_options={"synchronize_session": False}).first()
    if row is None:
        session.execute(upsert(session, LedgerHead).values(id=1, seq=0, hash=GENESIS, updated_at=now)
                        .on_conflict_do_nothing())
        row = session.execute(stmt, execution_options={"synchronize_session": False}).first()
        assert row is not None
    return int(row[0]), str(row[1])


def append(session: Session, payload: dict[str, Any], now: datetime) -> LedgerEntry:
    """Append one entry in the caller's transaction (see the module docstring for why this cannot fork)."""
    head_seq, head_hash = lock(session, now)
    seq = head_seq + 1
    body = canonical(payload)
    entry = LedgerEntry(seq=seq, payload=body, prev_hash=head_hash, hash=entry_hash(head_hash, body, seq))
    session.add(entry)
    session.flush()
    moved = session.execute(update(LedgerHead).where(LedgerHead.id == 1, LedgerHead.seq == head_seq)
                            .values(seq=seq, hash=entry.hash, updated_at=now),
                            execution_options={"synchronize_session": False})
    if not affected(moved):  # impossible while the lock is held; refuse rather than fork
        raise RuntimeError("the referral ledger head moved under its lock")
    return entry


def checkpoint(session: Session) -> tuple[int, str]:
    row = session.execute(select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)


def entries(session: Session, after: int, limit: int) -> list[LedgerEntry]:
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.seq > after)
                                .order_by(LedgerEntry.seq).limit(limit)))


@dataclass(frozen=True)
class Verdict:
    """``entries``: the entries verified (all up to the checkpoint) or, when not ok, the rows in the table."""

    ok: bool
    entries: int
    first_bad: int | None
    reason: str | None
    checkpoint: tuple[int, str]


def verify(session: Session, anchor: tuple[int, str] | None = None) -> Verdict:
    """Recompute the chain up to the checkpoint; safe while rewards are being appended (read committed is
    enough: every entry up to the checkpoint read first was committed with it, and later appends move the
    checkpoint in the same commit as their entry)."""
    head = checkpoint(session)
    prev, expected = GENESIS, 1
    hashes: dict[int, str] = {}

    def bad(seq: int, reason: str) -> Verdict:
        total = session.scalar(select(func.count()).select_from(LedgerEntry))
        return Verdict(False, int(total or 0), seq, reason, head)

    first = session.scalar(select(func.min(LedgerEntry.seq)))
    if first is not None and first < 1:
        return bad(int(first), "an entry before the first one (inserted)")
    while expected <= head[0]:
        chunk = session.execute(select(LedgerEntry.seq, LedgerEntry.payload, LedgerEntry.prev_hash,
                                       LedgerEntry.hash)
                                .where(LedgerEntry.seq >= expected, LedgerEntry.seq <= head[0])
                                .order_by(LedgerEntry.seq).limit(CHUNK)).all()
        if not chunk:
            return bad(expected, f"entries {expected}..{head[0]} are missing (the checkpoint is at {head[0]})")
        for seq, payload, prev_hash, stored in chunk:
            if seq != expected:
                return bad(expected, f"entry {expected} is missing")
            if prev_hash != prev:
                return bad(seq, "its prev_hash is not the previous entry's hash (inserted or altered)")
            if entry_hash(prev_hash, payload, seq) != stored:
                return bad(seq, "its hash does not match its content (altered)")
            if anchor is not None and seq == anchor[0]:
                hashes[seq] = stored
            prev, expected = stored, expected + 1
    if prev != head[1]:
        return bad(head[0], "the checkpoint's hash is not the last entry's hash")
    if anchor is not None:
        if anchor[0] > head[0]:
            return bad(head[0] + 1, f"the anchor is at entry {anchor[0]}, past the checkpoint (cut off)")
        if anchor[0] > 0 and hashes.get(anchor[0]) != anchor[1]:
            return bad(anchor[0], "differs from the anchor published earlier (rewritten)")
    # Entries past the checkpoint: appends committed after it was read move it too, so read it again.
    last = session.scalar(select(func.max(LedgerEntry.seq))) or 0
    later = checkpoint(session)
    if last > later[0]:
        return bad(later[0] + 1, "an entry past the checkpoint (inserted)")
    return Verdict(True, head[0], None, None, head)
