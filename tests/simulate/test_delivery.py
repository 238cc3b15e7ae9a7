"""Delivering the simulation: the bulk path runs the tracking API's validation; the truth matches the store."""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import date, datetime
from pathlib import Path

import pytest

from siyu.config import Settings
from siyu.runtime import Runtime
from siyu.simulate import CHANNELS, SimConfig, Simulator
from siyu.simulate.run import simulate_bulk
from siyu.simulate.send import Delivery, send_bulk
from siyu.simulate.sources import keys_path
from siyu.simulate.truth import TruthWriter, load_truth, normalize_phone
from siyu.sources.service import SourceAuth
from tests.conftest import Api

CONFIG = SimConfig(people=200, days=14, seed=11, end_date=date(2026, 3, 1))


def test_bulk_path_accepts_every_message_and_keeps_history(api: Api, tmp_path: Path) -> None:
    sources: dict[str, SourceAuth] = {
        ch: SourceAuth(source_id=api.source_ids[ch], channel=ch, rate_limit=None) for ch in CHANNELS}
    sim = Simulator(CONFIG)
    writer = TruthWriter(tmp_path / "truth")
    send = functools.partial(send_bulk, api.runtime, sources, sim.events(), on_event=writer.add, chunk=300)
    assert api.client.portal is not None
    delivery: Delivery = api.client.portal.call(send)
    summary = sim.summary()
    writer.finish(sim.identifiers(), summary)
    assert delivery.rejected == 0, delivery.rejections
    assert delivery.accepted == delivery.sent == summary["events"] > 3000
    assert delivery.max_message_bytes < 32 * 1024
    api.drain()

    rows = api.sql("SELECT channel, count(*), count(utm_source), count(scene), epoch_ms(min(timestamp)), "
                   "epoch_ms(max(timestamp)) FROM events GROUP BY channel ORDER BY channel")
    by_channel = {str(r[0]): [int(str(v)) for v in r[1:]] for r in rows}
    assert {ch: by_channel[ch][0] for ch in CHANNELS} == summary["events_by_channel"]
    assert by_channel["miniprogram"][2] == summary["events_by_channel"]["miniprogram"]  # every one has a scene
    assert by_channel["web"][1] > 0  # UTM from context.campaign / the landing URL
    assert by_channel["app"][1] == by_channel["app"][2] == 0
    # the historical timestamps were kept (no sentAt, so no clock-skew correction)
    assert min(v[3] for v in by_channel.values()) == epoch_ms(summary["first_timestamp"])
    assert max(v[4] for v in by_channel.values()) == epoch_ms(summary["last_timestamp"])

    truth = load_truth(tmp_path / "truth")
    stored = api.sql("SELECT message_id, channel, user_id FROM events")
    assert len(truth.messages) == len(stored) == summary["events"]
    for message_id, channel, _ in stored:
        assert truth.messages[str(message_id)][0] == channel
    # one user id is one person
    owners: dict[str, set[str]] = {}
    for message_id, _, user_id in stored:
        if user_id is not None:
            owners.setdefault(str(user_id), set()).add(truth.person(str(message_id)))
    assert owners and all(len(p) == 1 for p in owners.values())
    assert truth.summary["events"] == summary["events"]


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_phone_normalisation_of_the_truth() -> None:
    assert {normalize_phone(p) for p in ("+8613800138000", "13800138000", "138 0013 8000",
                                         "+86 138-0013-8000", "0086 13800138000")} == {"+8613800138000"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedded_worker=False)


def test_a_second_run_reuses_the_sources_and_stores_nothing_twice(settings: Settings, tmp_path: Path) -> None:
    config = SimConfig(people=120, days=10, seed=5, end_date=date(2026, 3, 1))
    first = asyncio.run(simulate_bulk(settings, config, tmp_path / "t1"))
    second = asyncio.run(simulate_bulk(settings, config, tmp_path / "t2"))
    assert first["sources"] == second["sources"] and set(first["sources"]) == set(CHANNELS)
    assert json.loads(keys_path(settings.data_dir).read_text()).keys() == set(CHANNELS)
    assert first["delivery"]["accepted"] == second["delivery"]["accepted"] == first["events"]
    assert (tmp_path / "t1" / "messages.csv.gz").read_bytes() != b""
    assert load_truth(tmp_path / "t1").messages == load_truth(tmp_path / "t2").messages

    async def drain() -> int:
        runtime = Runtime(settings)
        await runtime.start(run_worker=False)
        try:
            assert runtime.worker is not None and runtime.warehouse is not None
            await runtime.worker.drain()
            return int(runtime.warehouse.query("SELECT count(*) FROM events", 1, 30).rows[0][0])
        finally:
            await runtime.stop()

    assert asyncio.run(drain()) == first["events"]
