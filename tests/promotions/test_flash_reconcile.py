"""The Redis store (server runtime) and the database disagree after a crash or a loss of Redis data; the
reconciler and the loading from the record bring them back together: nothing is stranded, nothing is sold
twice, and the reconciler never creates or destroys a unit."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from siyu.db import Base
from siyu.kit.ids import new_id
from siyu.migrate import upgrade
from siyu.promotions.flash import rows
from siyu.promotions.flash import service as flash_service
from siyu.promotions.flash.errors import FlashBusy, FlashLimitReached, FlashSoldOut
from siyu.promotions.flash.models import TAKEN, FlashReservation
from siyu.promotions.flash.redis_store import GRACE, RedisQuotaStore, keys
from siyu.promotions.flash.store import Window
from tests.conftest import Api, make_settings, open_api
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET, Member, Shop
from tests.promotions.test_flash_flow import F, attempt, flash_sale, order_with, settle, stats, sweep
from tests.support import postgres_database, service_url

pytestmark = pytest.mark.server


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    redis = service_url("REDIS")
    with postgres_database() as url, open_api(make_settings(tmp_path, database_url=url, redis_url=redis,
                                                            payment_webhook_secret=WEBHOOK_SECRET)) as a:
        yield a


def store(api: Api) -> RedisQuotaStore:
    s = api.runtime.flash.quotas.redis
    assert isinstance(s, RedisQuotaStore)
    return s


def window(api: Api, session_id: str) -> Window:
    with api.runtime.db.session() as s:
        return Window.of(rows.get_session(s, session_id))


def ghost_claim(api: Api, w: Window, person_id: str, now: datetime) -> str:
    """The script ran for an attempt whose process then died, before the reservation row was written."""
    rid = new_id()
    assert api.client.portal is not None
    api.client.portal.call(store(api).claim, w, rid, person_id, 1, now)
    return rid


def lose_redis(api: Api, session_id: str) -> None:
    """Redis lost this session's data (evicted, flushed, a failover without persistence)."""
    store(api).sync.delete(*keys(session_id))


def crash_after_commit() -> Callable[[RedisQuotaStore, Any], None]:
    """For ``RedisQuotaStore._apply_pending``: the process dies right after the commit, before Redis hears."""
    return lambda self, session: session.info.pop("siyu.flash.after_commit", None)


def redis_units(api: Api, session_id: str) -> tuple[int, dict[str, tuple[str, int]], dict[str, int]] | None:
    """(remaining, reservation -> (person, units), person -> units) as Redis has them; None if not loaded."""
    r, k = store(api).sync, keys(session_id)
    if not r.hexists(k[0], "limit"):
        return None
    held = {}
    for rid, v in r.hgetall(k[2]).items():
        person, _, units = v.decode().partition("|")
        held[rid.decode()] = (person, int(units))
    return int(r.hget(k[0], "remaining")), held, {p.decode(): int(u) for p, u in r.hgetall(k[1]).items()}


def record_units(api: Api, session_id: str) -> dict[str, int]:
    """Reservation -> units, for every reservation the record counts against the quota."""
    with api.runtime.db.session() as s:
        return {i: q for i, q in s.execute(select(FlashReservation.id, FlashReservation.quantity).where(
            FlashReservation.session_id == session_id, FlashReservation.status.in_(TAKEN)))}


def check(api: Api, session_id: str, quota: int) -> tuple[int, dict[str, int]]:
    """The invariants that hold at every moment: Redis conserves the quota (remaining + units held ==
    quota, each customer's units add up), and every unit the record counts is held in Redis too, so Redis
    cannot give it to anyone else (no oversell). (remaining + held in Redis, record) for comparisons."""
    record = record_units(api, session_id)
    assert sum(record.values()) <= quota
    seen = redis_units(api, session_id)
    if seen is None:
        return quota, record
    remaining, held, members = seen
    assert remaining >= 0 and remaining + sum(u for _, u in held.values()) == quota, (remaining, held)
    per_person: Counter[str] = Counter()
    for person, units in held.values():
        per_person[person] += units
    assert {p: u for p, u in per_person.items() if u} == {p: u for p, u in members.items() if u}
    assert set(record) <= set(held), ("a unit the record holds is free in Redis", set(record) - set(held))
    return remaining + sum(u for _, u in held.values()), record


def converged(api: Api, session_id: str, quota: int) -> None:
    """Nothing stranded: Redis holds exactly what the record counts, and the stats balance."""
    record = record_units(api, session_id)
    seen = redis_units(api, session_id)
    assert seen is not None
    remaining, held, _ = seen
    assert {i: u for i, (_, u) in held.items()} == record
    assert remaining == quota - sum(record.values())


def test_a_crash_between_the_script_and_the_row_strands_nothing(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    w, now = window(api, fs["id"]), datetime.now(UTC)
    ann, bob = shop.member("13900000001"), shop.member("13900000002")
    ghost = ghost_claim(api, w, ann.person_id, now)
    assert attempt(bob, fs["id"], status=409)["error"]["code"] == "flash_sold_out"
    assert stats(shop, fs["id"])["balanced"] is False  # a unit held in Redis with no row
    assert sweep(api, now + timedelta(seconds=59)) == (0, 0)  # not before the TTL (and grace) ran out
    assert sweep(api, now + timedelta(seconds=60) + GRACE + timedelta(seconds=1)) == (0, 1)
    assert stats(shop, fs["id"]) | {"session_id": ""} == {"session_id": "", "quota": 1, "remaining": 1,
                                                          "reserved": 0, "ordered": 0, "sold": 0, "returned": 0,
                                                          "balanced": True}
    # the dead request's row can no longer land: the reconciler's tombstone holds its id
    with pytest.raises(FlashBusy), api.runtime.db.session() as s:
        flash_service.record(s, w, ghost, ann.person_id, "app", 1, now)
    assert attempt(bob, fs["id"])["status"] == "reserved"
    assert sweep(api, now + timedelta(hours=1))[1] == 0  # once


def test_a_lost_release_after_the_commit_is_applied_by_the_reconciler(api: Api, shop: Shop,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    ann, bob = shop.member("13900000011"), shop.member("13900000012")
    attempt(ann, fs["id"])
    now = datetime.now(UTC)
    lost: list[Any] = []
    with monkeypatch.context() as m:  # the process dies right after the expiry commits
        m.setattr(RedisQuotaStore, "_apply_pending", lambda self, session: lost.append(session.info.pop(
            "siyu.flash.after_commit", None)))
        assert sweep(api, now + timedelta(seconds=61)) == (1, 0)
    assert lost and lost[0]
    assert attempt(bob, fs["id"], status=409)["error"]["code"] == "flash_sold_out"
    assert sweep(api, now + timedelta(seconds=61) + GRACE) == (0, 1)
    assert stats(shop, fs["id"])["balanced"] is True
    assert attempt(bob, fs["id"])["status"] == "reserved"


def test_an_ordered_reservation_is_left_to_its_order(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    ann = shop.member("13900000021")
    order = order_with(ann, attempt(ann, fs["id"]))
    now = datetime.now(UTC)
    assert sweep(api, now + timedelta(minutes=5)) == (0, 0)
    assert stats(shop, fs["id"])["ordered"] == 1
    ann.pay_online(order)
    settle(api)
    assert sweep(api, now + timedelta(minutes=20)) == (0, 0)
    assert stats(shop, fs["id"]) | {"session_id": ""} == {"session_id": "", "quota": 1, "remaining": 0,
                                                          "reserved": 0, "ordered": 0, "sold": 1, "returned": 0,
                                                          "balanced": True}


def test_lost_redis_keys_are_loaded_again_from_the_record(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=3, per_member_limit=1)
    ann, bob, cat = (shop.member(f"1390000003{i}") for i in range(3))
    attempt(ann, fs["id"])
    order_with(bob, attempt(bob, fs["id"]))
    store(api).sync.delete(*keys(fs["id"]))
    assert shop.admin("GET", f"/api/v1/promotions/flash-sales/{fs['id']}")["remaining"] == 1
    assert attempt(ann, fs["id"], status=409)["error"]["code"] == "flash_limit_reached"
    store(api).sync.delete(*keys(fs["id"]))
    assert attempt(cat, fs["id"])["status"] == "reserved"  # loaded by the attempt itself
    assert attempt(shop.member("13900000039"), fs["id"], status=409)["error"]["code"] == "flash_sold_out"
    assert stats(shop, fs["id"])["balanced"] is True


def test_a_release_lost_after_a_paid_order_was_cancelled_is_applied_by_the_reconciler(
        api: Api, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the reconciler has seen a reservation sold it leaves the schedule; cancelling its order (paid,
    not shipped) puts it back there before the commit, so a release lost after the commit is still found."""
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    ann, bob = shop.member("13900000041"), shop.member("13900000042")
    order = order_with(ann, attempt(ann, fs["id"]))
    ann.pay_online(order)
    settle(api)
    now = datetime.now(UTC)
    assert sweep(api, now + timedelta(seconds=61) + GRACE) == (0, 0)
    assert store(api).sync.zcard(keys(fs["id"])[3]) == 0  # sold: nothing left for the reconciler
    assert shop.admin("POST", f"/api/v1/orders/{order['id']}/cancel", {"reason": "不要了"})["status"] == "cancelled"
    with monkeypatch.context() as m:  # the consumer commits sold -> released and dies before Redis hears
        m.setattr(RedisQuotaStore, "_apply_pending", crash_after_commit())
        settle(api)
    assert stats(shop, fs["id"])["returned"] == 1
    assert attempt(bob, fs["id"], status=409)["error"]["code"] == "flash_sold_out"  # stranded, for now
    assert sweep(api, now + timedelta(minutes=2) + GRACE) == (0, 1)
    converged(api, fs["id"], 1)
    assert attempt(bob, fs["id"])["status"] == "reserved"
    assert sweep(api, now + timedelta(hours=1))[1] == 0  # once


def test_a_claim_in_flight_when_redis_lost_the_session_cannot_oversell(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=1)
    w, now = window(api, fs["id"]), datetime.now(UTC)
    ann, bob = shop.member("13900000051"), shop.member("13900000052")
    flash = api.runtime.flash
    # ann's attempt: the script took the unit, then Redis lost the session before ann's row was written
    rid = ghost_claim(api, w, ann.person_id, now)
    lose_redis(api, fs["id"])
    assert attempt(bob, fs["id"])["status"] == "reserved"  # loaded from the record, where the unit is free
    with pytest.raises(FlashBusy):  # ann's row would be a second unit of a quota of one
        flash._record(store(api), w, rid, ann.person_id, "app", 1, now, None)
    assert stats(shop, fs["id"]) | {"session_id": ""} == {"session_id": "", "quota": 1, "remaining": 0,
                                                          "reserved": 1, "ordered": 0, "sold": 0, "returned": 0,
                                                          "balanced": True}
    converged(api, fs["id"], 1)
    assert attempt(ann, fs["id"], status=409)["error"]["code"] == "flash_sold_out"  # ann's retry: honest answer


def test_a_reload_waits_for_a_row_being_written_and_counts_it(api: Api, shop: Shop) -> None:
    """The forced interleaving: a winner's transaction is between its check and its commit when Redis loses
    the session; the reload waits for that commit and counts the row (else it would free the unit twice)."""
    fs = flash_sale(shop, quota=2)
    w, now = window(api, fs["id"]), datetime.now(UTC)
    ann = shop.member("13900000061")
    rid = ghost_claim(api, w, ann.person_id, now)
    session = api.runtime.db.sessions()
    session.begin()
    store(api).take(session, w, rid, ann.person_id, 1, now)
    flash_service.record(session, w, rid, ann.person_id, "app", 1, now)
    session.flush()
    lose_redis(api, fs["id"])
    loader = threading.Thread(target=store(api).load, args=(fs["id"],))
    loader.start()
    loader.join(1.0)
    assert loader.is_alive()  # the reload waits for the row's transaction
    session.commit()
    session.close()
    loader.join(30)
    assert not loader.is_alive()
    seen = redis_units(api, fs["id"])
    assert seen is not None and seen[0] == 1 and rid in seen[1]
    converged(api, fs["id"], 2)


@pytest.mark.parametrize("seed", range(4))
def test_the_reconciler_never_creates_or_destroys_units(api: Api, shop: Shop, monkeypatch: pytest.MonkeyPatch,
                                                        seed: int) -> None:
    """Random attempts, orders, payments, cancellations, hand-backs and expiries, with crashes after commits,
    requests dying between the script and the row, and Redis losing the session (also with a claim in
    flight). At every step Redis conserves the quota and holds every unit the record counts; a reconciler
    pass changes neither the total nor the record; at the end nothing is stranded."""
    rnd = random.Random(seed)
    quota = 6
    fs = flash_sale(shop, quota=quota, per_member_limit=2, reservation_ttl_s=60)
    sid, w = fs["id"], window(api, fs["id"])
    quotas = api.runtime.domain.flash_quotas
    people = [shop.member(f"13910{seed}0000{i}") for i in range(6)]
    held: list[tuple[Member, dict[str, Any]]] = []
    unpaid: list[tuple[Member, dict[str, Any]]] = []
    paid: list[tuple[Member, dict[str, Any]]] = []
    clock = datetime.now(UTC)
    ops = ["attempt", "attempt", "attempt", "ghost", "order", "order", "pay", "cancel", "give_up", "expire",
           "reconcile", "reconcile", "lose", "in_flight"]
    seen_ops: Counter[str] = Counter()
    for _ in range(70):
        op = rnd.choice(ops)
        with monkeypatch.context() as m:
            if rnd.random() < 0.3:  # this step's process dies after its commit, before Redis hears
                m.setattr(RedisQuotaStore, "_apply_pending", crash_after_commit())
                seen_ops["crash"] += 1
            before = check(api, sid, quota)
            if op == "attempt":
                who = rnd.choice(people)
                r = who.call("POST", f"{F}/{sid}/attempts", {"channel": "app", "quantity": rnd.choice([1, 1, 2])})
                assert r.status_code in (201, 409), r.text
                if r.status_code == 201:
                    held.append((who, r.json()))
            elif op in ("ghost", "in_flight"):
                try:
                    rid = ghost_claim(api, w, rnd.choice(people).person_id, datetime.now(UTC))
                except (FlashSoldOut, FlashLimitReached):
                    continue
                if op == "in_flight":
                    lose_redis(api, sid)
                    with pytest.raises(FlashBusy):
                        api.runtime.flash._record(store(api), w, rid, people[0].person_id, "app", 1,
                                                  datetime.now(UTC), None)
            elif op == "order" and held:
                who, res = held.pop(rnd.randrange(len(held)))
                r = who.call("POST", "/api/v1/orders", {
                    "channel": "app", "address": ADDRESS, "promotion": res["promotion"],
                    "lines": [{"sku_id": res["sku_id"], "quantity": res["quantity"]}]})
                assert r.status_code in (201, 409), r.text  # 409: expired or handed back meanwhile
                if r.status_code == 201:
                    unpaid.append((who, r.json()))
            elif op == "pay" and unpaid:
                who, o = unpaid.pop(rnd.randrange(len(unpaid)))
                who.pay_online(o)
                settle(api)
                paid.append((who, o))
            elif op == "cancel" and (unpaid or paid):
                pool = rnd.choice([x for x in (unpaid, paid) if x])
                who, o = pool.pop(rnd.randrange(len(pool)))
                assert shop.admin("POST", f"/api/v1/orders/{o['id']}/cancel", {"reason": "x"})["status"] \
                    == "cancelled"
                settle(api)
            elif op == "give_up" and held:
                who, res = held.pop(rnd.randrange(len(held)))
                r = who.call("POST", f"/api/v1/promotions/flash-reservations/{res['id']}/release")
                assert r.status_code in (200, 409), r.text
            elif op == "expire":
                clock += timedelta(seconds=rnd.choice([10, 70, 100]))
                with api.runtime.db.session() as s:
                    flash_service.expire_due(s, quotas, clock)
            elif op == "reconcile":
                quotas.reconcile(clock)
                assert check(api, sid, quota) == before  # nothing created, nothing destroyed
            elif op == "lose":
                lose_redis(api, sid)
            else:
                continue
            seen_ops[op] += 1
        check(api, sid, quota)
    # the end: every deadline passes, the sweeper and the reconciler run; nothing is left stranded
    for _ in range(2):
        clock += timedelta(days=1)
        assert sweep(api, clock) is not None
        check(api, sid, quota)
    store(api).load(sid)
    converged(api, sid, quota)
    assert stats(shop, sid)["balanced"] is True
    assert seen_ops["reconcile"] and seen_ops["crash"] and seen_ops["lose"], seen_ops


def test_the_migration_matches_the_models() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with postgres_database() as url:
        upgrade(url)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        finally:
            engine.dispose()
    assert [d for d in diff if "flash_" in repr(d)] == []
