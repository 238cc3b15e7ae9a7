"""Importing members: each row is one person. Its identifiers (one or several columns, each of a kind) are
joined into one person as a trusted login would join them (anonymous history merges in; two identified
persons are never merged: such a row is reported), and its other mapped columns are recorded as traits,
like an ``identify`` call's, observed at the export's time (``--as-of``, else the file's modification
time). ``joined_at`` becomes the ``createdAt`` trait (Segment's name) and the start of the channel presence.

A row is remembered by its source and normalised content, so importing the same file again adds nothing;
a changed row (a new city) is imported again and updates the traits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from siyu.identity.extract import Key, Observation, ordered
from siyu.imports import values as v
from siyu.imports.checkpoint import BadRow
from siyu.imports.csvsource import Record
from siyu.imports.mapping import MemberOptions, bind
from siyu.imports.models import ImportedMember
from siyu.imports.people import People
from siyu.imports.rows import ChunkResult, micros
from siyu.kit.clock import iso, utcnow

BIRTHDAY_FORMATS = ("%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%m/%d/%Y")


class Member(NamedTuple):
    line: int
    key: str  # hash of the normalised content
    ids: list[Key]
    traits: dict[str, Any]
    joined: datetime | None
    channel: str


def birthday(raw: str) -> str:
    s = raw.strip()
    try:
        return date.fromisoformat(s).isoformat()
    except ValueError:
        pass
    for fmt in BIRTHDAY_FORMATS:
        try:
            return datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            continue
    raise v.RowError("bad_date", f"birthday {s!r} is not a date")


class MemberImport:
    kind = "members"

    def __init__(self, options: MemberOptions, as_of: datetime) -> None:
        self.options = options
        self.source = options.source
        self.as_of = as_of
        self.people = People()
        self.ids = v.Identifiers(options.app_id)
        self.times = v.Times(options.date_formats, v.zone(options.timezone))
        self.id_cols: list[tuple[str, int]] = []
        self.trait_cols: list[tuple[str, int]] = []
        self.col: dict[str, int] = {}
        self.width = 0
        self.run_id = ""

    def bind(self, header: list[str]) -> None:
        ids = bind(header, self.options.ids)
        traits = bind(header, self.options.traits)
        self.id_cols = list(ids.items())
        self.trait_cols = list(traits.items())
        self.col = bind(header, self.options.columns)
        self.width = len(header)

    def target(self, dialect: Dialect) -> None:
        """Member rows are written through the ORM: nothing to build ahead for a dialect."""

    def fingerprint(self) -> dict[str, Any]:
        return {**self.options.fingerprint(), "as_of": iso(self.as_of)}

    def group(self) -> Callable[[list[str]], str] | None:
        return None

    def committed(self) -> None:
        self.people.committed()

    def parse(self, rec: Record) -> Member:
        start, _, f = rec
        if len(f) != self.width:
            raise v.RowError("wrong_field_count", f"the row has {len(f)} fields; the header has {self.width}")
        found = [self.ids.key(kind, f[i], kind) for kind, i in self.id_cols if f[i].strip()]
        if not found:
            raise v.RowError("missing_value", "the row has no identifier (" +
                             ", ".join(self.options.ids.values()) + " are empty)")
        traits: dict[str, Any] = {}
        for name, i in self.trait_cols:
            value = f[i].strip()
            if value:
                traits[name] = birthday(value) if name == "birthday" else value
        joined = None
        if "joined_at" in self.col and f[self.col["joined_at"]].strip():
            joined = self.times.parse(f[self.col["joined_at"]], "joined_at")
            traits["createdAt"] = iso(joined)
        ch = self.options.channel
        if "channel" in self.col and f[self.col["channel"]].strip():
            raw = f[self.col["channel"]].strip()
            ch = "server" if raw.lower() == "server" else v.channel(raw, ch)
        ids = ordered(found)
        content = json.dumps([sorted(ids), sorted(traits.items()), ch], ensure_ascii=False)
        key = hashlib.blake2b(content.encode(), digest_size=20).hexdigest()
        return Member(start, key, ids, traits, joined, ch)

    def prepare(self, chunk: list[Record]) -> tuple[list[Member], ChunkResult]:
        out = ChunkResult()
        members: dict[str, Member] = {}
        for rec in chunk:
            try:
                m = self.parse(rec)
            except v.RowError as err:
                out.bad.append(BadRow(rec[0], err.code, err.reason))
                continue
            if m.key in members:
                out.skipped += 1  # the same row twice
            else:
                members[m.key] = m
        return list(members.values()), out

    def write(self, session: Session, prepared: tuple[list[Member], ChunkResult]) -> ChunkResult:
        members = {m.key: m for m in prepared[0]}
        out = prepared[1]
        keys = list(members)
        for i in range(0, len(keys), 2000):
            for (done,) in session.execute(select(ImportedMember.row_key).where(
                    ImportedMember.import_source == self.source, ImportedMember.row_key.in_(keys[i:i + 2000]))):
                members.pop(done, None)
                out.skipped += 1
        if members:
            self._join(session, list(members.values()), out)
        return out

    def _join(self, session: Session, members: list[Member], out: ChunkResult) -> None:
        at_us = micros(self.as_of)
        obs = [Observation(message_id=f"import:{self.source}:{m.key}", channel=m.channel, at_us=at_us, ids=m.ids,
                           trigger="import", anchor=m.ids[0], traits=m.traits) for m in members]
        batch = self.people.begin(session)
        self.people.prepare(batch, obs)
        done: list[tuple[Member, str]] = []
        for m, o in zip(members, obs, strict=True):
            refused = self.people.refusal(batch, m.ids)
            person = None if refused else self.people.join(batch, o)
            if person is None:
                code, reason = refused or ("identity_conflict", "the identifiers could not be joined")
                ids = ", ".join(f"{k}={val}" for k, val in m.ids)
                out.bad.append(BadRow(m.line, code, f"{reason} ({ids})"))
                continue
            if m.joined is not None:  # channel presence from the day they joined
                batch.apply(Observation(message_id=f"{o.message_id}:joined", channel=m.channel,
                                        at_us=micros(m.joined), ids=m.ids, trigger="import", anchor=m.ids[0]))
            done.append((m, person))
        self.people.finish(batch)
        if done:
            now = utcnow()
            session.execute(insert(ImportedMember), [
                {"import_source": self.source, "row_key": m.key, "person_id": batch.cache.find(p),
                 "run_id": self.run_id, "line": m.line, "imported_at": now} for m, p in done])
        out.imported += len(done)
