"""The embedded bus: a durable queue in a local SQLite file.

Durability: SQLite in WAL mode. A publish returns after its transaction has committed, so the messages
survive ``kill -9`` of any process (they are in the WAL file); with ``SIYU_BUS_FSYNC=true`` every commit
is also fsynced, which survives power loss. Publishes from many concurrent requests are *group
committed*: one writer thread gathers whatever is waiting and commits it in one transaction, so the
cost of a commit (and of an fsync) is shared.

Delivery: each declared group has its own copy of a message (fan-out at publish, like RabbitMQ
queues bound to an exchange). A consumer leases messages (``visible_at`` moves into the future); an ack
deletes them; a lease that runs out (the consumer died) makes them deliverable again. A message
delivered ``max_attempts`` times and still not acknowledged moves to ``bus_dead``. A consumer that is
closed gives back what it leased and did not acknowledge (like a RabbitMQ channel closing). Several
processes may publish and consume the same file.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from siyu.bus.base import Bus, BusUnavailable, Consumer, Delivery, Message, topic_matches

SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_groups (grp TEXT PRIMARY KEY, patterns TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bus_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    published_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS bus_queue_grp ON bus_queue (grp, visible_at);
CREATE TABLE IF NOT EXISTS bus_dead (
    seq INTEGER PRIMARY KEY,
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    published_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    dead_at REAL NOT NULL
);
"""


def _connect(path: Path, fsync: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


class _GroupCommitWriter(threading.Thread):
    """Commits queued publishes in shared transactions; resolves each publish's future after commit."""

    def __init__(self, bus: SqliteBus) -> None:
        super().__init__(name="siyu-bus-writer", daemon=True)
        self.bus = bus
        self.inbox: queue.Queue[tuple[Sequence[Message], Future[None]] | None] = queue.Queue()

    def run(self) -> None:
        conn = _connect(self.bus.path, self.bus.fsync)
        while True:
            item = self.inbox.get()
            if item is None:
                break
            pending = [item]
            stop = False
            while len(pending) < 512:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                pending.append(nxt)
            try:
                self.bus.write_messages(conn, [m for msgs, _ in pending for m in msgs])
            except Exception as exc:  # the whole group failed: every publisher is told
                for _, fut in pending:
                    fut.set_exception(BusUnavailable(details={"reason": str(exc)}))
            else:
                for _, fut in pending:
                    fut.set_result(None)
            if stop:
                break
        conn.close()


class SqliteBus(Bus):
    name = "sqlite"

    def __init__(self, path: Path, *, fsync: bool = False, lease_s: float = 60.0, max_attempts: int = 20):
        self.path = path
        self.fsync = fsync
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._writer: _GroupCommitWriter | None = None
        self._groups: dict[str, list[str]] = {}
        self._groups_loaded_at = 0.0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path, fsync)
        conn.executescript(SCHEMA)
        conn.close()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._ensure_writer()

    def _ensure_writer(self) -> _GroupCommitWriter:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = _GroupCommitWriter(self)
                self._writer.start()
            return self._writer

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.inbox.put(None)
            writer.join(timeout=30)

    # -- groups ------------------------------------------------------------------------------------
    async def declare_group(self, group: str, patterns: Sequence[str]) -> None:
        self.declare_group_sync(group, patterns)

    def declare_group_sync(self, group: str, patterns: Sequence[str]) -> None:
        conn = _connect(self.path, self.fsync)
        try:
            conn.execute(
                "INSERT INTO bus_groups (grp, patterns) VALUES (?, ?) "
                "ON CONFLICT (grp) DO UPDATE SET patterns = excluded.patterns",
                (group, json.dumps(sorted(set(patterns)))),
            )
        finally:
            conn.close()
        self._groups_loaded_at = 0.0

    def _load_groups(self, conn: sqlite3.Connection) -> dict[str, list[str]]:
        # Groups may be declared by another process; re-read them every few seconds.
        now = time.monotonic()
        if now - self._groups_loaded_at > 2.0:
            rows = conn.execute("SELECT grp, patterns FROM bus_groups").fetchall()
            self._groups = {g: json.loads(p) for g, p in rows}
            self._groups_loaded_at = now
        return self._groups

    # -- publishing --------------------------------------------------------------------------------
    def write_messages(self, conn: sqlite3.Connection, messages: Sequence[Message]) -> None:
        groups = self._load_groups(conn)
        now = time.time()
        rows = []
        for m in messages:
            headers = json.dumps(m.headers)
            for grp, patterns in groups.items():
                if any(topic_matches(p, m.topic) for p in patterns):
                    rows.append((grp, m.id, m.topic, headers, m.body, now, now))
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO bus_queue (grp, msg_id, topic, headers, body, published_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        fut: Future[None] = Future()
        self._ensure_writer().inbox.put((messages, fut))
        await asyncio.wrap_future(fut)

    def publish_sync(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        fut: Future[None] = Future()
        self._ensure_writer().inbox.put((messages, fut))
        fut.result()

    def consumer(self, group: str, prefetch: int = 256) -> SqliteConsumer:
        return SqliteConsumer(self, group)

    async def depth(self) -> dict[str, int]:
        return await asyncio.to_thread(self.depth_sync)

    def depth_sync(self) -> dict[str, int]:
        conn = _connect(self.path, self.fsync)
        try:
            counts = dict(conn.execute("SELECT grp, count(*) FROM bus_queue GROUP BY grp").fetchall())
            for (grp,) in conn.execute("SELECT grp FROM bus_groups").fetchall():
                counts.setdefault(grp, 0)
            return counts
        finally:
            conn.close()

    def dead_count(self) -> int:
        conn = _connect(self.path, self.fsync)
        try:
            return int(conn.execute("SELECT count(*) FROM bus_dead").fetchone()[0])
        finally:
            conn.close()

    async def ping(self) -> None:
        def _ping() -> None:
            conn = _connect(self.path, self.fsync)
            try:
                conn.execute("SELECT 1 FROM bus_groups LIMIT 1").fetchall()
            finally:
                conn.close()

        try:
            await asyncio.to_thread(_ping)
        except sqlite3.Error as exc:
            raise BusUnavailable(details={"reason": str(exc)}) from exc


class SqliteConsumer(Consumer):
    def __init__(self, bus: SqliteBus, group: str) -> None:
        self.bus = bus
        self.group = group
        self._conn = _connect(bus.path, bus.fsync)
        self._lock = threading.Lock()
        self._leased: dict[int, float] = {}  # seq -> lease end, of what was neither acknowledged nor retried

    def fetch_sync(self, max_messages: int) -> list[Delivery]:
        now = time.time()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO bus_dead (seq, grp, msg_id, topic, headers, body, published_at, attempts, "
                    "dead_at) SELECT seq, grp, msg_id, topic, headers, body, published_at, attempts, ? "
                    "FROM bus_queue WHERE grp = ? AND visible_at <= ? AND attempts >= ?",
                    (now, self.group, now, self.bus.max_attempts),
                )
                conn.execute(
                    "DELETE FROM bus_queue WHERE grp = ? AND visible_at <= ? AND attempts >= ?",
                    (self.group, now, self.bus.max_attempts),
                )
                rows = conn.execute(
                    "UPDATE bus_queue SET visible_at = ?, attempts = attempts + 1 WHERE seq IN ("
                    "SELECT seq FROM bus_queue WHERE grp = ? AND visible_at <= ? ORDER BY seq LIMIT ?) "
                    "RETURNING seq, msg_id, topic, headers, body, attempts",
                    (now + self.bus.lease_s, self.group, now, max_messages),
                ).fetchall()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._leased.update((r[0], now + self.bus.lease_s) for r in rows)
        rows.sort(key=lambda r: r[0])
        return [
            Delivery(Message(id=r[1], topic=r[2], body=r[4], headers=json.loads(r[3])), attempts=r[5],
                     handle=r[0])
            for r in rows
        ]

    async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
        deadline = time.monotonic() + wait_s
        delay = 0.005
        while True:
            got = await asyncio.to_thread(self.fetch_sync, max_messages)
            if got or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.1)

    def ack_sync(self, deliveries: Sequence[Delivery]) -> None:
        seqs = [(d.handle,) for d in deliveries]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("DELETE FROM bus_queue WHERE seq = ?", seqs)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            for (seq,) in seqs:
                self._leased.pop(seq, None)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await asyncio.to_thread(self.ack_sync, deliveries)

    async def retry(self, deliveries: Sequence[Delivery]) -> None:
        def _retry() -> None:
            with self._lock:
                self._conn.executemany(
                    "UPDATE bus_queue SET visible_at = ? WHERE seq = ?",
                    [(time.time() + min(60.0, 0.5 * 2 ** d.attempts), d.handle) for d in deliveries],
                )
                for d in deliveries:
                    self._leased.pop(d.handle, None)

        if deliveries:
            await asyncio.to_thread(_retry)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        """Give back what this consumer leased and did not acknowledge, so another consumer gets it now
        rather than when the lease runs out; the delivery still counts as an attempt."""
        with self._lock:
            try:
                if self._leased:  # only leases still ours (not run out and taken by another consumer)
                    now = time.time()
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany(
                        "UPDATE bus_queue SET visible_at = ? WHERE seq = ? AND visible_at = ?",
                        [(now, seq, until) for seq, until in self._leased.items()],
                    )
                    self._conn.execute("COMMIT")
                    self._leased.clear()
            finally:
                self._conn.close()


def release_leases(bus: SqliteBus, group: str) -> int:
    """Make every leased message of ``group`` deliverable now. For the embedded runtime at start-up,
    where this process is the group's only consumer: what a killed predecessor held comes back at once
    instead of after its lease (consumers are idempotent, so an early redelivery is harmless)."""
    conn = _connect(bus.path, bus.fsync)
    try:
        now = time.time()
        cur = conn.execute(
            "UPDATE bus_queue SET visible_at = ? WHERE grp = ? AND visible_at > ?", (now, group, now)
        )
        return cur.rowcount
    finally:
        conn.close()
