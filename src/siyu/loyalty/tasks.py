"""The loyalty sweeper (in the worker process), with an injectable clock: pending points whose return
window closed become available; lots past expiry are expired; birthday gifts are granted on the member's
local birthday (once a year: the ledger key ``birthday:<year>`` and ``last_birthday_gift_year``; a 29
February birthday is celebrated on 28 February in other years); the evaluation period is closed when it
ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import extract, or_, select, update
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.loyalty import program, tiers
from siyu.loyalty.members import local_day
from siyu.loyalty.models import Member
from siyu.loyalty.points import due_for_release, earn, expire_due, lock, members_with_due_expiry, release

log = logging.getLogger("siyu.loyalty.sweeper")


def celebrated_on(birthday: date, year: int) -> date:
    try:
        return birthday.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def birthdays_due(session: Session, now: datetime) -> list[str]:
    """Members whose local date is their birthday and who have no gift for that year yet. Candidates are
    those with a birthday within a day of the UTC date (every time zone's local date is within one day)."""
    out = []
    days = [(now + timedelta(days=d)).date() for d in (-1, 0, 1)]
    conds = [(extract("month", Member.birthday) == d.month) & (extract("day", Member.birthday) == d.day)
             for d in days]
    conds.append((extract("month", Member.birthday) == 2) & (extract("day", Member.birthday) == 29))
    rows = session.execute(select(Member.id, Member.birthday, Member.timezone, Member.last_birthday_gift_year)
                           .where(Member.birthday.is_not(None), or_(*conds))).all()
    for mid, birthday, tz, last in rows:
        today = local_day(now, tz)
        if birthday is not None and celebrated_on(birthday, today.year) == today and last != today.year:
            out.append(mid)
    return out


def grant_birthday(session: Session, member_id: str, now: datetime) -> bool:
    m = lock(session, member_id)
    year = local_day(now, m.timezone).year
    if m.last_birthday_gift_year == year:
        return False
    prog = program.load(session)
    gift = program.ladder(session).by_code(m.tier).benefits.birthday_points
    session.execute(update(Member).where(Member.id == member_id).values(last_birthday_gift_year=year))
    if gift:
        earn(session, member_id, gift, key=f"birthday:{year}", source_kind="birthday",
             source_id=f"{member_id}:{year}", now=now, expiry_days=prog.points_expiry_days, reason="birthday gift")
    return True


class LoyaltySweeper:
    def __init__(self, db: Database, interval_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock

    def sweep(self) -> dict[str, int]:
        now = self.clock()
        done = {"released": 0, "expired": 0, "birthdays": 0, "periods": 0}
        with self.db.session() as session:
            expiry_days = program.load(session).points_expiry_days
            lots = due_for_release(session, now)
            members = members_with_due_expiry(session, now)
            birthdays = birthdays_due(session, now)
        for lot_id in lots:
            with self.db.session() as session:
                done["released"] += release(session, lot_id, now, expiry_days) is not None
        for member_id in members:
            with self.db.session() as session:
                done["expired"] += expire_due(session, lock(session, member_id), now)
        for member_id in birthdays:
            with self.db.session() as session:
                done["birthdays"] += grant_birthday(session, member_id, now)
        with self.db.session() as session:
            done["periods"] += tiers.evaluate(session, now) is not None
        return done

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("loyalty sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
