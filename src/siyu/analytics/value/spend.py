"""Acquisition spend entries: create, read, replace, delete, and import from CSV.

An entry is unique by (channel, campaign, start, end). ``import_csv`` upserts by that key in the caller's
transaction, all rows or none: the same file imported twice changes nothing. Two writers racing on one
key are kept apart by the unique constraint (the later one fails with ``duplicate_spend`` and can retry).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.analytics.value.channel_schemas import SpendImport, SpendIn, SpendOut
from siyu.analytics.value.errors import BadSpendFile, DuplicateSpend, SpendNotFound
from siyu.analytics.value.models import AcquisitionSpend
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id

MAX_ROWS = 100_000


def spend_out(s: AcquisitionSpend) -> SpendOut:
    return SpendOut(id=s.id, channel=s.channel, campaign=s.campaign or None, start=s.start_date, end=s.end_date,
                    amount_fen=s.amount_fen, currency=s.currency, note=s.note, created_at=s.created_at,
                    updated_at=s.updated_at)


def _find(session: Session, body: SpendIn) -> AcquisitionSpend | None:
    return session.scalar(select(AcquisitionSpend).where(
        AcquisitionSpend.channel == body.channel, AcquisitionSpend.campaign == (body.campaign or ""),
        AcquisitionSpend.start_date == body.start, AcquisitionSpend.end_date == body.end))


def _flush(session: Session, body: SpendIn) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DuplicateSpend(details={"channel": body.channel, "campaign": body.campaign,
                                      "start": body.start.isoformat(), "end": body.end.isoformat()}) from exc


def create(session: Session, body: SpendIn) -> AcquisitionSpend:
    if _find(session, body) is not None:
        raise DuplicateSpend(details={"channel": body.channel, "campaign": body.campaign})
    now = utcnow()
    row = AcquisitionSpend(id=new_id(), channel=body.channel, campaign=body.campaign or "", start_date=body.start,
                           end_date=body.end, amount_fen=body.amount_fen, currency=body.currency, note=body.note,
                           created_at=now, updated_at=now)
    session.add(row)
    _flush(session, body)
    return row


def get(session: Session, spend_id: str) -> AcquisitionSpend:
    row = session.get(AcquisitionSpend, spend_id) if "\x00" not in spend_id else None
    if row is None:
        raise SpendNotFound(details={"spend_id": spend_id})
    return row


def replace(session: Session, spend_id: str, body: SpendIn) -> AcquisitionSpend:
    row = get(session, spend_id)
    other = _find(session, body)
    if other is not None and other.id != row.id:
        raise DuplicateSpend(details={"spend_id": other.id})
    row.channel, row.campaign, row.start_date, row.end_date = body.channel, body.campaign or "", body.start, body.end
    row.amount_fen, row.currency, row.note, row.updated_at = body.amount_fen, body.currency, body.note, utcnow()
    _flush(session, body)
    return row


def delete(session: Session, spend_id: str) -> None:
    session.delete(get(session, spend_id))
    session.flush()


def list_spend(session: Session, channel: str | None = None, after: str | None = None, limit: int = 50,
               overlapping: tuple[date, date] | None = None) -> Sequence[AcquisitionSpend]:
    """By id (creation order); ``overlapping``: only entries with a day in (start, end)."""
    stmt = select(AcquisitionSpend).order_by(AcquisitionSpend.id).limit(limit)
    if channel is not None:
        stmt = stmt.where(AcquisitionSpend.channel == channel)
    if after is not None:
        stmt = stmt.where(AcquisitionSpend.id > after)
    if overlapping is not None:
        stmt = stmt.where(AcquisitionSpend.start_date <= overlapping[1], AcquisitionSpend.end_date >= overlapping[0])
    return session.scalars(stmt).all()


def in_period(session: Session, start: date, end: date) -> list[SpendOut]:
    """Every entry with a day in (start, end)."""
    out: list[SpendOut] = []
    after = None
    while True:
        page = list_spend(session, after=after, limit=1000, overlapping=(start, end))
        out.extend(spend_out(s) for s in page)
        if len(page) < 1000:
            return out
        after = page[-1].id


def _amount_fen(row: dict[str, str]) -> int:
    """``amount_fen`` (an integer), or ``amount`` in yuan with at most two decimals."""
    if (raw := (row.get("amount_fen") or "").strip()):
        return int(raw)
    raw = (row.get("amount") or "").strip().replace(",", "")
    try:
        fen = Decimal(raw) * 100
    except InvalidOperation as exc:
        raise ValueError(f"amount {raw!r} is not a number") from exc
    if fen != fen.to_integral_value():
        raise ValueError(f"amount {raw!r} has more than two decimals")
    return int(fen)


def parse_csv(text: str) -> list[SpendIn]:
    """Rows of a CSV with a header: ``channel, campaign, start, end, amount_fen`` (or ``amount`` in yuan),
    optional ``currency`` and ``note``. Every bad row is reported (line numbers count the header as 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    missing = {"channel", "start", "end"} - fields
    if not fields & {"amount_fen", "amount"}:
        missing.add("amount_fen")
    if missing:
        raise BadSpendFile("The header needs channel, start, end and amount_fen (or amount).",
                           details={"missing": sorted(missing)})
    out, errors = [], []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        try:
            out.append(SpendIn(channel=row["channel"], campaign=row.get("campaign") or None,
                               start=date.fromisoformat(row["start"]), end=date.fromisoformat(row["end"]),
                               amount_fen=_amount_fen(row), currency=(row.get("currency") or "CNY").upper(),
                               note=row.get("note") or ""))
        except (ValueError, ValidationError) as exc:
            errors.append({"line": line, "reason": str(exc).split("\n")[0][:300]})
        if len(out) > MAX_ROWS:
            raise BadSpendFile(f"At most {MAX_ROWS} rows per file.")
    if errors:
        raise BadSpendFile("Some rows are not valid; nothing was imported.", details={"errors": errors[:100]})
    return out


def import_rows(session: Session, rows: Sequence[SpendIn]) -> SpendImport:
    created = updated = 0
    for body in rows:
        row = _find(session, body)
        if row is None:
            create(session, body)
            created += 1
        elif (row.amount_fen, row.currency, row.note) != (body.amount_fen, body.currency, body.note):
            row.amount_fen, row.currency, row.note, row.updated_at = body.amount_fen, body.currency, body.note, utcnow()
            updated += 1
    session.flush()
    return SpendImport(rows=len(rows), created=created, updated=updated)


def import_csv(session: Session, text: str) -> SpendImport:
    return import_rows(session, parse_csv(text))
