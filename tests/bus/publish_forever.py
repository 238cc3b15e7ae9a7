"""Publishes messages until killed, printing each message id once ``publish`` has returned for it.

Run by test_durability.py, which kills this process with SIGKILL in the middle:
``python publish_forever.py sqlite PATH`` or ``python publish_forever.py rabbitmq URL NAMESPACE``.
Several tasks publish at once, so the SQLite bus's group commit is in play.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from siyu.bus.base import Bus, Message
from siyu.bus.rabbitmq import RabbitBus
from siyu.bus.sqlite import SqliteBus

TASKS = 8


async def main(argv: list[str]) -> None:
    bus: Bus = SqliteBus(Path(argv[1])) if argv[0] == "sqlite" else RabbitBus(argv[1], namespace=argv[2])
    await bus.start()
    print("ready", flush=True)

    async def publisher(task: int) -> None:
        for n in range(1_000_000):
            msg_id = f"t{task}-{n}"
            await bus.publish([Message(id=msg_id, topic="events.track", body=msg_id.encode())])
            sys.stdout.write(msg_id + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(publisher(t) for t in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
