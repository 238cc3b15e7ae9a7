"""The bus interface.

A message is published to a *topic* (``events.track``, ``orders.paid``, ...). A *consumer group*
(``warehouse``, ``identity``, ...) is declared with topic patterns in RabbitMQ's syntax (``*`` one word,
``#`` any words) and receives every message published after its declaration that matches one of them,
whatever other groups receive. Within a group each message goes to one consumer; a message that is not
acknowledged (the consumer died, its lease ran out, it asked for a retry) is delivered again. Consumers
must therefore be idempotent, keyed on the message id.

``publish`` returns only once the messages are durable: after that, a crash of any process loses none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from siyu.errors import Unavailable


class BusUnavailable(Unavailable):
    code = "bus_unavailable"
    message = "The event bus is unavailable; nothing was accepted. Retry later."


@dataclass(frozen=True)
class Message:
    id: str
    topic: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Delivery:
    message: Message
    attempts: int
    handle: Any = None


class Consumer(ABC):
    @abstractmethod
    async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``wait_s`` for the first one."""

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these: they are not delivered again."""

    @abstractmethod
    async def retry(self, deliveries: Sequence[Delivery]) -> None:
        """Deliver these again later (after too many attempts they go to the dead-letter store)."""

    @abstractmethod
    async def close(self) -> None: ...


class Bus(ABC):
    name: str

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def declare_group(self, group: str, patterns: Sequence[str]) -> None: ...

    @abstractmethod
    async def publish(self, messages: Sequence[Message]) -> None:
        """Durable on return; raises :class:`BusUnavailable` when it cannot be made so."""

    @abstractmethod
    def consumer(self, group: str, prefetch: int = 256) -> Consumer: ...

    @abstractmethod
    async def depth(self) -> dict[str, int]:
        """Messages waiting per consumer group (the embedded bus also counts those leased to a consumer;
        RabbitMQ's count leaves out those delivered and not acknowledged yet)."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the bus cannot be used."""


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


@lru_cache(maxsize=1024)
def topic_matches(pattern: str, topic: str) -> bool:
    """RabbitMQ topic matching: ``*`` is exactly one word, ``#`` is zero or more words."""
    return _match(tuple(pattern.split(".")), tuple(topic.split(".")))
