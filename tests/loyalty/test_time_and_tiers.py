"""Time and tiers with an injectable clock: birthdays (points and a coupon) at the member's local midnight,
once a year; check-in streaks by local day in two time zones and the cycle's rewards; daily caps by the
member's local day; immediate upgrades; the downgrade policies at period end; tier gates, discounts and free
shipping on orders."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.anchors import ensure_person
from siyu.kit.ids import new_id
from siyu.loyalty import actions, checkin, growth, program, tiers
from siyu.loyalty.errors import AlreadyCheckedIn
from siyu.loyalty.members import join
from siyu.loyalty.models import Member
from siyu.loyalty.schemas import Downgrade, JoinRequest
from siyu.loyalty.tasks import LoyaltySweeper
from siyu.promotions import coupons
from siyu.promotions.models import Coupon
from siyu.promotions.schemas import TemplateIn
from tests.conftest import Api
from tests.orders.shop import ADDRESS, Shop


def new_member(session: Session, tz: str = "Asia/Shanghai", birthday: date | None = None,
               at: datetime | None = None) -> Member:
    person = ensure_person(session, "user_id", f"m-{new_id()}")
    m, _ = join(session, person, JoinRequest(channel="app", timezone=tz, birthday=birthday),
                at or datetime(2026, 1, 1, tzinfo=UTC))
    return m


def test_birthday_gift_once_a_year_at_local_midnight(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    db = api.runtime.db
    with db.session() as s:
        template = coupons.create_template(s, TemplateIn(name="生日券", kind="fixed", amount_fen=2000, valid_days=30,
                                                         per_member_limit=5, total=3, claimable=False)).id
        prog = program.load(s)
        prog.tiers[0].benefits.birthday_points = 88
        prog.tiers[0].benefits.birthday_coupon_template_id = template
        prog.points_expiry_days = 3650  # nothing expires during the test's two years
        program.save(s, prog)
        shanghai = new_member(s, birthday=date(1990, 3, 5)).id
        new_york = new_member(s, tz="America/New_York", birthday=date(1990, 3, 5)).id
        leap = new_member(s, birthday=date(2000, 2, 29)).id

    def points(member_id: str) -> int:
        with db.session() as s:
            m = s.get(Member, member_id)
            assert m is not None
            return m.points

    def gifts(member_id: str) -> list[str | None]:
        with db.session() as s:
            m = s.get(Member, member_id)
            assert m is not None
            return list(s.scalars(select(Coupon.source_ref).where(
                Coupon.person_id == m.person_id, Coupon.template_id == template, Coupon.source == "birthday")))

    def sweep_at(when: datetime) -> None:
        LoyaltySweeper(db, 1, clock=lambda: when).sweep()

    base = {mid: points(mid) for mid in (shanghai, new_york, leap)}
    sweep_at(datetime(2027, 3, 4, 15, 59, tzinfo=UTC))  # 23:59 on 4 March in Shanghai
    assert points(shanghai) == base[shanghai]
    assert gifts(shanghai) == []
    sweep_at(datetime(2027, 3, 4, 16, 0, tzinfo=UTC))  # midnight in Shanghai; still 4 March in New York
    assert points(shanghai) == base[shanghai] + 88 and points(new_york) == base[new_york]
    assert gifts(shanghai) == [f"{shanghai}:2027"] and gifts(new_york) == []
    sweep_at(datetime(2027, 3, 5, 4, 59, tzinfo=UTC))  # 23:59 on 4 March in New York
    assert points(new_york) == base[new_york]
    for hour in (5, 6, 12, 23):  # New York's 5 March, swept many times
        sweep_at(datetime(2027, 3, 5, hour, tzinfo=UTC))
    assert points(new_york) == base[new_york] + 88 and points(shanghai) == base[shanghai] + 88
    assert gifts(new_york) == [f"{new_york}:2027"] and gifts(shanghai) == [f"{shanghai}:2027"]  # once each
    sweep_at(datetime(2027, 2, 27, 16, 0, tzinfo=UTC))  # 28 February 2027 in Shanghai: a common year
    assert points(leap) == base[leap] + 88 and gifts(leap) == [f"{leap}:2027"]
    # The next year: the points once more, but the template's total of 3 is issued. The sold-out coupon is
    # logged, and neither blocks the points nor stops the sweep (nor is it tried again).
    with caplog.at_level(logging.WARNING, logger="siyu.loyalty.sweeper"):
        sweep_at(datetime(2028, 3, 4, 16, 0, tzinfo=UTC))
        sweep_at(datetime(2028, 3, 4, 17, 0, tzinfo=UTC))
    assert points(shanghai) == base[shanghai] + 2 * 88 and gifts(shanghai) == [f"{shanghai}:2027"]
    assert [r.getMessage() for r in caplog.records if "coupons_sold_out" in r.getMessage()] == [
        f"birthday coupon of template {template} not issued to member {shanghai} for 2028: coupons_sold_out"]
    with db.session() as s:
        assert coupons.get_template(s, template).issued == 3  # the refused issue left no count behind


@pytest.mark.parametrize(("tz", "times", "streaks"), [
    # Shanghai (UTC+8): 15:30Z and 16:30Z on 1 March are two local days (1 and 2 March); 4 March is missed
    ("Asia/Shanghai", ["2026-03-01T15:30", "2026-03-01T16:30", "2026-03-03T01:00", "2026-03-05T01:00"], [1, 2, 3, 1]),
    # Los Angeles (UTC-8): 07:00Z on 2 March is still 1 March locally; 09:00Z is 2 March
    ("America/Los_Angeles", ["2026-03-01T20:00", "2026-03-02T09:00", "2026-03-03T09:00", "2026-03-05T09:00"],
     [1, 2, 3, 1]),
])
def test_streaks_follow_the_members_local_days(api: Api, tz: str, times: list[str], streaks: list[int]) -> None:
    with api.runtime.db.session() as s:
        mid = new_member(s, tz=tz).id
    got = []
    for t in times:
        with api.runtime.db.session() as s:
            m = s.get(Member, mid)
            assert m is not None
            got.append(checkin.check_in(s, m, "app", datetime.fromisoformat(t).replace(tzinfo=UTC)).streak)
    assert got == streaks
    if tz == "America/Los_Angeles":  # 07:00Z on 2 March is the same local day as 20:00Z on 1 March
        with api.runtime.db.session() as s, pytest.raises(AlreadyCheckedIn):
            m = s.get(Member, mid)
            assert m is not None
            checkin.check_in(s, m, "web", datetime(2026, 3, 2, 7, tzinfo=UTC))


def test_checkin_cycle_rewards_each_day_and_starts_again(api: Api) -> None:
    start = datetime(2026, 3, 1, 2, tzinfo=UTC)  # 10:00 in Shanghai
    with api.runtime.db.session() as s:
        mid = new_member(s, at=start).id
        before = s.get(Member, mid).points  # type: ignore[union-attr]
    got = []
    for day in range(9):
        with api.runtime.db.session() as s:
            m = s.get(Member, mid)
            assert m is not None
            out = checkin.check_in(s, m, "app", start + timedelta(days=day))
            got.append((out.streak, out.cycle_day, out.points))
    cycle = [5, 5, 10, 5, 5, 10, 30]  # the default programme's check-in cycle
    assert got == [(n + 1, n % 7 + 1, cycle[n % 7]) for n in range(9)]
    with api.runtime.db.session() as s:
        assert s.get(Member, mid).points == before + sum(cycle) + 5 + 5  # type: ignore[union-attr]


def test_daily_caps_count_the_members_local_day(api: Api) -> None:
    """The default programme rewards at most 3 shares a day (2 growth, 5 points each). Five shares within one
    Shanghai day, spread over two UTC dates, reward 3; the next share, on the same UTC date as four of them but
    the next Shanghai day, is rewarded again."""
    local_day = [datetime(2026, 4, 30, 16, 30, tzinfo=UTC), datetime(2026, 4, 30, 20, tzinfo=UTC),
                 datetime(2026, 5, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, 8, tzinfo=UTC),
                 datetime(2026, 5, 1, 15, 59, tzinfo=UTC)]  # all on 1 May in Shanghai
    with api.runtime.db.session() as s:
        mid = new_member(s, at=datetime(2026, 4, 1, tzinfo=UTC)).id

    def balances() -> tuple[int, int]:
        with api.runtime.db.session() as s:
            m = s.get(Member, mid)
            assert m is not None
            return m.points, m.growth

    points0, growth0 = balances()
    for n, at in enumerate(local_day):
        with api.runtime.db.session() as s:
            m = s.get(Member, mid)
            assert m is not None
            assert actions.perform(s, m, "share", "miniprogram", f"share-{n}", at)
    assert balances() == (points0 + 3 * 5, growth0 + 3 * 2)
    with api.runtime.db.session() as s:  # the same share again is not even counted
        m = s.get(Member, mid)
        assert m is not None
        assert not actions.perform(s, m, "share", "miniprogram", "share-0", local_day[0])
        assert actions.perform(s, m, "share", "app", "share-next-day", datetime(2026, 5, 1, 16, 1, tzinfo=UTC))
    assert balances() == (points0 + 4 * 5, growth0 + 4 * 2)


@pytest.mark.parametrize(("policy", "expected"), [
    (Downgrade.never, ["diamond", "diamond", "gold"]),
    (Downgrade.period_end, ["regular", "gold", "gold"]),
    (Downgrade.one_step, ["gold", "gold", "gold"]),
])
def test_upgrades_are_immediate_and_downgrades_follow_the_policy(api: Api, policy: Downgrade,
                                                                  expected: list[str]) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with api.runtime.db.session() as s:
        prog = program.load(s)
        prog.downgrade = policy
        program.save(s, prog)
        ids = [new_member(s, at=now).id for _ in range(3)]
        for mid, amount in zip(ids, [6000, 6000, 1200], strict=True):
            growth.add(s, mid, amount, kind="spend", key=f"o-{mid}", day=now.date(), now=now)
        tiers_now = [s.get(Member, mid).tier for mid in ids]  # type: ignore[union-attr]
    assert tiers_now == ["diamond", "diamond", "gold"]  # at once
    with api.runtime.db.session() as s:  # the next period: the second and third earn a little
        row = program.row(s)
        row.period_started_at = datetime(2026, 1, 1, tzinfo=UTC)
        s.flush()
        closed = tiers.evaluate(s, datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
        assert closed is not None and closed.members == 3
    later = datetime(2027, 3, 1, tzinfo=UTC)
    with api.runtime.db.session() as s:
        growth.add(s, ids[1], 1500, kind="spend", key="late-1", day=later.date(), now=later)
        growth.add(s, ids[2], 1500, kind="spend", key="late-2", day=later.date(), now=later)
    with api.runtime.db.session() as s:
        tiers.evaluate(s, datetime(2028, 1, 1, 0, 1, tzinfo=UTC))
        got = [s.get(Member, mid).tier for mid in ids]  # type: ignore[union-attr]
        assert all(s.get(Member, mid).period_growth == 0 for mid in ids)  # type: ignore[union-attr]
    # never: keep the best; period_end: what the period earned; one_step: at most one lower each period
    assert got == expected


def test_tier_gates_discounts_and_free_shipping(shop: Shop) -> None:
    shop.admin("PUT", "/api/v1/commerce/policy", {"shipping_fee_fen": 1000})
    shop.admin("PUT", f"/api/v1/catalog/skus/{shop.skus['SCARF-APP']}/listings/app",
               {"price_fen": 9900, "min_tier": "gold"})
    regular, vip = shop.member("13800135000"), shop.member("13800135001")
    for m in (regular, vip):
        m.call("POST", "/api/v1/loyalty/members", {"channel": "app"})
    shop.admin("POST", f"/api/v1/loyalty/members/{vip.person_id}/points/adjust", {"points": 1, "reason": "setup"})
    with shop.api.runtime.db.session() as s:
        mid = s.query(Member).filter(Member.person_id == vip.person_id).one().id
        growth.add(s, mid, 5000, kind="adjust", key="vip", day=date.today(), now=datetime.now(UTC))
    body = {"channel": "app", "lines": [{"sku_code": "SCARF-APP", "quantity": 1}], "address": ADDRESS}
    r = regular.call("POST", "/api/v1/orders", body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "tier_required", r.text
    order = vip.call("POST", "/api/v1/orders", body).json()
    assert (order["subtotal_fen"], order["discount_fen"], order["shipping_fen"]) == (9900, 495, 0)  # 5% off, free
    plain = regular.order("app", ("SCARF-RED", 1))
    assert (plain["discount_fen"], plain["shipping_fen"], plain["total_fen"]) == (0, 1000, 20900)
