"""The loyalty sweeper (in the worker process), with an injectable clock: pending points whose return
window closed become available; lots past expiry are expired; birthday gifts are granted on the member's
local birthday (once a year: the ledger key ``birthday:<year>`` and ``last_birthday_gift_year``, set under the
member lock in the same transaction as the gift; a 29 February birthday is celebrated on 28 February in
other years); points-plus-money redemptions not ordered within the unpaid timeout are given back
(``mall_orders.py``); the evaluation period is closed when it ends.

The birthday gift is the tier's ``birthday_points`` and its ``birthday_coupon_template_id`` (a coupon issued
with source ``birthday`` and source_ref ``<member>:<year>``). A coupon the template refuses (sold out, the
per-member limit reached, inactive or deleted) is logged and skipped inside a savepoint: it never blocks the
points, and the year still counts as given."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import extract, or_, select, update
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.errors import SiyuError
from siyu.kit.clock import utcnow
from siyu.loyalty import mall_orders, program, tiers
from siyu.loyalty.members import local_day
from siyu.loyalty.models import Member
from siyu.loyalty.points import due_for_release, earn, expire_due, lock, members_with_due_expiry, release
from siyu.promotions import coupons

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
    gift = program.ladder(session).by_code(m.tier).benefits
    session.execute(update(Member).where(Member.id == member_id).values(last_birthday_gift_year=year))
    if gift.birthday_points:
        earn(session, member_id, gift.birthday_points, key=f"birthday:{year}", source_kind="birthday",
             source_id=f"{member_id}:{year}", now=now, expiry_days=prog.points_expiry_days, reason="birthday gift")
    if gift.birthday_coupon_template_id:
        birthday_coupon(session, m, gift.birthday_coupon_template_id, year, now)
    return True


def birthday_coupon(session: Session, m: Member, template_id: str, year: int, now: datetime) -> str | None:
    """Issue the birthday coupon (the caller holds the member lock and the year's guard). None, logged, if the
    template refuses: its partial count is rolled back with the savepoint."""
    try:
        with session.begin_nested():
            coupon = coupons.issue(session, template_id, m.person_id, source="birthday", now=now,
                                   source_ref=f"{m.id}:{year}")
    except SiyuError as exc:
        log.warning("birthday coupon of template %s not issued to member %s for %s: %s", template_id, m.id, year,
                    exc.code)
        return None
    return coupon.id


class LoyaltySweeper:
    def __init__(self, db: Database, interval_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock

    def sweep(self) -> dict[str, int]:
        now = self.clock()
        done = {"released": 0, "expired": 0, "birthdays": 0, "unordered": 0, "periods": 0}
        with self.db.session() as session:
            expiry_days = program.load(session).points_expiry_days
            lots = due_for_release(session, now)
            members = members_with_due_expiry(session, now)
            birthdays = birthdays_due(session, now)
            unordered = mall_orders.unordered_due(session, now)
        for lot_id in lots:
            with self.db.session() as session:
                done["released"] += release(session, lot_id, now, expiry_days) is not None
        for member_id in members:
            with self.db.session() as session:
                done["expired"] += expire_due(session, lock(session, member_id), now)
        for member_id in birthdays:
            with self.db.session() as session:
                done["birthdays"] += grant_birthday(session, member_id, now)
        for redemption_id in unordered:
            with self.db.session() as session:
                done["unordered"] += mall_orders.expire(session, redemption_id, now)
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
