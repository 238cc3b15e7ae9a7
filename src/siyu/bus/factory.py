from __future__ import annotations

from pathlib import Path

from siyu.bus.base import Bus
from siyu.config import Settings


def make_bus(settings: Settings) -> Bus:
    url = settings.resolved_bus_url()
    if url.startswith(("amqp://", "amqps://")):
        from siyu.bus.rabbitmq import RabbitBus

        return RabbitBus(url, namespace=settings.bus_namespace, max_attempts=settings.bus_max_attempts)
    if url.startswith("sqlite:///"):
        from siyu.bus.sqlite import SqliteBus

        return SqliteBus(
            Path(url.removeprefix("sqlite:///")),
            fsync=settings.bus_fsync,
            lease_s=settings.bus_lease_s,
            max_attempts=settings.bus_max_attempts,
        )
    raise ValueError(f"unsupported SIYU_BUS_URL: {url!r} (use sqlite:///PATH or amqp://...)")
