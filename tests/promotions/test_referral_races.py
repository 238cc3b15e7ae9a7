"""Referral races on both operational databases, threads on separate transactions released together:
duplicate deliveries of one paid order reward once; purchases racing for a referrer's monthly cap pass it
never; concurrent binds of one invitee bind once; concurrent invites of one member make one code."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.errors import SiyuError
from siyu.kit.clock import utcnow
from siyu.promotions.referral import ledger, rewards, service
from siyu.promotions.referral.models import Referral, ReferralReward
from tests.orders.shop import Member, Shop
from tests.promotions.test_referral import R, configure, invite_code, joined, points

T = TypeVar("T")


def race(shop: Shop, calls: list[Callable[[Session], T]]) -> list[T | SiyuError]:
    """Run each call in its own transaction, all released at once; a Siyu error is an answer."""
    gate = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        try:
            with shop.api.runtime.db.session() as s:
                out[i] = calls[i](s)
        except SiyuError as exc:
            out[i] = exc
        except BaseException as exc:  # reported by the assertion below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [o for o in out if isinstance(o, BaseException) and not isinstance(o, SiyuError)], out
    return out


def paid_order(m: Member) -> dict[str, Any]:
    order: dict[str, Any] = m.order("app", ("SCARF-RED", 1))
    m.pay_online(order)
    return order


def test_duplicate_deliveries_of_one_paid_order_reward_once(shop: Shop) -> None:
    configure(shop, rewards={"first_purchase": {"referrer": {"points": 200}, "invitee": {"points": 50}},
                             "every_purchase": {"referrer": {"points": 10}}})
    lin, wang = shop.member("13800141001"), shop.member("13800141002")
    joined(lin)
    assert wang.call("POST", f"{R}/bind", {"code": invite_code(lin)}).status_code == 201
    joined(wang)
    order = paid_order(wang)
    shop.api.drain()  # the real delivery
    before = points(lin), points(wang)
    at = utcnow()
    race(shop, [lambda s, i=i: rewards.on_paid(s, wang.person_id, order["id"], order["total_fen"], f"dup-{i}", at)
                for i in range(8)])
    assert (points(lin), points(wang)) == before
    with shop.api.runtime.db.session() as s:
        given = Counter((r.trigger, r.beneficiary) for r in s.scalars(select(ReferralReward)))
        assert given == {("first_purchase", "referrer"): 1, ("first_purchase", "invitee"): 1,
                         ("every_purchase", "referrer"): 1}
        assert ledger.verify(s).ok and ledger.verify(s).entries == 3


def test_undelivered_paid_orders_racing_reward_exactly_once(shop: Shop) -> None:
    configure(shop, rewards={"first_purchase": {"referrer": {"points": 200}},
                             "every_purchase": {"referrer": {"points": 10}}})
    lin, wang = shop.member("13800141011"), shop.member("13800141012")
    joined(lin)
    assert wang.call("POST", f"{R}/bind", {"code": invite_code(lin)}).status_code == 201
    orders = [paid_order(wang) for _ in range(3)]  # not delivered: the race below is the only delivery
    before = points(lin)
    at = utcnow()
    race(shop, [lambda s, o=o, i=i: rewards.on_paid(s, wang.person_id, o["id"], o["total_fen"], f"e{i}", at)
                for i in range(4) for o in orders])
    assert points(lin) == before + 200 + 3 * 10  # one first purchase, whichever order won it
    with shop.api.runtime.db.session() as s:
        firsts = s.scalars(select(ReferralReward.ref).where(ReferralReward.trigger == "first_purchase")).all()
        assert len(firsts) == 1 and s.scalar(select(Referral.first_order_id)) == firsts[0]
        assert ledger.verify(s).ok and ledger.verify(s).entries == 4


def test_purchases_racing_for_the_monthly_cap_never_pass_it(shop: Shop) -> None:
    configure(shop, referrer_monthly_cap=3, rewards={"every_purchase": {"referrer": {"points": 10}}})
    lin = shop.member("13800141021")
    joined(lin)
    code = invite_code(lin)
    friends = [shop.member(f"1380014103{i}") for i in range(8)]
    for f in friends:
        assert f.call("POST", f"{R}/bind", {"code": code}).status_code == 201
    orders = [(f, paid_order(f)) for f in friends]
    before = points(lin)
    at = utcnow()
    race(shop, [lambda s, f=f, o=o: rewards.on_paid(s, f.person_id, o["id"], o["total_fen"], f"p-{o['id']}", at)
                for f, o in orders])
    assert points(lin) == before + 30
    with shop.api.runtime.db.session() as s:
        statuses = Counter(s.scalars(select(ReferralReward.status)))
        assert statuses == {"granted": 3, "capped": 5}
        assert ledger.verify(s).entries == 3


def test_concurrent_binds_of_one_invitee_bind_once(shop: Shop) -> None:
    referrers = [shop.member(f"1380014104{i}") for i in range(6)]
    codes = []
    for r in referrers:
        joined(r)
        codes.append(invite_code(r))
    wang = shop.member("13800141050")
    answers = race(shop, [lambda s, c=c: service.bind(s, wang.person_id, c, "app", utcnow())[1] for c in codes])
    assert Counter(a if isinstance(a, bool) else a.code for a in answers) == {True: 1, "already_referred": 5}
    zhao = shop.member("13800141051")
    again = race(shop, [lambda s: service.bind(s, zhao.person_id, codes[0], "web", utcnow())[1] for _ in range(6)])
    assert Counter(again) == {True: 1, False: 5}  # the same invitation: one binds, the others see it
    with shop.api.runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Referral)) == 2


def test_concurrent_invites_of_one_member_make_one_code(shop: Shop) -> None:
    configure(shop)
    lin = shop.member("13800141061")
    joined(lin)
    codes = race(shop, [lambda s: service.invite(s, lin.person_id, utcnow()).code for _ in range(6)])
    assert len(set(codes)) == 1 and lin.call("POST", f"{R}/invite", {}).json()["code"] == codes[0]
