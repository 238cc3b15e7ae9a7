"""The Redis store and the database disagree after a crash; the reconciler brings them back together and
nothing is stranded or sold twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from siyu.db import Base
from siyu.kit.ids import new_id
from siyu.migrate import upgrade
from siyu.promotions.flash import rows
from siyu.promotions.flash import service as flash_service
from siyu.promotions.flash.errors import FlashBusy
from siyu.promotions.flash.redis_store import GRACE, RedisQuotaStore, keys
from siyu.promotions.flash.store import Window
from tests.conftest import Api, make_settings, open_api
from tests.orders.shop import WEBHOOK_SECRET, Shop
from tests.promotions.test_flash_flow import attempt, flash_sale, order_with, settle, stats, sweep
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


def test_a_crash_between_the_script_and_the_row_strands_nothing(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    w, ghost, now = window(api, fs["id"]), new_id(), datetime.now(UTC)
    ann, bob = shop.member("13900000001"), shop.member("13900000002")
    # the script ran for ann; the process died before the reservation row was written
    api.client.portal.call(store(api).claim, w, ghost, ann.person_id, 1, now)
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
