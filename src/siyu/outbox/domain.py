"""The domain side of a worker process: the outbox relay, the bus consumers that change the operational
database (profile counters; later loyalty and promotions), and periodic sweeps."""

from __future__ import annotations

import asyncio

from siyu.bus.base import Bus
from siyu.config import Settings
from siyu.db import Database
from siyu.loyalty.consumer import LoyaltyActions, LoyaltyOrders
from siyu.loyalty.tasks import LoyaltySweeper
from siyu.orders.tasks import OrderSweeper
from siyu.outbox.consumer import ConsumerRunner, Handler
from siyu.outbox.relay import OutboxRelay
from siyu.profiles.counters import ProfileCounters
from siyu.promotions.bargain.tasks import BargainSweeper
from siyu.promotions.flash.consumer import FlashOrders
from siyu.promotions.flash.store import make_quotas
from siyu.promotions.flash.tasks import FlashSweeper
from siyu.promotions.groupbuy.consumer import PromotionOrders
from siyu.promotions.groupbuy.tasks import GroupBuySweeper
from siyu.promotions.referral.consumer import ReferralRewards


def handlers() -> list[Handler]:
    return [ProfileCounters(), LoyaltyOrders(), LoyaltyActions(), ReferralRewards(), PromotionOrders()]


class DomainWorkers:
    def __init__(self, settings: Settings, db: Database, bus: Bus) -> None:
        self.relay = OutboxRelay(db, bus)
        self.flash_quotas = make_quotas(settings, db)  # flash sales: counters in the database or Redis
        self.consumers = [ConsumerRunner(db, bus, h) for h in [*handlers(), FlashOrders(self.flash_quotas)]]
        self.flash = FlashSweeper(db, self.flash_quotas, settings.flash_sweep_interval_s)
        self.sweeper = OrderSweeper(db, settings.order_sweep_interval_s)
        self.loyalty = LoyaltySweeper(db, settings.loyalty_sweep_interval_s)
        # group-buy expiry (refunds) and bargain expiry run as often as the order sweeper
        self.group_buys = GroupBuySweeper(db, settings.order_sweep_interval_s)
        self.bargains = BargainSweeper(db, settings.order_sweep_interval_s)

    async def declare(self) -> None:
        for c in self.consumers:
            await c.declare()

    async def run(self, stop: asyncio.Event) -> None:
        await self.declare()  # before anything is published: a group only receives what follows its declaration
        await asyncio.gather(self.relay.run(stop), self.sweeper.run(stop), self.loyalty.run(stop), self.flash.run(stop),
                             self.group_buys.run(stop), self.bargains.run(stop),
                             *(c.run(stop) for c in self.consumers))

    async def drain(self) -> int:
        """Publish the outbox and run the consumers until a pass finds nothing (tests, the demo): consumers
        write new domain events (a paid order's points emit their own). Returns messages handled."""
        await asyncio.to_thread(self.group_buys.sweep)
        await asyncio.to_thread(self.bargains.sweep)
        total = 0
        for _ in range(10):
            n = await self.relay.drain()
            n += sum(await asyncio.gather(*(c.drain() for c in self.consumers)))
            total += n
            if n == 0:
                break
        return total
